#!/bin/bash
# One prepared run on a machine with an NVIDIA GPU (no network needed):
#   1. prints what the machine has (GPU, driver, nvcc, meson, ninja, libyaml, python/torch);
#   2. builds with -Dtui=disabled for one architecture (default sm_90) into build-gpu/;
#   3. runs the cuda suite (every op and the whole model against the CPU; decode
#      steps replayed as CUDA graphs, then again kernel by kernel), its
#      int8/nf4 part (test_cuda_quant), then the small-shape variants under
#      compute-sanitizer memcheck when available;
#   4. benchmarks synthetic 7B and 13B shapes in f16, bf16, int8 and nf4 (weights
#      generated on the GPU) and,
#      when python3 has torch + safetensors, `baichuan-chat bench --backend cuda`
#      on a generated 1.3B checkpoint (load GB/s from the page cache);
#   5. prints a short table last.
# Meant to finish in under 8 minutes. Usage, from the repository root:
#   tests/gpu/run.sh [ARCH]          e.g. tests/gpu/run.sh 80 on an A100
# libyaml headers missing there? Carry the Debian packages libyaml-dev and
# libyaml-0-2 (apt-get download ...) in .gpu-carry/ (or $BC_GPU_CARRY): they are
# unpacked under /tmp/bc-deps and used through PKG_CONFIG_PATH, nothing installed.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
ARCH=${1:-90}
BUILD=$ROOT/build-gpu
LOG=${OUT:-/tmp}/bc-gpu-logs
mkdir -p "$LOG"
T_START=$(date +%s)
declare -a TABLE

row() { TABLE+=("$(printf '%-34s %s' "$1" "$2")"); }
step() { printf '\n==== %s (%ds)\n' "$1" $(( $(date +%s) - T_START )); }

step "machine"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
else
    echo "nvidia-smi: not found"
fi
command -v nvcc >/dev/null && nvcc --version | tail -2 || echo "nvcc: not found"
echo "meson: $(meson --version 2>/dev/null || echo missing)  ninja: $(ninja --version 2>/dev/null || echo missing)"
echo "cc: $(cc --version 2>/dev/null | head -1)"
python3 -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__)' 2>/dev/null \
    || echo "python3 with torch: no"

# libyaml: the system's, else carried .debs unpacked under /tmp/bc-deps.
if ! pkg-config --exists yaml-0.1 2>/dev/null; then
    CARRY=${BC_GPU_CARRY:-$ROOT/.gpu-carry}
    if ls "$CARRY"/libyaml*.deb >/dev/null 2>&1; then
        for deb in "$CARRY"/libyaml*.deb; do dpkg -x "$deb" /tmp/bc-deps; done
        PC=$(dirname "$(find /tmp/bc-deps -name yaml-0.1.pc | head -1)")
        sed -i "s|^prefix=.*|prefix=/tmp/bc-deps/usr|" "$PC/yaml-0.1.pc"
        export PKG_CONFIG_PATH=$PC${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
        export LIBRARY_PATH=/tmp/bc-deps/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}
        export LD_LIBRARY_PATH=/tmp/bc-deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
        echo "libyaml: from $CARRY"
    else
        echo "libyaml: MISSING (yaml-0.1 not found; carry libyaml-dev + libyaml-0-2 .debs in .gpu-carry/)"
    fi
else
    echo "libyaml: $(pkg-config --modversion yaml-0.1)"
fi

step "build (sm_$ARCH, -Dtui=disabled)"
rm -rf "$BUILD"
T0=$(date +%s)
if ! meson setup "$BUILD" -Dtui=disabled -Dcuda=enabled -Dgpu_arch="$ARCH" >"$LOG/build.log" 2>&1; then
    tail -30 "$LOG/build.log"; echo "BUILD FAILED (meson setup)"; exit 1
fi
if ! ninja -C "$BUILD" -j"$(nproc)" >>"$LOG/build.log" 2>&1; then
    grep -E "error|FAILED" "$LOG/build.log" | head -30; echo "BUILD FAILED (ninja)"; exit 1
fi
row "build (sm_$ARCH)" "$(( $(date +%s) - T0 )) s"

export BC_SOURCE_DIR=$ROOT
export BC_CUDA_MODULE=$BUILD/kernels/bc_cuda.so

step "cuda suite"
timeout 300 "$BUILD/tests/test_cuda" 2>&1 | tee "$LOG/test_cuda.log"
rc=${PIPESTATUS[0]}
pass=$(grep -c '^ok ' "$LOG/test_cuda.log"); fail=$(grep -c '^not ok ' "$LOG/test_cuda.log")
case $rc in
    0) row "cuda suite" "PASS ($pass checks)";;
    77) row "cuda suite" "SKIPPED: $(grep -m1 SKIP "$LOG/test_cuda.log")";;
    *) row "cuda suite" "FAIL rc=$rc ($pass ok, $fail not ok)";;
