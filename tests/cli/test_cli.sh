#!/bin/sh
# CLI contract: --help/--version exit 0, bad usage exits 2 with a one-line reason.
bin="$1"
n=0; fail=0
check() { # description, expected exit code, command...
  desc="$1"; want="$2"; shift 2
  n=$((n + 1))
  err=$("$@" 2>&1 >/dev/null); got=$?
  if [ "$got" = "$want" ]; then echo "ok $n - $desc"
  else echo "not ok $n - $desc (exit $got, wanted $want): $err"; fail=$((fail + 1)); fi
}
check "--help" 0 "$bin" --help
check "--version" 0 "$bin" --version
for sub in run replay bench perplexity tokenize; do
  check "$sub --help" 0 "$bin" $sub --help
done
check "unknown subcommand" 2 "$bin" frobnicate
check "unknown option" 2 "$bin" run --frobnicate
check "bad temperature" 2 "$bin" run --temp abc
check "bad quant" 2 "$bin" run --quant q3
check "missing value" 2 "$bin" run --seed
check "option of another mode" 2 "$bin" tokenize --temp 1
check "replay without script" 2 "$bin" replay
check "perplexity without file" 2 "$bin" perplexity -m demo
check "--raw is for run only (replay has no raw mode)" 2 "$bin" replay --raw x.yaml
check "run --raw --system: the system prompt would be dropped" 2 "$bin" run --raw --system S hi
for opt in "-p 5" "-n 3" "--quant int8" "--backend cpu" "-t 1"; do
  check "bench --tokenizer $opt (it measures the tokenizer only)" 2 \
    "$bin" bench --tokenizer -m demo -f /dev/null $opt
done
# a real script: these must be refused before it is read, let alone run
script="$BC_SOURCE_DIR/config/replay-example.yaml"
check "replay --matrix quant=f32,xx (checked like --quant)" 2 "$bin" replay "$script" --matrix quant=f32,xx
check "replay --matrix backend=cpu,tpu (checked like --backend)" 2 "$bin" replay "$script" --matrix backend=cpu,tpu
check "replay --matrix with --format yaml" 2 "$bin" replay "$script" --matrix quant=f32 --format yaml
check "replay --matrix twice" 2 "$bin" replay "$script" --matrix quant=f32 --matrix backend=cpu
n=$((n + 1))
if "$bin" --version | grep -q "cuda="; then echo "ok $n - version names build options"
else echo "not ok $n - version names build options"; fail=$((fail + 1)); fi
n=$((n + 1))
lines=$("$bin" run --temp abc 2>&1 | wc -l)
if [ "$lines" = 1 ]; then echo "ok $n - usage error is one line"
else echo "not ok $n - usage error is one line (got $lines)"; fail=$((fail + 1)); fi
n=$((n + 1))
lines=$("$bin" replay "$script" --matrix quant=f32,xx 2>&1 | wc -l)
if [ "$lines" = 1 ]; then echo "ok $n - a bad --matrix value is one line"
else echo "not ok $n - a bad --matrix value is one line (got $lines)"; fail=$((fail + 1)); fi
echo "1..$n"
[ $fail = 0 ]
