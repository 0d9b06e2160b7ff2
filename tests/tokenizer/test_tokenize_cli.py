#!/usr/bin/python3
"""`baichuan-chat tokenize` against the SentencePiece ids recorded in
tests/data/tokenizer/demo.cases (TAP).  test_tokenize_cli.py BIN"""
import os
import subprocess
import sys
import tempfile

bin_ = sys.argv[1]
data = os.path.join(os.environ["BC_SOURCE_DIR"], "tests", "data", "tokenizer")
model = os.path.join(data, "demo.model")
n = 0
failed = 0


def check(ok, what):
    global n, failed
    n += 1
    failed += 0 if ok else 1
    print(f"{'ok' if ok else 'not ok'} {n} - {what}")


cases = []
for line in open(os.path.join(data, "demo.cases"), encoding="ascii"):
    f = line.rstrip("\n").split("\t")
    if f[0] == "E" and f[1] != "-":
        cases.append((bytes.fromhex(f[1]), "" if f[2] == "-" else f[2]))
cases = cases[:60] + cases[-60:]

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "in.txt")
    bad = []
    for text, ids in cases:
        open(path, "wb").write(text)
        r = subprocess.run([bin_, "tokenize", "-m", model, "-f", path], capture_output=True)
        if r.returncode != 0 or r.stdout.decode() != ids + "\n":
            bad.append((text, ids, r.stdout, r.stderr))
    for b in bad[:3]:
        print(f"# text {b[0]!r}: want {b[1]!r}, got {b[2]!r} {b[3]!r}")
    check(not bad, f"tokenize -f FILE gives SentencePiece's ids for {len(cases)} texts ({len(bad)} differ)")

    os.symlink(model, os.path.join(tmp, "tokenizer.model"))
    r = subprocess.run([bin_, "tokenize", "-m", tmp, "Hello", "world"], capture_output=True)
    want = [ids for text, ids in cases if text == b"Hello world"]
    check(r.returncode == 0 and want and r.stdout.decode() == want[0] + "\n",
          f"tokenize -m DIR TEXT... joins words: {r.stdout!r}")
    r = subprocess.run([bin_, "tokenize", "-m", model, "--pieces", "a\nb"], capture_output=True)
    check(r.returncode == 0 and r.stdout.decode() == "a \\n b\n", f"--pieces escapes the newline piece: {r.stdout!r}")
    r = subprocess.run([bin_, "tokenize", "-m", os.path.join(tmp, "missing"), "x"], capture_output=True)
    check(r.returncode == 1 and r.stdout == b"" and r.stderr.decode().count("\n") == 1,
          f"missing model: exit 1, one line on stderr: {r.stderr!r}")
    open(path, "wb").write(b"not a model")
    r = subprocess.run([bin_, "tokenize", "-m", path, "x"], capture_output=True)
    check(r.returncode == 1 and r.stderr.decode().count("\n") == 1 and "in.txt" in r.stderr.decode(),
          f"malformed model: exit 1, one line naming the file: {r.stderr!r}")

print(f"1..{n}")
sys.exit(1 if failed else 0)
