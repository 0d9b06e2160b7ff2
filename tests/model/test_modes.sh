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
check "a prompt from stdin loses its one final newline: echo | run is run PROMPT" 'cmp -s "$tmp/d1" "$tmp/d2"'
printf 'hello there\n\n' | "$bin" run --seed 7 -n 20 -m demo >"$tmp/d4" 2>/dev/null
check "only one final newline goes: a blank line at the end stays in the prompt" '! cmp -s "$tmp/d1" "$tmp/d4"'

# Without --seed every run draws a fresh seed (runs in one second used to share
# time(NULL)'s). Five runs take well under two seconds, so a clock-second seed
# gives at most two distinct replies; fresh seeds give five nearly always.
for i in 1 2 3 4 5; do "$bin" run -m demo -n 8 hi 2>/dev/null; done >"$tmp/seeds"
check "five runs without --seed back to back: at least three different replies" \
  '[ "$(sort -u "$tmp/seeds" | wc -l)" -ge 3 ]'

# A prompt longer than the context minus -n is cut (its start): said on stderr.
awk 'BEGIN { for (i = 0; i < 700; i++) printf "word%d ", i; print "" }' >"$tmp/long"
"$bin" run -m demo --seed 1 -n 600 <"$tmp/long" >/dev/null 2>"$tmp/le"; rc=$?
check "a prompt cut to fit the context: one warning naming both lengths" \
  '[ $rc = 0 ] && [ "$(grep -c "warning: the prompt was cut from [0-9]* to 424 tokens" "$tmp/le")" = 1 ] && grep -q "prompt: 424 tokens" "$tmp/le"'
"$bin" run -m demo --seed 1 -n 8 hi >/dev/null 2>"$tmp/le"
check "a prompt that fits: no warning" '! grep -q "was cut" "$tmp/le"'
"$bin" run -m demo -n 1024 hi >"$tmp/lo" 2>"$tmp/le"; rc=$?
check "-n as large as the context (1024): exit 1 naming both numbers" \
  '[ $rc = 1 ] && [ ! -s "$tmp/lo" ] && grep -q "\-n 1024 leaves no room for the prompt: the model.s context is 1024 tokens" "$tmp/le"'
"$bin" run -m nosuch-model hi >/dev/null 2>"$tmp/le"; rc=$?
check "a model name not found: exit 1, one line listing the places searched" \
  '[ $rc = 1 ] && [ "$(wc -l <"$tmp/le")" = 1 ] && grep -q "Searched: the directory $(pwd)/nosuch-model (No such file or directory); the presets of the configuration" "$tmp/le" && grep -q "huggingface-cli download" "$tmp/le"'

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

"$bin" perplexity -m "$fx" -f "$models/perplexity.txt" --ctx 16 >/dev/null 2>"$tmp/pe"; rc=$?
check "perplexity progress to a file or pipe: no carriage returns" \
  '[ $rc = 0 ] && ! grep -q "$(printf "\r")" "$tmp/pe" && grep -q "windows of 16" "$tmp/pe"'
"$bin" perplexity -f "$models/perplexity.txt" --ctx 5000 >"$tmp/po" 2>"$tmp/pe"; rc=$?
check "perplexity --ctx over the context (demo, 1024): exit 1 naming both, before any window" \
  '[ $rc = 1 ] && [ ! -s "$tmp/po" ] && grep -q "\-\-ctx 5000 is larger than the model.s context (1024 tokens)" "$tmp/pe" && ! grep -q "windows of" "$tmp/pe"'

# tokenize: demo is the default model, and synthetic models use its tokenizer
"$bin" tokenize -m demo "hello there" >"$tmp/t1" 2>/dev/null
"$bin" tokenize "hello there" >"$tmp/t2" 2>"$tmp/te"; rc=$?
check "tokenize without -m uses demo, the default model" '[ $rc = 0 ] && [ -s "$tmp/t1" ] && cmp -s "$tmp/t1" "$tmp/t2"'
"$bin" tokenize -m synthetic:7b "hello there" >"$tmp/t2" 2>"$tmp/te"; rc=$?
check "tokenize -m synthetic:7b uses the demo tokenizer" '[ $rc = 0 ] && cmp -s "$tmp/t1" "$tmp/t2"'
"$bin" tokenize -m synthetic:70b "hello" >/dev/null 2>"$tmp/te"; rc=$?
check "tokenize -m synthetic:70b: exit 1 naming the known sizes" '[ $rc = 1 ] && grep -q "synthetic:7b, synthetic:13b" "$tmp/te"'

# bench on the thread count the configuration gives, not only -t's
printf 'threads: 1\n' >"$tmp/t1.yaml"
"$bin" bench -m demo -c "$tmp/t1.yaml" -p 16 -n 4 >"$tmp/b" 2>/dev/null; rc=$?
check "bench with threads: 1 in -c FILE reports and measures 1 thread" \
  '[ $rc = 0 ] && grep -q "^backend: .*, 1 threads" "$tmp/b" && grep -q "own f32 GEMM kernel, .* 1 threads" "$tmp/b" && ! grep -q "own f32 GEMM.* 2 threads" "$tmp/b"'
"$bin" bench --tokenizer -f "$models/perplexity.txt" >"$tmp/b" 2>/dev/null; rc=$?
check "bench --tokenizer without -m uses demo" '[ $rc = 0 ] && grep -q "^encode:" "$tmp/b"'

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
