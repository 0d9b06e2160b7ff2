#!/bin/bash
# The TUI suite, part 2: --replay in the TUI, sampling defaults from the
# model's generation_config.json, /copy (OSC 52 into tmux's buffer), /export,
# /undo, /edit, /theme at runtime, history pane rename/delete, vi mode from an
# inputrc, the mouse wheel, Ctrl-C bytes inside a bracketed paste. Same rules
# as test_tui.sh: private tmux server, 100x30, LANG=C.UTF-8, poll until a
# match or a deadline, never a fixed sleep.
#   tests/tui/test_tui_more.sh BINARY     (TAP output)
set -u
export LANG=C.UTF-8
unset LC_ALL
BIN=${1:?usage: test_tui_more.sh BINARY}
if ! command -v tmux >/dev/null; then
    # CI installs tmux: there its absence is a failure, not a skip.
    [ "${BC_REQUIRE_REFS:-0}" = 1 ] && { echo "1..1"; echo "not ok 1 - tmux is installed (BC_REQUIRE_REFS=1)"; exit 1; }
    echo "1..0 # SKIP tmux is not installed"; exit 0
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
SRC=${BC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bc-tui-more.XXXXXX")
SOCK_BASE="bc-tui2-$$-$RANDOM" starts=0
SOCK="$SOCK_BASE-0"
# tmux.conf: OSC 52 from the app sets a tmux buffer (/copy is read back).
printf 'set -s set-clipboard on\n' > "$WORK/tmux.conf"
T() { tmux -L "$SOCK" -f "$WORK/tmux.conf" "$@"; }
cleanup() {
    T kill-server 2>/dev/null
    rm -rf "$WORK"
    rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$SOCK_BASE"-*
}
trap cleanup EXIT

. "$(dirname "$0")/tmux_lib.sh"
T0=$(date +%s.%N)
section() { printf '# %s (at %s s)\n' "$1" "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"; }
type_line() { T send-keys -t app -l "$1"; T send-keys -t app Enter; }
idle() { wait_for "│ idle" "${1:-10}"; }

# start [ENV=VALUE ...] -- [ARGS...]: a fresh app (tmux_lib.sh), not waited for.
start() { start_app "$@"; }
mkdir -p "$WORK/home" "$WORK/config/baichuan-chat"
printf 'ui:\n  history_pane: false\n' > "$WORK/config/baichuan-chat/config.yaml"

section "1. --replay"
# ---- 1. --replay: the script plays visibly; same conversation as `replay`.
cat > "$WORK/script.yaml" <<EOF
model: demo
seed: 42
generation: {temperature: 0.7, max_new_tokens: 12}
system: "Be brief."
steps:
  - user: "你好"
  - expect: {regex: "."}
  - command: /quant bf16
  - user: "second question"
  - expect: {contains: "zzz-not-there"}
  - command: /export $WORK/replay.md
EOF
XDG_DATA_HOME="$WORK/data-headless" XDG_CONFIG_HOME="$WORK/config" BC_SOURCE_DIR="$SRC" \
    "$BIN" replay "$WORK/script.yaml" -o "$WORK/headless-transcript.md" 2>"$WORK/headless.log"
mv "$WORK/replay.md" "$WORK/headless.md" 2>/dev/null
start -- -m demo --replay "$WORK/script.yaml"
check "--replay: user steps shown as typed, replies stream" \
      "wait_for 'replay finished: 1/2 expects held' 30 && screen | grep -q '^You' && screen | grep -q 'second question'"
check "--replay: expects shown with their outcome" \
      "screen | grep -q '✓ step 2: expect regex \".\": held' && screen | grep -q '✗ step 5: expect contains \"zzz-not-there\"'"
check "--replay: commands run through the command table (/quant bf16 switched)" \
      "screen | grep -q '▸ step 3: /quant bf16' && screen | grep -q 'demo · cpu · bf16 │ idle'"
check "--replay: the conversation equals headless replay's (byte-identical /export)" \
      "wait_file '$WORK/replay.md' 5 && cmp -s '$WORK/replay.md' '$WORK/headless.md'"
type_line "after the replay"
check "--replay: the TUI stays open and answers afterwards" \
      "wait_for 'after the replay' 5 && screen | grep -q 'Replay finished' && idle 20 && ! app_dead"
printf 'steps:\n  - user: hi\n  - bogus: 1\n' > "$WORK/bad.yaml"
start -- --replay "$WORK/bad.yaml"
check "--replay with a bad script: line:column shown, the TUI starts" \
      "wait_for 'bad.yaml:3:' 10 && idle"

section "2. Sampling"
# ---- 2. Sampling: the model's generation_config.json < config < /set.
for m in m1 m2; do
    mkdir -p "$WORK/$m"
    for f in "$SRC"/tests/data/models/rope-safetensors-bf16/*; do ln -s "$f" "$WORK/$m/"; done
    rm "$WORK/$m/generation_config.json"
done
printf '{"temperature": 0.55, "top_k": 7, "top_p": 0.66, "repetition_penalty": 1.2, "max_new_tokens": 9, "do_sample": true}\n' \
    > "$WORK/m1/generation_config.json"
printf '{"temperature": 0.25, "top_k": 4, "top_p": 0.9, "repetition_penalty": 1.1, "max_new_tokens": 11, "do_sample": true}\n' \
    > "$WORK/m2/generation_config.json"
printf 'ui:\n  history_pane: false\ngeneration:\n  top_p: 0.5\n  seed: 7\n' > "$WORK/sampling.yaml"
start -- -m "$WORK/m1" -c "$WORK/sampling.yaml"
idle 20
type_line "/stats"
check "sampling: model's generation_config, top_p from the configuration" \
      "wait_for 'Sampling: temperature 0.55, top_k 7, top_p 0.5, repetition_penalty 1.2, max_new_tokens 9, seed 7' 5"
type_line "/set top_k 3"; wait_for "top_k 3" 5
type_line "/model $WORK/m2"; wait_for "loaded" 10; idle 20
type_line "/stats"
check "sampling: after /model, the new model's defaults; /set and config still win" \
      "wait_for 'Sampling: temperature 0.25, top_k 3, top_p 0.5, repetition_penalty 1.1, max_new_tokens 11, seed 7' 5"

section "3. /copy"
# ---- 3. /copy (OSC 52 into tmux's paste buffer), /export, /undo, /edit.
start "BC_FAKE_REPLY=copy me: 你好 ✓ done" --
idle
type_line "first question"
wait_for "copy me: 你好 ✓ done" 5; idle
type_line "/copy"
check "/copy: status line" "wait_for 'copied the last reply (24 bytes) via OSC 52' 5"
check "/copy: the OSC 52 sequence reached the terminal (tmux buffer = the reply)" \
      "[ \"\$(T show-buffer 2>/dev/null)\" = 'copy me: 你好 ✓ done' ]"
type_line "second question"; wait_for "second question" 5; idle
type_line "/export $WORK/chat.md"
wait_for "exported" 5
printf '# first question\n\n**You:**\n\nfirst question\n\n**Assistant:**\n\ncopy me: 你好 ✓ done\n\n**You:**\n\nsecond question\n\n**Assistant:**\n\ncopy me: 你好 ✓ done\n\n' > "$WORK/chat.expected.md"
check "/export FILE.md: title and every message in order" "cmp -s '$WORK/chat.md' '$WORK/chat.expected.md'"
f=$(grep -l 'first question' "$(sessions_dir)"/*.yaml | head -1)
type_line "/undo"
check "/undo: the last exchange leaves the screen and the file" \
      "wait_for 'last exchange removed' 5 && ! screen | grep -q 'second question' && ! grep -q 'second question' '$f' && grep -q 'first question' '$f'"
type_line "a mesage with a typo"; wait_for "a mesage with a typo" 5; idle
type_line "/edit"
check "/edit: the last user message comes back into the input line" \
      "wait_for '> a mesage with a typo' 5"
T send-keys -t app C-u Enter
check "/edit, then an empty line: cancelled, the exchange stays on screen and in the file" \
      "wait_for 'edit cancelled' 5 && screen | grep -q '^  a mesage with a typo' && grep -q 'mesage' '$f'"
type_line "/edit"
check "/edit: until the edit is sent, the exchange stays on screen and in the file" \
      "wait_for '> a mesage with a typo' 5 && screen | grep -q '^  a mesage with a typo' && grep -q 'mesage' '$f'"
T send-keys -t app C-a M-f M-f C-w
T send-keys -t app -l "message"
T send-keys -t app Enter
check "/edit: the edited message is sent instead" \
      "wait_for '  a message with a typo' 5 && idle && [ \$(grep -c 'role: user' '$f') = 2 ] && grep -q 'a message with a typo' '$f' && ! grep -q 'mesage' '$f'"

section "4. /theme"
# ---- 4. /theme NAME at runtime: colours change (xterm 256-colour palette:
# light's status background #d0d0d0 is grey 232 + (0xd0 - 8) / 10 = 252).
status_sgr() { T capture-pane -e -p -t app | sed -n 29p; }
before=$(status_sgr)
type_line "/theme light"
wait_for "theme light" 5
after=$(status_sgr)
check "/theme light: the status bar's colours change to light's (48;5;252)" \
      "[ \"\$before\" != \"\$after\" ] && ! printf '%s' \"\$before\" | grep -q '48;5;252' && printf '%s' \"\$after\" | grep -q '48;5;252'"
type_line "/theme mono"
wait_for "theme mono" 5
check "/theme mono: no colour on the status bar, reverse video" \
      "! status_sgr | grep -q '[34]8;5;' && status_sgr | grep -q $'\\e\\[7m\\|;7m\\|\\[7;'"
type_line "/theme nosuchtheme"
check "/theme with an unknown name: an error, mono stays" "wait_for 'nosuchtheme' 5 && ! status_sgr | grep -q '[34]8;5;'"

section "5. History pane"
# ---- 5. History pane: rename and delete (with confirmation); arrow keys
# split across writes (the pane's own key decoder).
type_line "/quit"
rm -rf "$(sessions_dir)"
start -- ; idle; type_line "older topic"; wait_for "Echo: older topic" 5; idle; type_line "/quit"
start -- ; idle; type_line "newer topic"; wait_for "Echo: newer topic" 5; idle
T send-keys -t app Tab
wait_for "Conversations (Tab: back)" 5
# Down as "ESC [" then "B": two writes.
T send-keys -t app -H 1b 5b; T send-keys -t app -H 42
T send-keys -t app r
check "pane: Down split across writes selects the 2nd entry; r puts /rename in the input" \
      "wait_for '> /rename older topic' 5"
T send-keys -t app C-u
type_line "/rename Renamed topic"
check "pane: rename shows the new title" "wait_for 'renamed to “Renamed topic”' 5 && wait_for ' Renamed topic' 5"
old_file=$(grep -l 'older topic' "$(sessions_dir)"/*.yaml | head -1)
check "pane: the title is saved in the file" "grep -q 'title: Renamed topic' '$old_file'"
T send-keys -t app Tab; wait_for "Conversations (Tab: back)" 5
# Home or End ("ESC [" then "H" / "F") to the renamed one (the order of
# two files saved in the same second is not fixed).
if screen | grep -n 'Renamed topic\|newer topic' | head -1 | grep -q Renamed; then
    T send-keys -t app -H 1b 5b; T send-keys -t app -H 48
else
    T send-keys -t app -H 1b 5b; T send-keys -t app -H 46
fi
T send-keys -t app d
check "pane: d asks for confirmation" "wait_for 'delete “Renamed topic”? y/n' 5"
T send-keys -t app n
check "pane: n keeps it" "wait_for 'not deleted' 5 && [ -e '$old_file' ]"
# Delete as "ESC [", "3", "~": three writes.
T send-keys -t app -H 1b 5b; T send-keys -t app -H 33; T send-keys -t app -H 7e
check "pane: Delete (split in three writes) asks too" "wait_for 'delete “Renamed topic”? y/n' 5"
T send-keys -t app y
check "pane: y deletes the file and the entry" \
      "wait_for 'deleted' 5 && wait_gone 'Renamed topic' 5 && [ ! -e '$old_file' ] && screen | grep -q 'newer topic'"

section "6. vi mode"
# ---- 6. vi mode from an inputrc ($if baichuan-chat).
printf '$if baichuan-chat\nset editing-mode vi\n$endif\n' > "$WORK/inputrc"
start INPUTRC="$WORK/inputrc" --
idle
T send-keys -t app -l "hello brave world"
wait_for "> hello brave world" 5
T send-keys -t app Escape; T send-keys -t app -l "0wdw"
check "vi mode: Esc 0 w dw deletes a word" "wait_for '> hello world' 5"
T send-keys -t app -l "iX"
check "vi mode: i inserts" "wait_for '> hello Xworld' 5"
T send-keys -t app Enter
check "vi mode: Enter sends" "wait_for 'Echo: hello Xworld' 5"

section "7. Mouse wheel"
# ---- 7. Mouse wheel (ui.mouse: true) scrolls the transcript.
printf 'ui:\n  history_pane: false\n  mouse: true\n' > "$WORK/mouse.yaml"
start BC_FAKE_DELAY_MS=1 -- -c "$WORK/mouse.yaml"
idle
type_line "FAKE_LONG wheel"
wait_for "Done." 20; idle
wheel() { T send-keys -t app -l $'\e'"[<$1;10;5M"; }
wheel 64; wheel 64
check "wheel up: the view leaves the bottom (marker, earlier lines)" \
      "wait_for 'new text below' 5 && ! screen | grep -q 'Done.'"
wheel 65; wheel 65
check "wheel down: back at the bottom" "wait_gone 'new text below' 5 && screen | grep -q 'Done.'"

section "8. 0x03"
# ---- 8. 0x03 inside a bracketed paste is text, not Ctrl-C.
type_line "FAKE_LONG paste test"
wait_for "Line 3 of a long reply" 10
printf 'pasted\003text' > "$WORK/ctrlc.txt"
T load-buffer -b c "$WORK/ctrlc.txt"
T paste-buffer -t app -b c -p
check "a pasted 0x03 does not stop the reply; it is in the input line" \
      "wait_for '> pasted�text' 5 && wait_for 'Done.' 20 && ! screen | grep -q 'stopped'"
T send-keys -t app Enter
f=$(grep -l 'FAKE_LONG paste test' "$(sessions_dir)"/*.yaml | head -1)
check "the pasted message keeps its 0x03 (escaped in the session file)" \
      "wait_for 'Echo: pasted' 10 && grep -qF 'pasted\\x03text' '$f'"
T send-keys -t app -l "FAKE_LONG real ctrl-c"; T send-keys -t app Enter
wait_for "Line 2 of a long reply: 长回复的一行 2." 10
T send-keys -t app C-c
check "after the paste, a real Ctrl-C still stops a reply" "wait_for 'stopped' 5"

section "9. A failed switch"
# ---- 9. A failed /backend or /quant brings the previous model back, and the
# next command starts from it, not from the failed request.
start BC_CUDA_MODULE=off -- -m demo
idle
type_line "/backend cuda"
check "/backend cuda without CUDA: an error, the previous model comes back" \
      "wait_for 'Still using demo (cpu, f32)' 10 && idle"
type_line "/quant bf16"
check "the next /quant loads on the backend that works" \
      "wait_for 'demo · cpu · bf16 │ idle' 10"
type_line "/backend auto"
check "/backend auto is accepted (as --backend auto)" \
      "wait_for 'loaded demo (cpu, bf16)' 10 && ! screen | grep -q 'not one of'"

section "10. Conversations"
# ---- 10. Every new conversation gets the configured system prompt; lines
# typed while a reply streams are all sent, in order; the context figure
# follows the model's cache.
start -- --system "CFG SYSTEM PROMPT"
idle
type_line "first conversation"
wait_for "Echo: first conversation" 10; idle
check "after a reply the status bar counts the context" "screen | grep -q 'ctx [1-9][0-9]*/'"
type_line "/new"
check "/new: the context figure is back to 0" "wait_for 'ctx 0/' 5"
type_line "second conversation"
wait_for "Echo: second conversation" 10; idle
check "/new: the new conversation starts with the configured system prompt" \
      "[ \$(grep -l 'CFG SYSTEM PROMPT' \"\$(sessions_dir)\"/*.yaml | wc -l) = 2 ] && grep -l 'second conversation' \"\$(sessions_dir)\"/*.yaml | xargs grep -q 'role: system'"
type_line "FAKE_LONG streaming"
wait_for "Line 2 of a long reply" 10
type_line "queued one"
type_line "queued two"
check "two lines typed while a reply streams: both queued" "wait_for '2 messages queued' 5"
# in_order A B: a session file holds A, and B after it
in_order() {
    local f; f=$(grep -l -- "$2" "$(sessions_dir)"/*.yaml | head -1)
    [ -n "$f" ] && [ "$(grep -n -- "$1" "$f" | head -1 | cut -d: -f1)" -lt "$(grep -n -- "$2" "$f" | head -1 | cut -d: -f1)" ]
}
check "both are sent, in order, one after the other" \
      "wait_for 'Echo: queued two' 30 && idle && in_order 'queued one' 'queued two'"
type_line "FAKE_LONG again"
wait_for "Line 2 of a long reply" 10
type_line "typed before quitting"
type_line "/quit"
check "quitting with a line queued: it is kept in the conversation" \
      "wait_dead 10 && grep -l 'typed before quitting' \"\$(sessions_dir)\"/*.yaml | xargs grep -q 'FAKE_LONG again'"

section "11. Input rows"
# ---- 11. The input area grows in the same frame as the key that needs it
# (the screen is 30 rows: status bar, then the input rows at the bottom).
start --
idle
T send-keys -t app -l "line one"; T send-keys -t app C-j
check "Ctrl-J: two input rows at once, the prompt row above the new one" \
      "poll 5 row_is 29 '> line one' && row 28 | grep -q '│ idle'"
T send-keys -t app C-u
long=$(printf 'a%.0s' $(seq 1 120))
T send-keys -t app -l "$long"
check "a word longer than the row: broken inside the word, never after the prompt" \
      "poll 5 row_is 29 \"> \$(printf 'a%.0s' \$(seq 1 97))\" && row_is 30 \"\$(printf 'a%.0s' \$(seq 1 23))\""

section "12. --session"
# ---- 12. --session finds a conversation by file name or by title; one that
# is not there is an error before the screen opens.
start --
idle
type_line "a titled conversation"
wait_for "Echo: a titled conversation" 10; idle
type_line "/rename 新标题 with spaces"
wait_for "renamed to" 5
type_line "/quit"; wait_dead 10
start -- --session "新标题 with spaces"
check "--session TITLE opens the conversation of that title" \
      "wait_for 'Echo: a titled conversation' 10"
# (outside tmux: the app is gone before a tmux pane could be kept; script(1)
# gives it a terminal so that it is the chat screen it refuses to open)
T kill-server 2>/dev/null
out=$(env LANG=C.UTF-8 TERM=xterm HOME="$WORK/home" XDG_DATA_HOME="$WORK/data" \
      XDG_STATE_HOME="$WORK/state" XDG_CONFIG_HOME="$WORK/config" BC_SOURCE_DIR="$SRC" \
      script -qec "$(printf '%q ' "$BIN" -m fake --session "no such thing")" /dev/null 2>&1)
rc=$?
check "--session with an unknown name: exit 1 before the screen opens, saying why" \
      "[ \$rc = 1 ] && printf '%s' \"\$out\" | grep -q 'no such conversation'"

section "13. Status and screen"
# ---- 13. A status message too long for the bar is also written whole in
# the transcript; /clear survives /regen; ascii_borders reaches the status bar.
printf 'ui:\n  history_pane: false\n  ascii_borders: true\n' > "$WORK/ascii.yaml"
start -- -c "$WORK/ascii.yaml"
check "ascii_borders: the status bar uses ASCII separators" "wait_for 'fake - cpu - f32 | idle' 10"
type_line "/set foo 1"
check "a long status message is also in the transcript, whole" \
      "wait_for 'repetition_penalty, max_new_tokens, seed)' 5"
type_line "/set max_new_tokens 5000"
check "/set max_new_tokens as long as the context: refused where it is typed" \
      "wait_for 'leaves no room for a prompt' 5"
type_line "/set max_new_tokens 0"
check "/set out of range: the bounds as whole numbers" "wait_for 'not between 1 and 1048576' 5"
type_line "before the clear"
wait_for "Echo: before the clear" 10; wait_for "| idle" 10
type_line "/clear"
wait_gone "before the clear" 5
type_line "after the clear"
wait_for "Echo: after the clear" 10; wait_for "| idle" 10
type_line "/regen"
regen_kept_clear() { shows '| idle' && hidden 'before the clear' && screen | grep -q '^  after the clear' && shows 'Echo: after the clear'; }
check "/regen after /clear: the cleared part stays cleared, the answered message shows" \
      "poll 10 regen_kept_clear"

section "14. Switching conversations mid-reply"
# ---- 14. Opening another conversation (or a new one) while a reply streams:
# the reply stops and stays in its own conversation; the other is untouched.
rm -rf "$(sessions_dir)"
start BC_FAKE_DELAY_MS=40 --
idle
type_line "first one"
wait_for "Echo: first one" 10; idle
first_file=$(grep -l 'first one' "$(sessions_dir)"/*.yaml | head -1)
cp "$first_file" "$WORK/first.before"
type_line "/new"
type_line "second FAKE_LONG"
wait_for "Line 2 of a long reply" 10
T send-keys -t app Tab; wait_for "Conversations (Tab: back)" 5
T send-keys -t app /; T send-keys -t app -l "first one"; T send-keys -t app Enter Enter
check "the other conversation opens" "wait_for 'opened first one' 10"
second_file=$(grep -l 'second FAKE_LONG' "$(sessions_dir)"/*.yaml | head -1)
check "the conversation opened mid-reply is untouched (byte for byte)" \
      "sleep 0.5; cmp -s '$first_file' '$WORK/first.before'"
check "the stopped reply is kept in its own conversation, marked stopped" \
      "grep -q 'stop: cancelled' '$second_file' && grep -q 'Line 1 of a long reply' '$second_file'"
type_line "/new"
type_line "third FAKE_LONG"
wait_for "Echo: third" 10
type_line "/new"
check "/new mid-reply: the new conversation starts empty" \
      "wait_for 'new conversation' 5 && sleep 1.2 && ! screen | grep -q 'Echo: third'"

section "15. Signals, Ctrl-Z, TERM"
# ---- 15. SIGTERM mid-reply is a /quit (the partial reply and a queued line
# are kept); Ctrl-Z stops the process and `fg` (SIGCONT) brings the screen
# back; an unknown TERM falls back to a known one.
rm -rf "$(sessions_dir)"
start BC_FAKE_DELAY_MS=40 --
idle
type_line "FAKE_LONG to be terminated"
wait_for "Line 2 of a long reply" 10
type_line "queued before TERM"
kill -TERM "$(app_pid)"
# (not its exit status: tmux 3.3a's #{pane_dead_status} is sometimes empty
# for a process that did exit_group(0), seen with strace)
check "SIGTERM: the app leaves" "wait_dead 10"
f=$(grep -l 'to be terminated' "$(sessions_dir)"/*.yaml | head -1)
check "SIGTERM: the partial reply is kept as stopped, the queued line too" \
      "grep -q 'stop: cancelled' '$f' && grep -q 'queued before TERM' '$f'"
# Ctrl-Z needs a shell with job control, as a user has: bash -i runs the app
T kill-server 2>/dev/null
starts=$((starts + 1)); SOCK="$SOCK_BASE-$starts"
T new-session -d -s app -x 100 -y 30 "env -i PATH=$PATH TERM=tmux-256color bash --norc --noprofile -i"
T set-option -t app remain-on-exit on >/dev/null 2>&1
T send-keys -t app -l "$(printf '%q ' env LANG=C.UTF-8 LC_ALL=C.UTF-8 HOME="$WORK/home" \
    XDG_DATA_HOME="$WORK/data" XDG_STATE_HOME="$WORK/state" XDG_CONFIG_HOME="$WORK/config" \
    BC_SOURCE_DIR="$SRC" BC_FAKE_LOAD_MS=50 BC_FAKE_DELAY_MS=4 INPUTRC=/dev/null "$BIN" -m fake)"
T send-keys -t app Enter
idle
T send-keys -t app C-z
check "Ctrl-Z: the app stops and the shell takes the terminal back" "wait_for 'Stopped' 5"
T send-keys -t app -l "fg"; T send-keys -t app Enter
type_line "after fg"
check "fg: the screen is back and answers" "wait_for 'Echo: after fg' 10 && idle"
T send-keys -t app F1
wait_for "Keys (Up/Down" 5
T send-keys -t app Down Down
check "two scroll keys in one read scroll the help (it stays open)" "wait_for '↑ more' 5"
T send-keys -t app q
start BC_FAKE_LOAD_MS=30000 --
wait_for "loading" 5
T send-keys -t app C-d
check "quitting while a model loads: the app leaves at once (no wait for the load)" "wait_dead 3"
start TERM=xterm-nosuch-terminal --
check "an unknown TERM: drawn as xterm-256color, and said so" \
      "wait_for 'drawing as xterm-256color' 10 && idle"

echo "1..$n"
[ "$failed" = 0 ]
