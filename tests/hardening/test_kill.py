#!/usr/bin/python3
"""Crash durability (issue "Hardening", item 5): the real binary replays a
script of several user turns on the built-in demo model, saving the session
after every message (app/replay.c: the user turn, then the reply, then the
step's summary line on stderr). It is killed with SIGKILL at a random moment,
KILLS times. After each kill:
  - every *.yaml in the sessions directory loads with the application's own
    reader (session_dump), and there is at most one;
  - its messages are a prefix of those of an uninterrupted run (same seed);
  - it holds every message that was complete before the kill: for each
    "step K (line L): ... tokens" line already on stderr, the system prompt
    plus K user turns and K replies.
Then a disk-full case when tmpfs can be mounted (unshare -m, as root): saves
fail with a warning on stderr while the run goes on, and the file already on
disk stays the last complete version.
  test_kill.py BINARY SESSION_DUMP   (TAP; BC_KILLS overrides the 200 kills)"""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BIN, DUMP = sys.argv[1], sys.argv[2]
KILLS = int(os.environ.get("BC_KILLS", "200"))
TURNS = 8
SCRIPT = """model: demo
backend: cpu
quant: f32
threads: 1
seed: 7
generation: {temperature: 0.7, top_k: 5, max_new_tokens: 16}
system: "Be brief."
steps:
""" + "".join('  - user: "question %d: 你好, how are you?"\n' % i for i in range(1, TURNS + 1))
STEP_DONE = re.compile(r"^step (\d+) \(line \d+\): \d+ tokens", re.M)

n_checks = 0
n_failed = 0


def check(ok, what):
    global n_checks, n_failed
    n_checks += 1
    if not ok:
        n_failed += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n_checks, what), flush=True)


def dump(path):
    """[(role, content)] from session_dump, or None with the error."""
    p = subprocess.run([DUMP, path], capture_output=True)
    if p.returncode != 0:
        return None, p.stderr.decode(errors="replace").strip()
    out, msgs = p.stdout, []
    nl = out.index(b"\n")
    n = int(out[:nl])
    pos = nl + 1
    for _ in range(n):
        nl = out.index(b"\n", pos)
        role, size = out[pos:nl].decode().split()
        pos = nl + 1
        msgs.append((role, out[pos:pos + int(size)]))
        pos += int(size) + 1
    return msgs, ""


def sessions(data_dir):
    d = os.path.join(data_dir, "baichuan-chat", "sessions")
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".yaml"))


def env_for(data_dir):
    e = dict(os.environ)
    e.update(XDG_DATA_HOME=data_dir, XDG_CONFIG_HOME=os.path.join(data_dir, "config"),
             HOME=data_dir, BC_CUDA_MODULE="off")
    return e