esac
grep '^not ok' -A1 "$LOG/test_cuda.log" | head -20

step "cuda suite, decode without CUDA graphs"
BC_CUDA_GRAPHS=0 timeout 300 "$BUILD/tests/test_cuda" >"$LOG/test_cuda_nograph.log" 2>&1
grc=$?
row "cuda suite, BC_CUDA_GRAPHS=0" "$([ $grc = 0 ] && echo PASS || echo "rc=$grc ($(grep -c '^not ok' "$LOG/test_cuda_nograph.log") not ok)")"
grep '^not ok' -A1 "$LOG/test_cuda_nograph.log" | head -10

step "cuda suite: int8 / nf4"
timeout 240 "$BUILD/tests/test_cuda_quant" 2>&1 | tee "$LOG/test_cuda_quant.log"
qrc=${PIPESTATUS[0]}
pass=$(grep -c '^ok ' "$LOG/test_cuda_quant.log"); fail=$(grep -c '^not ok ' "$LOG/test_cuda_quant.log")
case $qrc in
    0) row "cuda int8/nf4 suite" "PASS ($pass checks)";;
    77) row "cuda int8/nf4 suite" "SKIPPED";;
    *) row "cuda int8/nf4 suite" "FAIL rc=$qrc ($pass ok, $fail not ok)";;
esac
grep '^not ok' "$LOG/test_cuda_quant.log" | head -20

if command -v compute-sanitizer >/dev/null && [ "$rc" != 77 ]; then
    step "compute-sanitizer memcheck (small shapes)"
    timeout 180 compute-sanitizer --tool memcheck --error-exitcode 9 \
        "$BUILD/tests/test_cuda" --small >"$LOG/memcheck.log" 2>&1
    mrc=$?
    tail -5 "$LOG/memcheck.log"
    row "memcheck (--small)" "$([ $mrc = 0 ] && echo clean || echo "rc=$mrc, see memcheck.log")"
    timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 \
        "$BUILD/tests/test_cuda_quant" --small >"$LOG/memcheck_quant.log" 2>&1
    mrc=$?
    tail -3 "$LOG/memcheck_quant.log"
    row "memcheck int8/nf4 (--small)" "$([ $mrc = 0 ] && echo clean || echo "rc=$mrc, see memcheck_quant.log")"
fi

# The other suites expect the CPU backend (their references are fp32 CPU
# results; `auto` would pick the GPU here): CUDA off for them.
step "meson test (the other suites, CUDA off)"
BC_CUDA_MODULE=off timeout 240 meson test -C "$BUILD" --no-suite cuda --num-processes "$(nproc)" \
    >"$LOG/meson-test.log" 2>&1
tail -8 "$LOG/meson-test.log" | grep -E "Ok|Fail|Skipped|Timeout"
row "meson test" "$(grep -E '^(Ok|Fail):' "$LOG/meson-test.log" | tr -s ' ' | tr '\n' ' ')"

step "synthetic benchmarks"
for shape in 7b 13b; do
    timeout 120 "$BUILD/tests/bench_cuda" "$shape" f16 2>&1 | tee /tmp/bc-bench.txt
    cat /tmp/bc-bench.txt >>"$LOG/bench.log"
    r=$(grep '^RESULT' /tmp/bc-bench.txt | cut -d' ' -f4-)
    [ -z "$r" ] && r=$(grep -m1 '^skipped' /tmp/bc-bench.txt)
    row "bench $shape f16" "${r:-FAILED (see bench.log)}"
    mem=$(grep '^GPU memory' /tmp/bc-bench.txt | cut -d: -f2-)
    [ -n "$mem" ] && row "  memory $shape" "$mem"
    notes=$(grep '^backend notes' /tmp/bc-bench.txt | cut -d: -f2-)
    [ -n "$notes" ] && row "  graphs/embedding $shape" "$notes"
