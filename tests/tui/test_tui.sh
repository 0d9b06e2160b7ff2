#!/bin/bash
# The TUI suite: drives the real binary inside a private tmux server (fixed
# 100x30, LANG=C.UTF-8) with the fake engine, and checks what the screen
# shows and what the session files hold. Every wait polls the screen until a
# match or a deadline; nothing sleeps for a fixed time to "let things happen".
#   tests/tui/test_tui.sh BINARY     (TAP output; a "1..0 # SKIP" plan when tmux is missing)
set -u
export LANG=C.UTF-8
unset LC_ALL
BIN=${1:?usage: test_tui.sh BINARY}
if ! command -v tmux >/dev/null; then
    # CI installs tmux: there its absence is a failure, not a skip.
    [ "${BC_REQUIRE_REFS:-0}" = 1 ] && { echo "1..1"; echo "not ok 1 - tmux is installed (BC_REQUIRE_REFS=1)"; exit 1; }
    echo "1..0 # SKIP tmux is not installed"; exit 0
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
SRC=${BC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bc-tui-test.XXXXXX")
SOCK_BASE="bc-tui-$$-$RANDOM" starts=0
SOCK="$SOCK_BASE-0"
T() { tmux -L "$SOCK" -f /dev/null "$@"; }
cleanup() {
    T kill-server 2>/dev/null
    rm -rf "$WORK"
    rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$SOCK_BASE"-*
}
trap cleanup EXIT

. "$(dirname "$0")/tmux_lib.sh"

# start [ENV=VALUE ...] -- [ARGS...]: a fresh app, loaded and idle.
start() {
    start_app "$@"
    wait_for "idle" 30   # generous: a loaded CI machine starts slowly
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
mkdir -p "$WORK/home" "$WORK/config/baichuan-chat"
# The layout checks below assume the full width for the transcript.
printf 'ui:\n  history_pane: false\n' > "$WORK/config/baichuan-chat/config.yaml"

# 1. A message and its streamed reply.
start -- || true
T send-keys -t app -l "hello there"
T send-keys -t app Enter
check "the typed message shows" "wait_for 'hello there' 5"
check "the reply streams in and completes" "wait_for 'Echo: hello there' 5 && wait_for 'Done.' 10"
check "status bar: model, backend, quant, idle, speeds, context" \
      "wait_for 'fake · cpu · f32 │ idle' 5 && screen | grep -q 'decode [0-9.]* t/s · ctx [0-9]*/4096'"

# 2. Bracketed multi-line paste = one message; the process goes idle after.
printf 'first pasted line\nsecond pasted line\nthird pasted line' > "$WORK/paste.txt"
T load-buffer -b p "$WORK/paste.txt"
T paste-buffer -t app -b p -p
# the input grows to its 3 rows in the same frame (no key after the paste):
# the last three rows of the screen are the prompt row and the two below it
input_rows() { screen | grep -v '^$' | tail -3 | tr '\n' '|'; }
input_is() { [ "$(input_rows)" = "$1" ]; }
check "a bracketed paste stays in the input line: its 3 rows show at once, not sent" \
      "poll 5 input_is '> first pasted line|second pasted line|third pasted line|'"
T send-keys -t app Enter
check "the paste is answered as one message" "wait_for 'Echo: first pasted line' 5 && wait_for 'Done.' 10"
f=$(grep -l 'first pasted line' "$(sessions_dir)"/*.yaml | head -1)
check "session file holds the 3 lines in ONE user message" \
      "[ \$(grep -c 'role: user' '$f') = 2 ] && grep -q '    second pasted line' '$f'"
pid=$(app_pid)
t0=$(cpu_ticks "$pid")
# A measurement window (not a synchronisation wait): CPU time must not grow
# by more than 5 ticks (50 ms) in one idle second.
sleep 1
t1=$(cpu_ticks "$pid")
check "idle after the paste: CPU ticks $t0 -> $t1 in 1 s" "[ $((t1 - t0)) -le 5 ]"

# 3. Ctrl-D at an empty prompt quits.
T send-keys -t app C-d
check "Ctrl-D at an empty prompt quits" "wait_dead 5"

# 4. CJK and emoji, input and output, aligned by display width.
wide=$(printf '表%.0s' $(seq 60))
emoji=$(printf '😀%.0s' $(seq 60))
start "BC_FAKE_REPLY=$wide
$emoji
e$(printf '\xcc\x81')x combining" -- || true
T send-keys -t app -l "中文输入 😀 ok"
T send-keys -t app Enter
check "CJK/emoji input echoed" "wait_for '中文输入 😀 ok' 5"
row49=$(printf '表%.0s' $(seq 49)); row11=$(printf '表%.0s' $(seq 11))
e49=$(printf '😀%.0s' $(seq 49))
wait_for "x combining" 5; wait_for "│ idle" 5
check "60 CJK characters wrap at 49 (98 columns) + 11" \
      "screen | grep -qx '  $row49' && screen | grep -qx '  $row11'"
check "60 emoji wrap at 49 + 11" "screen | grep -qx '  $e49'"
comb="  e$(printf '\xcc\x81')x combining"
check "a combining mark stays on its character (e + U+0301 in one cell)" "screen | grep -qxF -- '$comb'"
check "no screen row is wider than 100 columns" \
      "screen | /usr/bin/python3 -c '
import sys, unicodedata
w = lambda s: sum(2 if unicodedata.east_asian_width(c) in \"WF\" else 0 if unicodedata.combining(c) else 1 for c in s)
sys.exit(0 if all(w(l.rstrip(\"\\n\")) <= 100 for l in sys.stdin) else 1)'"
check "status bar intact on row 29" "screen | sed -n 29p | grep -q '^ fake · cpu · f32'"

# 5. Ctrl-C mid-reply stops it and keeps the partial reply; Ctrl-C never quits then.
start -- || true
T send-keys -t app -l "FAKE_LONG story"
T send-keys -t app Enter
wait_for "Line 3 of a long reply" 10
T send-keys -t app C-c
f=$(grep -l 'FAKE_LONG story' "$(sessions_dir)"/*.yaml | head -1)
check "Ctrl-C stops the reply" "wait_for 'stopped' 5 && wait_for '│ idle' 5"
check "the app still runs after Ctrl-C mid-reply" "! app_dead"
check "the partial reply is saved (stop: cancelled)" \
      "grep -q 'stop: cancelled' '$f' && grep -q 'Line 3 of a long reply' '$f' && ! grep -q 'Line 60 of' '$f'"
T send-keys -t app -l "after stop"
T send-keys -t app Enter
check "the next message is answered" "wait_for 'Echo: after stop' 5"
wait_for "│ idle" 10
T send-keys -t app C-c
check "first Ctrl-C at an empty prompt only warns" "wait_for 'press Ctrl-C again' 5 && ! app_dead"
T send-keys -t app C-c
check "second Ctrl-C within 1 s quits" "wait_dead 5"

# 6. Resize to 60x20 and back while a reply streams.
start -- || true
T send-keys -t app -l "FAKE_LONG resize"
T send-keys -t app Enter
wait_for "Line 2 of a long reply" 10
T resize-window -t app -x 60 -y 20
check "60x20: status bar on row 19" "wait_for 'generating' 5 && screen | sed -n 19p | grep -q '^ fake · cpu'"
check "60x20: streaming continues, rows re-wrapped within 60 columns" \
      "wait_for 'Line 9 of a long' 10 && screen | /usr/bin/python3 -c '
import sys, unicodedata
w = lambda s: sum(2 if unicodedata.east_asian_width(c) in \"WF\" else 1 for c in s)
lines = sys.stdin.read().split(\"\\n\")
sys.exit(0 if len(lines) >= 20 and all(w(l) <= 60 for l in lines) else 1)'"
T resize-window -t app -x 100 -y 30
check "back to 100x30 mid-stream: reply completes" "wait_for 'Done.' 30"
check "100x30: last lines of the reply, status bar, prompt in place" \
      "screen | grep -q '  Line 60 of a long reply: 长回复的一行 60.' && screen | sed -n 29p | grep -q '│ idle' && screen | sed -n 30p | grep -q '^>'"
T send-keys -t app PageUp
check "PgUp scrolls back and shows the 'new text below' marker" "wait_for 'new text below' 5"
T send-keys -t app End
check "End returns to the bottom" "wait_gone 'new text below' 5"

# 7. The history pane lists sessions after a restart.
T send-keys -t app -l "/quit"; T send-keys -t app Enter; wait_dead 5
start -- || true
T send-keys -t app -l "a very memorable topic"
T send-keys -t app Enter
wait_for "Echo: a very memorable topic" 5 && wait_for "│ idle" 10
T send-keys -t app -l "/quit"; T send-keys -t app Enter; wait_dead 5
start -- || true
T send-keys -t app Tab
check "after restart, Tab shows the pane with the saved conversation" \
      "wait_for 'Conversations' 5 && wait_for 'a very memorable topic' 5"
check "the pane lists newest first" \
      "screen | grep -n 'a very memorable topic\\|FAKE_LONG resize' | head -1 | grep -q memorable"
T send-keys -t app Tab
wait_for "Conversations (Tab)" 5
check "input history survives the restart (Up)" "T send-keys -t app Up; wait_for '> /quit' 5"
T send-keys -t app C-u C-r
T send-keys -t app -l "memorable"
check "Ctrl-R finds an earlier line" "wait_for \"(reverse-i-search)\\\`memorable': a very memorable topic\" 5"
T send-keys -t app C-g C-u Tab
wait_for "Conversations (Tab: back)" 5
T send-keys -t app Enter
check "Enter opens it" "wait_for 'opened a very memorable topic' 5 && wait_for 'Echo: a very memorable topic' 5"
# '/' in the pane finds conversations by title (case-insensitive); Esc shows all again
T send-keys -t app Tab
wait_for "Conversations (Tab: back)" 5
T send-keys -t app -l "/MEMOR"
check "'/' filters the pane as it is typed" \
      "wait_for 'Find: MEMOR_' 5 && wait_for 'a very memorable topic' 5 && wait_gone 'FAKE_LONG resize' 5"
T send-keys -t app BSpace BSpace BSpace BSpace BSpace; T send-keys -t app -l "nothing like it"
check "no match says so" "wait_for '(none match)' 5"
T send-keys -t app BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace
check "Backspace takes the filter back to nothing" "wait_for 'Find: _' 5 && wait_for 'FAKE_LONG resize' 5"
T send-keys -t app -l "memorable"
T send-keys -t app Enter
check "Enter keeps the filter" "wait_for '“memorable” (Esc: all)' 5"
T send-keys -t app Escape
check "Esc drops the filter" "wait_for 'Conversations (Tab: back)' 5 && wait_for 'FAKE_LONG resize' 5"
T send-keys -t app Tab
wait_for "Conversations (Tab)" 5

# 8. kill -9 mid-reply loses no completed message.
start -- || true
T send-keys -t app -l "message one"; T send-keys -t app Enter
wait_for "Echo: message one" 5 && wait_for "│ idle" 10
f=$(grep -l 'message one' "$(sessions_dir)"/*.yaml | head -1)
T send-keys -t app -l "FAKE_LONG message two"; T send-keys -t app Enter
# The partial reply is saved once a second; a line takes >= 80 ms (20
# pieces of 4 ms), so at Line 40 the file holds Line 20 or later.
wait_for "Line 40 of a long reply" 15
kill -9 "$(app_pid)"
wait_dead 5
check "after kill -9: the first exchange and the second question are on disk" \
      "grep -q 'message one' '$f' && grep -q 'Echo: message one' '$f' && grep -q 'FAKE_LONG message two' '$f'" ||
    sed 's/^/#   /' "$f"
check "after kill -9: the streamed part of the reply was saved too (within 1 s)" \
      "grep -q 'stop: streaming' '$f' && grep -q 'Line 20 of a long reply' '$f'"

start -- --session "$f" || true
check "--session FILE resumes: the interrupted reply is back at the bottom" \
      "wait_for 'Line 20 of a long reply' 5"
T send-keys -t app Home
check "--session FILE resumes: Home shows the first exchange" \
      "wait_for 'Echo: message one' 5 && wait_for 'FAKE_LONG message two' 5"
T send-keys -t app End
T send-keys -t app -l "/regen"; T send-keys -t app Enter
check "/regen answers again" "wait_for 'Echo: FAKE_LONG message two' 10 && wait_for 'generating' 5"
T send-keys -t app C-c
wait_for "│ idle" 10

# 8c. /quit mid-reply keeps what had streamed, as a stopped reply.
T send-keys -t app -l "FAKE_LONG message three"; T send-keys -t app Enter
wait_for "Line 50 of a long reply" 15
T send-keys -t app -l "/quit"; T send-keys -t app Enter
wait_dead 5
check "/quit mid-reply: the streamed part is on disk, marked stopped" \
      "grep -q 'FAKE_LONG message three' '$f' && grep -q 'Line 50 of a long reply' '$f' && grep 'stop:' '$f' | tail -1 | grep -q cancelled" ||
    tail -n 12 "$f" | sed 's/^/#   /'

# 8b. Loading shows a percentage and a bar.
T kill-server 2>/dev/null
starts=$((starts + 1)); SOCK="$SOCK_BASE-$starts"
T new-session -d -s app -x 100 -y 30 "exec $(printf '%q ' env LANG=C.UTF-8 HOME="$WORK/home" \
    XDG_DATA_HOME="$WORK/data" XDG_STATE_HOME="$WORK/state" XDG_CONFIG_HOME="$WORK/config" \
    BC_SOURCE_DIR="$SRC" "$BIN" -m fake:slow)"
check "loading: status shows 'loading NN%'" "wait_for 'fake:slow · auto · auto │ loading  ' 5 && screen | grep -q 'loading  *[0-9]*%'"
check "loading ends in idle" "wait_for 'fake:slow · cpu · f32 │ idle' 10"

# 9. A bad theme shows its error, and the app starts anyway.
printf 'name: broken\nstyles:\n  user: {fg: "#12345"}\n' > "$WORK/broken.yaml"
start -- --theme "$WORK/broken.yaml" || true
check "bad theme: the error names file, line and column" "wait_for 'broken.yaml:3:' 5"
T send-keys -t app -l "still works"; T send-keys -t app Enter
check "bad theme: the app still answers" "wait_for 'Echo: still works' 5"
T send-keys -t app -l "/set top_p 7"; T send-keys -t app Enter
check "bad /set value: one status message" "wait_for '/set top_p: 7 is not between 0 and 1' 5"
T send-keys -t app -l "/nosuch"; T send-keys -t app Enter
check "unknown command: one status message" "wait_for 'unknown command /nosuch' 5"
T send-keys -t app F1
check "F1 shows the help; /set's settings are all there, wrapped under it" \
      "wait_for '/regen' 5 && wait_for 'Ctrl-J / Alt-Enter' 5 && wait_for 'max_new_tokens|seed' 5"
T send-keys -t app PageDown
check "PgDn scrolls the help to the last command" "wait_for 'leave' 5 && wait_gone 'Keys (Up/Down' 5"
T send-keys -t app Up
check "Up scrolls back one row, the help stays" "wait_for '↓ more' 5 && wait_for '/rename' 5"
T send-keys -t app q
check "any other key closes the help" "wait_gone 'any other key closes it' 5 && wait_gone '/regen' 5"

# 10. /model with a failing model keeps the previous one and the conversation.
T send-keys -t app -l "/model fake:fail"; T send-keys -t app Enter
check "failed /model: error shown, previous model still loaded" \
      "wait_for 'Cannot load: fake:fail' 5 && wait_for 'Still using fake' 5"
T send-keys -t app -l "after failed load"; T send-keys -t app Enter
check "failed /model: the conversation goes on" "wait_for 'Echo: after failed load' 5 && screen | grep -q 'Echo: still works'"

# 9b. A bad configuration file shows its error, and the app starts anyway.
printf 'theme: dark\ngeneration:\n  top_p: [oops\n' > "$WORK/bad-config.yaml"
start -- -c "$WORK/bad-config.yaml" || true
check "bad config: the error names the file and the line" "wait_for 'bad-config.yaml:' 5"
T send-keys -t app -l "config ok?"; T send-keys -t app Enter
check "bad config: the app still answers" "wait_for 'Echo: config ok?' 5"

# 11. The built-in demo model through the real engine (replies are noise, but
# they stream, finish and report speeds).
start -- -m demo || true
check "demo model loads" "wait_for 'demo · cpu · f32 │ idle' 20"
T send-keys -t app -l "hi demo"; T send-keys -t app Enter
check "demo model answers and reports speeds" \
      "wait_for 'Assistant · demo' 10 && wait_for 'demo · cpu · f32 │ idle' 30 && screen | grep -q 'decode [0-9.]* t/s'"
T send-keys -t app -l "/model /nonexistent/model"; T send-keys -t app Enter
check "/model with a missing directory: an error, demo stays" \
      "wait_for 'nonexistent' 5 && screen | grep -q 'demo · cpu · f32 │ idle'"

echo "1..$n"
[ "$failed" = 0 ]