def main():
    work = tempfile.mkdtemp(prefix="bc-kill-")
    script = os.path.join(work, "turns.yaml")
    with open(script, "w", encoding="utf-8") as f:
        f.write(SCRIPT)

    # The uninterrupted run: the messages every killed run must be a prefix of.
    ref_dir = os.path.join(work, "ref")
    t0 = time.monotonic()
    p = subprocess.run([BIN, "replay", script], env=env_for(ref_dir), capture_output=True)
    duration = time.monotonic() - t0
    files = sessions(ref_dir)
    ref, why = dump(files[0]) if len(files) == 1 else (None, "%d session files" % len(files))
    ok = p.returncode == 0 and ref is not None and len(ref) == 1 + 2 * TURNS
    check(ok, "uninterrupted run: %d messages saved in %.2f s%s"
          % (len(ref or []), duration, "" if ok else " (%s)" % (
              why or p.stderr.decode(errors="replace")[-200:].replace("\n", " | "))))
    if ref is None:
        return

    rng = random.Random(int(os.environ.get("BC_KILL_SEED", "12345")))
    bad, kills_mid, steps_seen = [], 0, 0
    start = time.monotonic()
    for i in range(KILLS):
        d = os.path.join(work, "run%d" % i)
        proc = subprocess.Popen([BIN, "replay", script], env=env_for(d),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0, duration * 1.1))
        proc.send_signal(signal.SIGKILL)
        err = proc.stderr.read().decode(errors="replace")
        proc.wait()
        done = len(STEP_DONE.findall(err))
        steps_seen += done
        if 0 < done < TURNS:
            kills_mid += 1
        files = sessions(d)
        if len(files) > 1:
            bad.append("run %d: %d session files" % (i, len(files)))
            continue
        if not files:
            if done:
                bad.append("run %d: %d steps reported, no session file" % (i, done))
            continue
        msgs, why = dump(files[0])
        if msgs is None:
            bad.append("run %d: the session does not load: %s" % (i, why))
        elif msgs != ref[:len(msgs)]:
            bad.append("run %d: the saved messages are not a prefix of the full run's" % i)
        elif len(msgs) < 1 + 2 * done:
            bad.append("run %d: %d steps reported complete, only %d messages saved"
                       % (i, done, len(msgs)))
        shutil.rmtree(d, ignore_errors=True)
    took = time.monotonic() - start
    check(not bad, "%d kills in %.1f s (%d mid-conversation, %d completed steps reported): "
          "every session loads and holds every completed message%s"
          % (KILLS, took, kills_mid, steps_seen, "; " + "; ".join(bad[:3]) if bad else ""))
    check(kills_mid >= KILLS // 10, "the kills landed mid-conversation often enough (%d)" % kills_mid)
    # Longer replies for the disk-full case: the file outgrows one page halfway.
    long_script = os.path.join(work, "long.yaml")
    with open(long_script, "w", encoding="utf-8") as f:
        f.write(SCRIPT.replace("max_new_tokens: 16", "max_new_tokens: 120"))
    long_dir = os.path.join(work, "long")
    subprocess.run([BIN, "replay", long_script], env=env_for(long_dir), capture_output=True)
    files = sessions(long_dir)
    long_ref, _ = dump(files[0]) if len(files) == 1 else (None, "")
    if long_ref is None:
        check(False, "disk full: the reference run of the long script saved its session")
    else:
        disk_full(work, long_script, long_ref, os.path.getsize(files[0]))
    shutil.rmtree(work, ignore_errors=True)


PAGE = 4096


def disk_full_inside(work, script):
    """Runs in a private mount namespace (unshare -m): a tmpfs with two free
    pages, so saves work until the session file outgrows one page (the old
    file and the temp file must both fit). The first failed save prints a
    warning; the process is stopped right there, the space comes back, and it
    goes on. Writes the stderr, the saved file and a listing to `work`."""
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]).returncode:
        return 77
    sdir = os.path.join(mnt, "baichuan-chat", "sessions")
    os.makedirs(sdir)
    filler = os.path.join(mnt, "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * (64 * 1024 - 2 * PAGE))
    env = env_for(work)
    env["XDG_DATA_HOME"] = mnt
    proc = subprocess.Popen([BIN, "replay", script], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    lines = []
    freed = False
    for raw in proc.stderr:
        line = raw.decode(errors="replace")
        lines.append(line)
        if not freed and "warning" in line:
            proc.send_signal(signal.SIGSTOP)
            # what the disk held while it was full
            for f in os.listdir(sdir):
                shutil.copyfile(os.path.join(sdir, f), os.path.join(work, "while-full-" + f))
            os.unlink(filler)
            freed = True
            proc.send_signal(signal.SIGCONT)
    proc.wait()
    with open(os.path.join(work, "full.err"), "w", encoding="utf-8") as f:
        f.write("".join(lines))
    with open(os.path.join(work, "full.ls"), "w") as f:
        f.write("\n".join(sorted(os.listdir(sdir))))
    for f in os.listdir(sdir):
        shutil.copyfile(os.path.join(sdir, f), os.path.join(work, "after-" + f))
    subprocess.run(["umount", mnt])
    return 0


def disk_full(work, script, ref, size):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("ok %d - # SKIP disk full: needs root and unshare for a private tmpfs" % (n_checks + 1))
        return
    if not 1.5 * PAGE < size <= 3 * PAGE:
        check(False, "disk full: the full session (%d bytes) must outgrow one tmpfs page halfway"
              % size)
        return
    p = subprocess.run(["unshare", "-m", sys.executable, __file__, BIN, DUMP, "--disk-full",
                        work, script], capture_output=True)
    if p.returncode == 77 or (p.returncode and b"unshare" in p.stderr):
        print("ok %d - # SKIP disk full: cannot mount a tmpfs here (%s)"
              % (n_checks + 1, p.stderr.decode(errors="replace").strip()[-100:].replace("\n", " ")))
        return
    err = open(os.path.join(work, "full.err"), encoding="utf-8", errors="replace").read()
    warned = [l for l in err.splitlines() if "warning" in l and "No space left" in l]
    done = len(STEP_DONE.findall(err))
    check(len(warned) >= 1 and done == TURNS,
          "disk full: every turn still ran (%d/%d), the failed save was reported: %s"
          % (done, TURNS, warned[0].strip() if warned else "no warning on stderr"))
    during = [f for f in os.listdir(work) if f.startswith("while-full-")]
    msgs, why = dump(os.path.join(work, during[0])) if len(during) == 1 else (
        None, "%d files" % len(during))
    check(msgs is not None and 1 < len(msgs) < len(ref) - 1 and msgs == ref[:len(msgs)],
          "disk full: the file on disk was the last complete version (%s messages of %d)"
          % (len(msgs) if msgs else why, len(ref)))
    after = [f for f in os.listdir(work) if f.startswith("after-")]
    listing = open(os.path.join(work, "full.ls")).read().split()
    msgs, why = dump(os.path.join(work, after[0])) if len(after) == 1 else (
        None, "files: " + " ".join(listing))
    check(msgs == ref, "space back: a later save holds the whole conversation (%s of %d messages)"
          % (len(msgs) if msgs else why, len(ref)))


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[3] == "--disk-full":
        sys.exit(disk_full_inside(sys.argv[4], sys.argv[5]))
    main()
    print("1..%d" % n_checks)
    sys.exit(1 if n_failed else 0)
