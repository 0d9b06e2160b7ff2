#!/bin/bash
# Prompt length vs the context (issue "Hardening", item 6), on the built-in
# demo model (model_max_length 1024): Baichuan2's build_chat_input keeps whole
# rounds newest-first within max_input_tokens = model_max_length -
# max_new_tokens and truncates what is left from the left
# (inference/chat_template.h; the token-level cases are checked against the
# Python reference in the unit suite). Here the whole binary: a user message
# far longer than the context, a history that outgrows it, and a
# max_new_tokens that leaves no room for a prompt.
#   test_context.sh BINARY   (TAP)
set -u
BIN=$1
CTX=1024   # DEMO_CTX in inference/demo_model.c
NEW=8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bc-context.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export XDG_DATA_HOME="$WORK/data" XDG_CONFIG_HOME="$WORK/config" HOME="$WORK" BC_CUDA_MODULE=off
n=0 failed=0
check() { # check DESCRIPTION 'SHELL CONDITION'
    local what=$1
    n=$((n + 1))
    if eval "$2"; then echo "ok $n - $what"; else echo "not ok $n - $what"; failed=$((failed + 1)); fi
}
prompt_of() { # prompt_of STEP LOG: the prompt tokens of that step's summary line
    sed -n "s/^step $1 (line [0-9]*): [0-9]* tokens.*(prompt \([0-9]*\),.*/\1/p" "$2"
}

# 1. One user message of ~30000 tokens, then a short one.
long=$(printf '長い文章 long words %.0s' $(seq 3000))
cat > "$WORK/long.yaml" <<YAML
model: demo
threads: 1
seed: 1
generation: {max_new_tokens: $NEW}
steps:
  - user: "$long"
  - user: "short one"
YAML
"$BIN" replay "$WORK/long.yaml" >/dev/null 2>"$WORK/long.err"
rc=$?
p1=$(prompt_of 1 "$WORK/long.err")
p2=$(prompt_of 2 "$WORK/long.err")
check "a message longer than the context is answered (exit $rc)" \
    '[ "$rc" -eq 0 ]'
check "it is cut from the left to model_max_length - max_new_tokens = $((CTX - NEW)) tokens (got ${p1:-none})" \
    '[ "${p1:-0}" -eq $((CTX - NEW)) ]'
check "the next turn drops that round whole: a short prompt (${p2:-none} tokens)" \
    '[ -n "$p2" ] && [ "${p2:-9999}" -lt 50 ]'
check "the session keeps the long message as written" \
    'grep -q "長い文章 long words 長い文章" "$WORK"/data/baichuan-chat/sessions/*.yaml'

# 2. A history that outgrows the context: every prompt stays within it and
#    old rounds fall out (prompts stop growing).
{
    printf 'model: demo\nthreads: 1\nseed: 1\ngeneration: {max_new_tokens: %d}\nsteps:\n' $NEW
    for i in $(seq 1 14); do
        printf '  - user: "turn %d: %s"\n' "$i" "$(printf 'some words to fill the context %.0s' $(seq 12))"
    done
} > "$WORK/history.yaml"
"$BIN" replay "$WORK/history.yaml" >/dev/null 2>"$WORK/history.err"
rc=$?
prompts=$(for i in $(seq 1 14); do prompt_of "$i" "$WORK/history.err"; done | tr '\n' ' ')
max=$(echo "$prompts" | tr ' ' '\n' | sort -n | tail -1)
check "14 turns of a growing history all answered (exit $rc; prompts: $prompts)" \
    '[ "$rc" -eq 0 ] && [ "$(echo $prompts | wc -w)" -eq 14 ]'
check "no prompt exceeds $((CTX - NEW)) tokens (largest ${max:-none})" \
    '[ "${max:-99999}" -le $((CTX - NEW)) ]'
last=$(prompt_of 14 "$WORK/history.err")
total=$(echo "$prompts" | tr ' ' '\n' | awk '{s+=$1} END {print s}')
check "older rounds were dropped: the last prompt (${last:-none}) is not the whole history" \
    '[ "${last:-0}" -gt 0 ] && [ "${last:-0}" -lt $((CTX - NEW + 1)) ] && [ "$total" -gt $((CTX)) ]'

# 3. max_new_tokens that leaves no room for the prompt: a clear error.
out=$("$BIN" run -m demo -t 1 -n $CTX "hello" 2>&1 >/dev/null)
rc=$?
check "max_new_tokens = the context is refused with a message (exit $rc)" \
    '[ "$rc" -ne 0 ] && echo "$out" | grep -q "no room for the prompt"'
"$BIN" run -m demo -t 1 -n $((CTX - 1)) "hello there how are you" >/dev/null 2>"$WORK/one.err"
rc=$?
check "max_new_tokens = context - 1 still runs with a 1-token prompt (exit $rc)" \
    '[ "$rc" -eq 0 ] && grep -q "prompt: 1 tokens" "$WORK/one.err"'

echo "1..$n"
[ "$failed" -eq 0 ]
