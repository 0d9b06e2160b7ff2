#!/usr/bin/python3
"""Prints the top-level scalar values of a JSON file, one "key<TAB>value" line
each, as Python's json module reads them. The C tests compare their own
parse of the same file against this output, so no expected value is typed
by hand. Booleans print as true/false, null as null, floats with repr()."""
import json
import sys

with open(sys.argv[1], encoding="utf-8") as f:
    obj = json.load(f)
for key, value in obj.items():
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, str):
        text = value
    elif isinstance(value, dict):
        text = "<mapping>"
    else:
        text = "<list>"
    print(f"{key}\t{text}")