done
# the same 7B f16 decode launched kernel by kernel: what the CUDA graph buys
BC_CUDA_GRAPHS=0 timeout 90 "$BUILD/tests/bench_cuda" 7b f16 >/tmp/bc-bench.txt 2>&1
cat /tmp/bc-bench.txt >>"$LOG/bench.log"
r=$(grep '^RESULT' /tmp/bc-bench.txt | cut -d' ' -f4-)
row "bench 7b f16, no CUDA graph" "${r:-FAILED (see bench.log)}"
timeout 60 "$BUILD/tests/bench_cuda" 7b bf16 >/tmp/bc-bench.txt 2>&1
cat /tmp/bc-bench.txt >>"$LOG/bench.log"
r=$(grep '^RESULT' /tmp/bc-bench.txt | cut -d' ' -f4-)
[ -z "$r" ] && r=$(grep -m1 '^skipped' /tmp/bc-bench.txt)
row "bench 7b bf16" "${r:-FAILED (see bench.log)}"
# int8 / nf4 (13B only while the run is young enough to stay under 8 minutes)
for shape in 7b 13b; do
    for q in int8 nf4; do
        if [ "$shape" = 13b ] && [ $(( $(date +%s) - T_START )) -gt 330 ]; then
            row "bench $shape $q" "not run (out of time)"; continue
        fi
        timeout 90 "$BUILD/tests/bench_cuda" "$shape" "$q" >/tmp/bc-bench.txt 2>&1
        cat /tmp/bc-bench.txt >>"$LOG/bench.log"
        r=$(grep '^RESULT' /tmp/bc-bench.txt | cut -d' ' -f4-)
        [ -z "$r" ] && r=$(grep -m1 -E '^skipped|bench_cuda:' /tmp/bc-bench.txt)
        row "bench $shape $q" "${r:-FAILED (see bench.log)}"
        mem=$(grep '^GPU memory' /tmp/bc-bench.txt | cut -d: -f2-)
        [ -n "$mem" ] && row "  memory $shape $q" "$mem"
    done
done

# the application's own bench on the 7B shapes (engine, sampler, graphs)
if [ $(( $(date +%s) - T_START )) -lt 330 ]; then
    step "baichuan-chat bench -m synthetic:7b --backend cuda"
    timeout 90 "$BUILD/baichuan-chat" bench -m synthetic:7b --backend cuda 2>&1 | tee "$LOG/bench_app_synth.log"
    row "app bench synthetic:7b (cuda f16)" "$(grep -E '^(load|decode):' "$LOG/bench_app_synth.log" | tr -s ' ' | tr '\n' ' ')"
fi

# the embedding table on the GPU instead of in mapped host memory: decode
# speed and GPU memory it costs (7B nf4, where the memory target is tight)
if [ $(( $(date +%s) - T_START )) -lt 360 ]; then
    BC_CUDA_HOST_EMBED=0 timeout 90 "$BUILD/tests/bench_cuda" 7b nf4 >/tmp/bc-bench.txt 2>&1
    cat /tmp/bc-bench.txt >>"$LOG/bench.log"
    r=$(grep '^RESULT' /tmp/bc-bench.txt | cut -d' ' -f4-)
    row "bench 7b nf4, embedding on GPU" "${r:-FAILED (see bench.log)}"
    mem=$(grep '^GPU memory' /tmp/bc-bench.txt | cut -d: -f2-)
    [ -n "$mem" ] && row "  memory 7b nf4, embedding on GPU" "$mem"
fi

if python3 -c 'import torch, safetensors' 2>/dev/null && [ $(( $(date +%s) - T_START )) -lt 330 ]; then
    step "baichuan-chat bench --backend cuda (generated 1.3B checkpoint)"
    MODEL=/tmp/bc-bench-model
    [ -f "$MODEL/model.safetensors" ] || timeout 120 python3 tests/model/make_bench_model.py "$MODEL" >/tmp/bc-make-model.log 2>&1
    cat "$MODEL/model.safetensors" >/dev/null 2>&1   # page-cached: load GB/s measures the upload
    timeout 90 "$BUILD/baichuan-chat" bench -m "$MODEL" --backend cuda 2>&1 | tee "$LOG/bench_app.log"
    row "app bench 1.3B (cuda)" "$(grep -E '^(load|decode):' "$LOG/bench_app.log" | tr -s ' ' | tr '\n' ' ')"
    for q in int8 nf4; do   # online quantization on the GPU while loading
        [ $(( $(date +%s) - T_START )) -gt 420 ] && { row "app bench 1.3B cuda $q" "not run (out of time)"; continue; }
        timeout 60 "$BUILD/baichuan-chat" bench -m "$MODEL" --backend cuda --quant $q 2>&1 | tee "$LOG/bench_app_$q.log"
        row "app bench 1.3B cuda $q" "$(grep -E '^(load|decode):' "$LOG/bench_app_$q.log" | tr -s ' ' | tr '\n' ' ')"
    done
else
    row "app bench 1.3B (cuda)" "not run (python3 lacks torch/safetensors, or out of time)"
fi

step "summary"
printf '%s\n' "${TABLE[@]}"
echo "total $(( $(date +%s) - T_START )) s; logs in $LOG"
