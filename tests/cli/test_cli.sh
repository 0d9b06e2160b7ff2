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
n=$((n + 1))
if "$bin" --version | grep -q "cuda="; then echo "ok $n - version names build options"
else echo "not ok $n - version names build options"; fail=$((fail + 1)); fi
n=$((n + 1))
lines=$("$bin" run --temp abc 2>&1 | wc -l)
if [ "$lines" = 1 ]; then echo "ok $n - usage error is one line"
else echo "not ok $n - usage error is one line (got $lines)"; fail=$((fail + 1)); fi
echo "1..$n"
[ $fail = 0 ]
