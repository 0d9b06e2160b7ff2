#!/bin/sh
# replay end to end through the binary: determinism (demo and a generated
# fixture model, across a /quant switch and back), transcripts in every
# format, expect exit codes, bad scripts (exit 2, FILE:LINE:COL, nothing in
# the session store), a saved session as input, failing switches, --matrix.
bin="$1"
src="$BC_SOURCE_DIR"
fx="$src/tests/data/models/rope-safetensors-bf16"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" BC_CUDA_MODULE=off
unset BC_FAKE_ENGINE
store="$XDG_DATA_HOME/baichuan-chat/sessions"
n=0; fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); echo "not ok $n - $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
count() { grep -c "$1" "$2" 2>/dev/null || true; }

# ---- determinism ------------------------------------------------------------
sw="$src/tests/replay/switch.yaml"
for m in demo "$fx"; do
  name=$(basename "$m")
  for f in md yaml jsonl; do
    "$bin" replay "$sw" -m "$m" --format $f >"$tmp/a.$f" 2>"$tmp/a.err"; rc1=$?
    "$bin" replay "$sw" -m "$m" --format $f >"$tmp/b.$f" 2>/dev/null; rc2=$?
    check "$name: the same script twice gives byte-identical $f transcripts (across /quant nf4 and back)" \
      '[ $rc1 = 0 ] && [ $rc2 = 0 ] && [ -s "$tmp/a.$f" ] && cmp -s "$tmp/a.$f" "$tmp/b.$f"'
  done
  check "$name: each reply records its quant (f32, nf4, f32 in turn)" \
    '[ "$(grep "\"type\":\"assistant\"" "$tmp/a.jsonl" | sed "s/.*\"quant\":\"\([a-z0-9]*\)\".*/\1/" | tr "\n" " ")" = "f32 nf4 f32 " ]'
  # After each switch the whole history is prefilled again, and it holds every
  # earlier message: each prompt is longer than the previous prompt + reply.
  check "$name: after a switch the next turn re-prefills the whole, growing history" \
    'awk -F"[:,]" "/\"type\":\"assistant\"/ { for (i = 1; i < NF; i++) { if (\$i == \"\\\"new_tokens\\\"\") nt = \$(i+1); if (\$i == \"\\\"prompt_tokens\\\"\") pt = \$(i+1); if (\$i == \"\\\"prefilled_tokens\\\"\") pf = \$(i+1) } k++; if (k > 1 && (pt <= lastpt + lastnt || pf != pt)) bad = 1; lastpt = pt; lastnt = nt } END { exit bad || k != 3 }" "$tmp/a.jsonl"'
  check "$name: the summary on stderr names tokens/s and model/quant per step" \
    'grep -q "step 3 (line 8): .*tok/s.*· nf4" "$tmp/a.err" && grep -q "/quant nf4: loaded" "$tmp/a.err"'
done
"$bin" replay "$src/config/replay-example.yaml" >"$tmp/ex1" 2>"$tmp/ex.err"; rc=$?
"$bin" replay "$src/config/replay-example.yaml" >"$tmp/ex2" 2>/dev/null
check "config/replay-example.yaml runs (exit $rc) and is reproducible" '[ $rc = 0 ] && cmp -s "$tmp/ex1" "$tmp/ex2"'
if [ -w /dev/full ]; then
  "$bin" replay "$src/config/replay-example.yaml" >/dev/full 2>"$tmp/full.err"; rc=$?
  check "a transcript that cannot be written (stdout on a full disk) exits 1 (exit $rc)" \
        '[ $rc = 1 ] && grep -q "writing the transcript to stdout failed" "$tmp/full.err"'
fi
check "the demo's replies stream to stdout under their model line" \
  'grep -q "^\*\*Assistant\*\* (demo · cpu · bf16):" "$tmp/ex1" && grep -q "DEMO" "$tmp/ex.err"'
check "a replay is saved in the session store with each reply's model and quant" \
  '[ "$(cat "$store"/*.yaml | grep -c "quant: bf16")" -ge 1 ]'

# ---- -o and formats --------------------------------------------------------------
"$bin" replay "$sw" -o "$tmp/out.yaml" --format yaml >"$tmp/stdout" 2>/dev/null; rc=$?
check "-o writes the file and nothing to stdout" '[ $rc = 0 ] && [ -s "$tmp/out.yaml" ] && [ ! -s "$tmp/stdout" ]'
check "-o writes the same transcript as stdout" 'cmp -s "$tmp/out.yaml" "$tmp/a.yaml" || { "$bin" replay "$sw" --format yaml 2>/dev/null | cmp -s - "$tmp/out.yaml"; }'

