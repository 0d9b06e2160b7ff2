#!/bin/sh
# Sanitizer pass for CI (formats-and-safety §4):
#  1. build-asan: the whole project with -Db_sanitize=address,undefined, then
#     every meson suite except tui and cuda (unit, formats, tokenizer, model,
#     fuzz-corpus, cli, ... whichever exist), UBSan fatal with a stack trace;
#  2. when clang with libFuzzer is installed: build-fuzz with -Dfuzz=enabled,
#     each harness run for BC_FUZZ_SECONDS (default 20) from its seeds and
#     stored corpus (tests/fuzz/run_fuzzers.sh).
# Prints a result line per step and exits non-zero when any step failed.
#   tests/ci_sanitize.sh            (from anywhere; builds next to the sources)
set -u
cd "$(dirname "$0")/.." || exit 1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
fuzz_seconds=${BC_FUZZ_SECONDS:-20}
jobs=${BC_JOBS:-2}
status=0
results=""

note() { results="$results$1
"; echo "== $1"; }

# ---- 1. ASan + UBSan build and tests -----------------------------------------
asan_opts="-Db_sanitize=address,undefined -Dbuildtype=debugoptimized -Dcuda=disabled"
case "${CC:-cc}" in *clang*) asan_opts="$asan_opts -Db_lundef=false" ;; esac
if [ -d build-asan/meson-private ]; then
    # shellcheck disable=SC2086
    meson configure build-asan $asan_opts >/dev/null
    setup_rc=$?
else
    # shellcheck disable=SC2086
    meson setup build-asan $asan_opts >build-asan.setup.log 2>&1
    setup_rc=$?
    [ $setup_rc -eq 0 ] || cat build-asan.setup.log
    rm -f build-asan.setup.log
fi
if [ $setup_rc -ne 0 ]; then
    note "asan: FAILED to configure build-asan"
    status=1
elif ! ninja -C build-asan -j "$jobs" >build-asan/ci-build.log 2>&1; then
    tail -40 build-asan/ci-build.log
    note "asan: FAILED to build (build-asan/ci-build.log)"
    status=1
else
    # --no-suite for a suite that does not exist is harmless in meson
    meson test -C build-asan --num-processes "$jobs" --print-errorlogs --timeout-multiplier 3 \
        --no-suite tui --no-suite cuda
    rc=$?
    summary=$(/usr/bin/python3 - build-asan/meson-logs/testlog.json <<'PY'
import json, sys
p = f = s = 0
bad = []
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    if r["result"] in ("OK", "EXPECTEDFAIL"): p += 1
    elif r["result"] == "SKIP": s += 1
    else:
        f += 1
        bad.append(r["name"])
print(f"{p} passed, {f} failed, {s} skipped" + (" (" + ", ".join(bad) + ")" if bad else ""))
PY
)
    if [ $rc -eq 0 ]; then
        note "asan: ok, tests under ASan+UBSan: $summary"
    else
        note "asan: FAILED, tests under ASan+UBSan: $summary"
        status=1
    fi
fi

# ---- 1b. ThreadSanitizer on the queue, the worker thread and the saver -------
# The worker test drives many generate/cancel/load interleavings, with the fake
# engine and with the demo model's thread pool; the saver test queues, replaces
# and flushes writes while its thread writes.
if command -v clang >/dev/null 2>&1; then
    if [ ! -d build-tsan/meson-private ] &&
       ! CC=clang meson setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dtui=disabled \
             -Dcuda=disabled -Dbuildtype=debugoptimized >/dev/null 2>&1; then
        note "tsan: FAILED to configure build-tsan with clang"
        status=1
    elif ! ninja -C build-tsan -j "$jobs" tests/test_worker tests/test_saver >build-tsan/ci-build.log 2>&1; then
        tail -40 build-tsan/ci-build.log
        note "tsan: FAILED to build the worker and saver tests"
        status=1
    elif TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
         BC_SOURCE_DIR="$PWD" BC_CUDA_MODULE=off build-tsan/tests/test_worker >build-tsan/worker.log 2>&1 &&
         TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
         build-tsan/tests/test_saver >>build-tsan/worker.log 2>&1 &&
         ! grep -q "WARNING: ThreadSanitizer" build-tsan/worker.log; then
        note "tsan: ok, worker, queues and saver: $(grep -c '^ok' build-tsan/worker.log) checks, no data race"
    else
        tail -40 build-tsan/worker.log
        note "tsan: FAILED (build-tsan/worker.log)"
        status=1
    fi
else
    note "tsan: skipped (no clang)"
fi

# ---- 2. libFuzzer harnesses, bounded time -------------------------------------
if command -v clang >/dev/null 2>&1; then
    fuzz_targets="tests/fuzz/fuzz_safetensors tests/fuzz/fuzz_zip tests/fuzz/fuzz_pickle tests/fuzz/fuzz_index_json tests/fuzz/fuzz_config_json tests/fuzz/fuzz_app_yaml tests/fuzz/fuzz_tokenizer_model tests/fuzz/fuzz_tokenizer_text tests/fuzz/fuzz_replay_script tests/fuzz/fuzz_session tests/fuzz/fuzz_quant_state"
    # the theme harness exists only where ncursesw is installed
    [ -f /usr/include/ncursesw/curses.h ] && fuzz_targets="$fuzz_targets tests/fuzz/fuzz_theme"
    if [ ! -d build-fuzz/meson-private ] &&
       ! CC=clang meson setup build-fuzz -Dfuzz=enabled -Dtui=disabled -Dcuda=disabled \
             -Dbuildtype=debugoptimized >/dev/null 2>&1; then
        note "fuzz: FAILED to configure build-fuzz with clang (is libFuzzer installed?)"
        status=1
    # shellcheck disable=SC2086
    elif ! ninja -C build-fuzz -j "$jobs" $fuzz_targets >build-fuzz/ci-build.log 2>&1; then
        tail -40 build-fuzz/ci-build.log
        note "fuzz: FAILED to build the harnesses (build-fuzz/ci-build.log)"
        status=1
    else
        rm -rf build-fuzz/fuzz-artifacts
        out=$(BC_FUZZ_SECONDS=$fuzz_seconds tests/fuzz/run_fuzzers.sh build-fuzz)
        rc=$?
        echo "$out"
        while IFS= read -r line; do
            case $line in "fuzz "*) note "$line" ;; esac
        done <<EOT
$out
EOT
        [ $rc -eq 0 ] || status=1
    fi
else
    note "fuzz: skipped (no clang; apt install clang to run the libFuzzer harnesses)"
fi

echo
echo "ci_sanitize summary:"
printf '%s' "$results"
if [ $status -eq 0 ]; then echo "ci_sanitize: PASSED"; else echo "ci_sanitize: FAILED"; fi
exit $status
