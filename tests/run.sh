#!/bin/sh
# Runs the whole test suite: installs what the tests need, builds, runs every
# meson suite and ends with one line "N passed, N failed, N skipped".
#   tests/run.sh [meson test options, e.g. --suite tokenizer]
set -u
cd "$(dirname "$0")/.."
BC_SETUP_TEST=1 app/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
meson test -C build --print-errorlogs "$@"
rc=$?
/usr/bin/python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1], encoding="utf-8"):
    t = json.loads(line)
    r = t["result"]
    # meson reports a TAP "1..0 # SKIP" plan as OK; count it as skipped.
    if r == "OK" and "1..0 # SKIP" in (t.get("stdout") or ""): r = "SKIP"
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(f"{p} passed, {f} failed, {s} skipped")
PY
exit $rc