# ---- a saved session (and a yaml transcript) as input ------------------------------
sess=$(ls "$store"/*.yaml | head -n 1)
"$bin" replay "$sess" -m demo --seed 11 -n 12 --format jsonl >"$tmp/s1" 2>"$tmp/s.err"; rc=$?
want=$(grep -c "role: user" "$sess")
check "a saved session replays its $want user turns" \
  '[ $rc = 0 ] && [ "$(count "\"type\":\"user\"" "$tmp/s1")" = "$want" ]'
"$bin" replay "$tmp/out.yaml" --seed 11 -n 12 --format jsonl >"$tmp/s2" 2>/dev/null; rc=$?
check "a yaml transcript is a valid replay input too (3 user turns)" \
  '[ $rc = 0 ] && [ "$(count "\"type\":\"user\"" "$tmp/s2")" = 3 ]'

# ---- expect exit codes -------------------------------------------------------------
cat >"$tmp/pass.yaml" <<'Y'
seed: 1
generation: {temperature: 0, max_new_tokens: 5}
steps:
  - user: "hello"
  - expect: {max_tokens: 5, regex: "^.+$"}
Y
"$bin" replay "$tmp/pass.yaml" >/dev/null 2>&1
check "expects that hold: exit 0" '[ $? = 0 ]'
cat >"$tmp/fail.yaml" <<'Y'
seed: 1
generation: {temperature: 0, max_new_tokens: 5}
steps:
  - user: "hello"
  - expect: {contains: "this text will not appear"}
  - user: "again"
  - expect: {max_tokens: 2}
Y
"$bin" replay "$tmp/fail.yaml" >"$tmp/f.out" 2>"$tmp/f.err"; rc=$?
check "a failed expect: exit 1 naming step and line" \
  '[ $rc = 1 ] && grep -q "step 2 (line 5): expect contains" "$tmp/f.err"'
check "the steps after a failed expect still run" '[ "$(count "^\*\*Assistant" "$tmp/f.out")" = 2 ]'

# ---- bad scripts: exit 2, FILE:LINE:COL, nothing in the session store ----------------
rm -rf "$XDG_DATA_HOME"
bad_script() { # name, expected position, text
  pos=$2
  printf '%s\n' "$3" >"$tmp/bad.yaml"
  "$bin" replay "$tmp/bad.yaml" >"$tmp/bad.out" 2>"$tmp/bad.err"; rc=$?
  check "bad script ($1): exit 2 at $2: $(head -c 150 "$tmp/bad.err" | tr '\n' ' ')" \
    '[ $rc = 2 ] && grep -q "bad.yaml:$pos:" "$tmp/bad.err" && [ ! -s "$tmp/bad.out" ]'
}
bad_script "unknown key" 2:1 "$(printf 'model: demo\nmodle: x\nsteps:\n  - user: hi')"
bad_script "unknown generation key" 1:14 "generation: {temprature: 1}
steps: [{user: hi}]"
bad_script "wrong type" 1:10 "threads: many
steps: [{user: hi}]"
bad_script "seed is a string" 1:7 "seed: \"42\"
steps: [{user: hi}]"
bad_script "missing steps" 1:1 "model: demo"
bad_script "empty steps" 1:8 "steps: []"
bad_script "steps not a list" 1:8 "steps: {user: hi}"
bad_script "unknown command" 3:14 "steps:
  - user: hi
  - command: /frobnicate now"
bad_script "screen-only command" 2:14 "steps:
  - command: /theme dark"
bad_script "bad /quant value" 2:14 "steps:
  - command: /quant q3"
bad_script "unknown step" 3:5 "steps:
  - user: hi
  - assistant: hello"
bad_script "expect before any reply" 2:13 "steps:
  - expect: {contains: x}"
bad_script "bad regex" 3:21 "steps:
  - user: hi
  - expect: {regex: \"a(b\"}"
bad_script "a regex too costly to compile (stacked repetitions)" 3:21 "steps:
  - user: hi
  - expect: {regex: \"thre+++++++++++++++++++++++++++++++++++++\"}"
bad_script "unknown check" 3:14 "steps:
  - user: hi
  - expect: {startswith: x}"
bad_script "bad backend" 1:10 "backend: tpu
steps: [{user: hi}]"
bad_script "not YAML" 2:1 "steps: [
: ]"
head -c 1100000 /dev/zero | tr '\0' '#' >"$tmp/bad.yaml"
"$bin" replay "$tmp/bad.yaml" >/dev/null 2>"$tmp/bad.err"; rc=$?
check "bad script (a 1.1 MB file): exit 2 at 1:1 naming the cap" \
  '[ $rc = 2 ] && grep -q "bad.yaml:1:1: .*at most 1048576" "$tmp/bad.err"'
check "no bad script wrote anything to the session store" \
  '[ -z "$(ls -A "$store" 2>/dev/null)" ]'

# ---- failing switches: the reason, the previous model back, the next reply works ------
mkdir -p "$tmp/corrupt"
cp "$fx"/config.json "$fx"/tokenizer.model "$tmp/corrupt/"
head -c 200000 "$fx/model.safetensors" >"$tmp/corrupt/model.safetensors"
cat >"$tmp/switchfail.yaml" <<Y
seed: 3
generation: {temperature: 0, max_new_tokens: 6}
steps:
  - user: "first"
  - command: /model $tmp/no-such-model
  - user: "second"
  - command: /model $tmp/corrupt
  - user: "third"
  - command: /model demo
  - user: "fourth"
Y
"$bin" replay "$tmp/switchfail.yaml" -m "$fx" --format jsonl >"$tmp/sf.out" 2>"$tmp/sf.err"; rc=$?
check "failing switches make the replay exit 1 naming the first" \
  '[ $rc = 1 ] && grep -q "step 2 (line 5): /model .*no-such-model failed" "$tmp/sf.err"'
check "a missing directory: the reason is given, the model stays" \
  'grep "\"step\":2,\"type\":\"command\"" "$tmp/sf.out" | grep -q "\"ok\":false.*kept rope-safetensors-bf16"'
check "a truncated model.safetensors: the reason names the file, the previous model is back" \
  'grep "\"step\":4,\"type\":\"command\"" "$tmp/sf.out" | grep -q "model.safetensors.*kept rope-safetensors-bf16"'
check "after each failed switch the next reply comes from the previous model" \
  '[ "$(grep "\"type\":\"assistant\"" "$tmp/sf.out" | grep -c "\"model\":\"rope-safetensors-bf16\".*\"stop\":\"\(eos\|length\)\"")" = 3 ]'
check "a working switch after them loads demo and the conversation goes on (7 messages)" \
  'grep "\"step\":7,\"type\":\"assistant\"" "$tmp/sf.out" | grep -q "\"model\":\"demo\"" && [ "$(grep -c "role:" "$(ls -t "$store"/*.yaml | head -n 1)")" = 8 ]'

# ---- --matrix ------------------------------------------------------------------------
cat >"$tmp/cmp.yaml" <<'Y'
seed: 5
generation: {temperature: 0, max_new_tokens: 10}
steps:
  - user: "你好"
  - user: "Once upon a time"
Y
"$bin" replay "$tmp/cmp.yaml" -m "$fx" --matrix quant=f32,int8,nf4 >"$tmp/mx" 2>"$tmp/mx.err"; rc=$?
check "--matrix quant=f32,int8,nf4 writes a side-by-side report" \
  '[ $rc = 0 ] && grep -q "^| | quant = f32 | quant = int8 | quant = nf4 |" "$tmp/mx" && grep -q "^| peak memory (RSS) |" "$tmp/mx"'
check "the report has each reply with tokens/s and its agreement" \
  '[ "$(count "^## Reply" "$tmp/mx")" = 2 ] && [ "$(grep -o "tok/s · \(identical\|differs\|same first \([0-9]* tokens\|token\)\)" "$tmp/mx" | wc -l)" = 4 ]'
"$bin" replay "$tmp/cmp.yaml" --matrix model=demo,"$fx" -o "$tmp/mx.md" >/dev/null 2>&1; rc=$?
check "--matrix model=... -o FILE" '[ $rc = 0 ] && grep -q "| demo · cpu · f32 | rope-safetensors-bf16 · cpu · f32 |" "$tmp/mx.md"'
"$bin" replay "$tmp/cmp.yaml" --matrix colour=red >/dev/null 2>"$tmp/mx.err"; rc=$?
check "--matrix with an unknown key: exit 2" '[ $rc = 2 ] && grep -q "unknown key" "$tmp/mx.err"'
# A column whose model does not load (CUDA is off here: BC_CUDA_MODULE=off) is
# a failure in the report, with its reason, not "all held".
"$bin" replay "$tmp/cmp.yaml" --matrix backend=cpu,cuda >"$tmp/mx" 2>"$tmp/mx.err"; rc=$?
check "--matrix backend=cpu,cuda without CUDA: exit 1, the cuda column failed with its reason in the report" \
  '[ $rc = 1 ] && grep "^| checks |" "$tmp/mx" | grep -q "^| checks | all held | \*\*run failed:\*\* cannot load the model: cuda backend: .*BC_CUDA_MODULE=off" && grep -q "^| loaded | demo · cpu · f32 | (failed: see checks) |" "$tmp/mx"'
"$bin" replay "$tmp/cmp.yaml" --matrix model=demo,"$tmp/no-such-model" >"$tmp/mx" 2>/dev/null; rc=$?
check "--matrix model=demo,MISSING: exit 1, the missing model's column says why" \
  '[ $rc = 1 ] && grep "^| checks |" "$tmp/mx" | grep -q "run failed:.*no-such-model" && ! grep "^| checks |" "$tmp/mx" | grep -q "all held |$"'
"$bin" replay "$tmp/cmp.yaml" --matrix quant=f32,xx >"$tmp/mx" 2>"$tmp/mx.err"; rc=$?
check "--matrix quant=f32,xx: exit 2 before anything runs, one line naming the value" \
  '[ $rc = 2 ] && [ ! -s "$tmp/mx" ] && [ "$(wc -l <"$tmp/mx.err")" = 1 ] && grep -q "quant .xx. is not one of" "$tmp/mx.err"'
"$bin" replay "$tmp/cmp.yaml" --matrix quant=f32 --format jsonl >"$tmp/mx" 2>"$tmp/mx.err"; rc=$?
check "--matrix with --format jsonl: exit 2 (the report is Markdown)" \
  '[ $rc = 2 ] && [ ! -s "$tmp/mx" ] && grep -q "does not apply to --matrix" "$tmp/mx.err"'
"$bin" replay "$tmp/cmp.yaml" --matrix quant=f32 --matrix backend=cpu >"$tmp/mx" 2>"$tmp/mx.err"; rc=$?
check "a second --matrix: exit 2" '[ $rc = 2 ] && [ ! -s "$tmp/mx" ] && grep -q "given twice" "$tmp/mx.err"'

# ---- -o that cannot be written: refused before anything runs ---------------------------
"$bin" replay "$tmp/cmp.yaml" -o "$tmp/no-such-dir/x.md" >/dev/null 2>"$tmp/o.err"; rc=$?
check "-o in a missing directory: exit 1 up front, naming the path" \
  '[ $rc = 1 ] && grep -q "no-such-dir/x.md" "$tmp/o.err" && ! grep -q "^step \|loaded\|every step ran" "$tmp/o.err"'
"$bin" replay "$tmp/cmp.yaml" -o "$tmp" >/dev/null 2>"$tmp/o.err"; rc=$?
check "-o naming a directory: exit 1 up front" '[ $rc = 1 ] && grep -q "is a directory" "$tmp/o.err" && ! grep -q "^step " "$tmp/o.err"'
if [ -w /dev/full ]; then
  "$bin" replay "$tmp/cmp.yaml" -o /dev/full >/dev/null 2>"$tmp/o.err"; rc=$?
  check "-o that fails at the end: exit 1 and no \"every step ran\" summary" \
    '[ $rc = 1 ] && grep -q "transcript was not written" "$tmp/o.err" && ! grep -q "every step ran" "$tmp/o.err"'
fi

# ---- steps after /quit: counted, not silently dropped ------------------------------------
cat >"$tmp/quit.yaml" <<'Y'
seed: 1
generation: {temperature: 0, max_new_tokens: 4}
steps:
  - user: "hello"
  - command: /quit
  - user: "never sent"
  - expect: {contains: "never checked"}
Y
"$bin" replay "$tmp/quit.yaml" >"$tmp/q.out" 2>"$tmp/q.err"; rc=$?
check "steps after /quit: a warning and the summary count them (2 of 4 ran)" \
  '[ $rc = 0 ] && grep -q "warning: /quit at step 2: the 2 step(s) after it were skipped" "$tmp/q.err" && grep -q "2 of 4 steps ran (2 skipped after the /quit at step 2)" "$tmp/q.err" && ! grep -q "every step ran" "$tmp/q.err" && [ "$(count "^\*\*Assistant" "$tmp/q.out")" = 1 ]'
"$bin" replay "$tmp/quit.yaml" --matrix quant=f32 >"$tmp/mx" 2>/dev/null
check "--matrix: the report counts the steps skipped after /quit" 'grep -q "^| checks | all held; 2 step(s) skipped after /quit |" "$tmp/mx"'

# ---- no fixed seed: each run draws its own ---------------------------------------------
cat >"$tmp/noseed.yaml" <<'Y'
generation: {temperature: 1, max_new_tokens: 8}
steps:
  - user: "hello"
Y
for i in 1 2 3 4 5; do "$bin" replay "$tmp/noseed.yaml" 2>/dev/null | grep -v "^\*\*\|^#\|^_\|^$"; done >"$tmp/seeds"
check "without a seed, five replays back to back give at least two different replies" \
  '[ "$(sort -u "$tmp/seeds" | wc -l)" -ge 2 ]'

echo "1..$n"
[ $fail = 0 ]
