#!/bin/sh
# Runs each libFuzzer harness for a bounded time, one after the other.
#   tests/fuzz/run_fuzzers.sh BUILD_DIR [harness ...]
# BUILD_DIR was configured with CC=clang and -Dfuzz=enabled. Each harness
# starts from seeds/<h> and corpus/<h>; new inputs it finds go to
# BUILD_DIR/fuzz-work/<h> (never into the source tree), crash inputs to
# BUILD_DIR/fuzz-artifacts/<h>/. Env: BC_FUZZ_SECONDS (default 20) per harness,
# BC_FUZZ_RSS_MB (default 2048), BC_FUZZ_RUNS (when set: run each harness for
# that many executions instead, with no time limit -- the long local runs),
# BC_FUZZ_MAX_LEN (default 16384: the longest input tried).
# Prints one summary line per harness and exits non-zero when any harness
# crashed: fix the reader, then copy the crash input into
# tests/fuzz/corpus/<h>/ so the fuzz-corpus suite replays it forever.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run_fuzzers.sh BUILD_DIR [harness ...]}
build=$(cd "$build" && pwd) || exit 1
shift
secs=${BC_FUZZ_SECONDS:-20}
limit="-max_total_time=$secs"
[ -n "${BC_FUZZ_RUNS:-}" ] && limit="-runs=$BC_FUZZ_RUNS"
rss=${BC_FUZZ_RSS_MB:-2048}
harnesses=${*:-safetensors zip pickle index_json config_json app_yaml tokenizer_model tokenizer_text replay_script session quant_state theme}
failed=0
for h in $harnesses; do
    bin="$build/tests/fuzz/fuzz_$h"
    if [ ! -x "$bin" ] && [ "$h" = theme ]; then
        # ui/theme.c needs ncursesw; without it there is no theme reader to fuzz
        echo "fuzz $h: skipped (no $bin: ncursesw not installed)"
        continue
    fi
    if [ ! -x "$bin" ]; then
        echo "fuzz $h: FAILED (no $bin; configure with CC=clang -Dfuzz=enabled)"
        failed=1
        continue
    fi
    work="$build/fuzz-work/$h"
    art="$build/fuzz-artifacts/$h"
    log="$build/fuzz-work/$h.log"
    mkdir -p "$work" "$art"
    dict=""
    case $h in
        safetensors|index_json|config_json) dict="-dict=$here/json.dict" ;;
        app_yaml|replay_script|session|theme) dict="-dict=$here/yaml.dict" ;;
        zip) dict="-dict=$here/zip.dict" ;;
        pickle|quant_state) dict="-dict=$here/pickle.dict" ;;
    esac
    mkdir -p "$here/corpus/$h"
    # -max_len: the seeds are at most 4 KiB; 16 KiB leaves room to grow.
    # -jobs=1 runs the fuzzer in a child that writes fuzz-0.log to the current
    # directory (copied into $log when it ends): keep that inside the build,
    # one directory per harness so that two lanes can run side by side.
    # The session harness saves what it parsed: keep those files off the disk.
    tmp=${TMPDIR:-/tmp}
    [ -d /dev/shm ] && [ -w /dev/shm ] && tmp=/dev/shm
    mkdir -p "$work.cwd"
    t0=$(date +%s)
    (cd "$work.cwd" && TMPDIR=$tmp "$bin" $limit -rss_limit_mb="$rss" -max_len="${BC_FUZZ_MAX_LEN:-16384}" -timeout=10 \
        -jobs=1 -workers=1 -print_final_stats=1 $dict -artifact_prefix="$art/" \
        "$work" "$here/corpus/$h" "$here/seeds/$h") >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    crashes=$(find "$art" -type f | wc -l)
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        failed=1
        echo "fuzz $h: FAILED (exit $rc) after ${runs:-?} runs, cov ${cov:-?}; crash inputs:"
        find "$art" -type f | sed 's/^/    /'
        grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -5 | sed 's/^/    /'
    else
        echo "fuzz $h: ok, ${runs:-?} runs in $(( $(date +%s) - t0 ))s, cov ${cov:-?} edges, ft ${ft:-?}, no crash"
    fi
done
exit $failed
