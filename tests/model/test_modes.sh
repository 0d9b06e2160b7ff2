#!/bin/sh
# run / perplexity / bench end to end through the binary, on the demo model
# and on a fixture; perplexity is checked against tests/model/reference.py.
bin="$1"
models="$BC_SOURCE_DIR/tests/data/models"
fx="$models/rope-safetensors-bf16"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0; fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); echo "not ok $n - $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

"$bin" run --seed 7 -n 20 "hello there" >"$tmp/d1" 2>"$tmp/e1"; rc=$?
check "run on demo exits 0" '[ $rc = 0 ]'
check "run on demo prints a reply" '[ -s "$tmp/d1" ]'
check "run on demo says it is a demo" 'grep -q DEMO "$tmp/e1"'
check "run prints speeds on stderr" 'grep -q "tok/s" "$tmp/e1"'
echo "hello there" | "$bin" run --seed 7 -n 20 -m demo >"$tmp/d2" 2>/dev/null
"$bin" run --seed 7 -n 20 "hello there" >"$tmp/d3" 2>/dev/null
check "run is deterministic with --seed" 'cmp -s "$tmp/d1" "$tmp/d3"'
check "prompt from stdin is one more newline" '[ -s "$tmp/d2" ]'

"$bin" run -m "$fx" --seed 3 --temp 0.7 -n 16 "你好" >"$tmp/f1" 2>"$tmp/fe"; rc=$?
"$bin" run -m "$fx" --seed 3 --temp 0.7 -n 16 "你好" >"$tmp/f2" 2>/dev/null
check "run on a fixture exits 0" '[ $rc = 0 ]'
check "run on a fixture prints a reply" '[ -s "$tmp/f1" ]'
check "run on a fixture is deterministic with --seed" 'cmp -s "$tmp/f1" "$tmp/f2"'
check "run on a fixture is not called a demo" '! grep -q DEMO "$tmp/fe"'
"$bin" run -m "$fx" --raw --quant bf16 --threads 1 -n 8 --seed 1 "Once upon" >/dev/null 2>&1
check "run --raw --quant bf16 exits 0" '[ $? = 0 ]'
"$bin" run -m "$tmp/nothing-here" "hi" >/dev/null 2>"$tmp/err"; rc=$?
check "a missing model directory exits 1 with a message" '[ $rc = 1 ] && [ -s "$tmp/err" ]'

for d in rope-safetensors-bf16 alibi6-bin-f16 rope-shards-f32; do
  want=$(awk '$1 == "perplexity" { print $5 }' "$models/$d/expected.txt")
  ctx=$(awk '$1 == "perplexity" { print $2 }' "$models/$d/expected.txt")
  "$bin" perplexity -m "$models/$d" -f "$models/perplexity.txt" --ctx "$ctx" >"$tmp/p" 2>/dev/null; rc=$?
  got=$(tail -n 1 "$tmp/p" | sed -n 's/^perplexity: //p')
  check "perplexity on $d: $got vs reference $want (rel 1e-5)" \
    '[ $rc = 0 ] && [ -n "$got" ] && awk -v a="$got" -v b="$want" "BEGIN { d = (a - b) / b; exit !(d < 1e-5 && d > -1e-5) }"'
done

"$bin" bench -m demo >"$tmp/b" 2>/dev/null; rc=$?
check "bench on demo exits 0 and reports decode speed" '[ $rc = 0 ] && grep -q "decode:.*tok/s" "$tmp/b"'
"$bin" bench -m demo -p 40 -n 7 >"$tmp/b" 2>/dev/null; rc=$?
check "bench -p 40 -n 7: a 40-token prefill and 7 decode steps" \
  '[ $rc = 0 ] && grep -q "prefill: *40 tokens in" "$tmp/b" && grep -q "decode: *7 tokens in .*fastest 7-token window" "$tmp/b" && grep -q "T=40 x" "$tmp/b"'
"$bin" bench -m demo -p 1000 -n 100 >/dev/null 2>"$tmp/be"; rc=$?
check "bench -p 1000 -n 100 on a 1024-token model: exit 1 naming the context" \
  '[ $rc = 1 ] && grep -q "needs a context of 1100 tokens; the model has 1024" "$tmp/be"'
"$bin" bench -m demo -f "$tmp/b" >/dev/null 2>"$tmp/be"; rc=$?
check "bench -f without --tokenizer: usage error" '[ $rc = 2 ] && grep -q "goes with --tokenizer" "$tmp/be"'

# synthetic models: the real vocabulary and layer shapes, random weights
"$bin" bench -m synthetic:tiny --quant int8 -t 1 >"$tmp/s" 2>"$tmp/se"; rc=$?
check "bench on synthetic:tiny (int8) exits 0 and reports decode speed" \
  '[ $rc = 0 ] && grep -q "decode:.*tok/s" "$tmp/s" && grep -q "weights int8" "$tmp/s"'
check "bench on synthetic:tiny: shapes of a Baichuan2 vocabulary (125696)" \
  'grep -q "synthetic:tiny .*vocab 125696" "$tmp/s"'
check "a synthetic model says its replies are noise" 'grep -q "random weights" "$tmp/se"'
"$bin" run -m synthetic:70b "hi" >/dev/null 2>"$tmp/se"; rc=$?
check "an unknown synthetic size: exit 1 naming the known ones" \
  '[ $rc = 1 ] && grep -q "synthetic:7b, synthetic:13b" "$tmp/se"'

echo "1..$n"
[ $fail = 0 ]
