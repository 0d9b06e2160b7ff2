# Shared by the tmux suites (sourced): TAP output, screen polling, starting the
# app. The caller defines T (tmux on its private socket); the app runs in
# window "app".
# Every wait polls until a match or a deadline; nothing sleeps to "let things happen".
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
    echo "# screen:"; T capture-pane -p -t app 2>/dev/null | sed 's/^/#   /'
}
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

screen() { T capture-pane -p -t app 2>/dev/null; }
# poll SECONDS COMMAND...: until COMMAND succeeds or SECONDS pass.
poll() {
    local deadline=$(( $(date +%s) + $1 )); shift
    while [ "$(date +%s)" -le "$deadline" ]; do "$@" && return 0; sleep 0.05; done
    return 1
}
shows() { screen | grep -qF -- "$1"; }
# row N: line N (1-based) of the screen; row_is N TEXT: it is exactly TEXT
row() { screen | sed -n "${1}p"; }
row_is() { [ "$(row "$1")" = "$2" ]; }
hidden() { ! shows "$1"; }
# wait_for TEXT [SECONDS]: until the screen shows TEXT; wait_gone: until it does not.
wait_for() { poll "${2:-10}" shows "$1"; }
wait_gone() { poll "${2:-10}" hidden "$1"; }
# wait_file FILE [SECONDS]: until FILE exists.
wait_file() { poll "${2:-10}" test -e "$1"; }
app_pid() { T display -p -t app '#{pane_pid}'; }
app_dead() { [ "$(T display -p -t app '#{pane_dead}')" = 1 ]; }
wait_dead() { poll "${1:-10}" app_dead; }

# start_app [ENV=VALUE ...] -- [ARGS...]: a fresh app (the fake engine unless
# ARGS give -m) in window "app" of a fresh server. The caller sets WORK, SRC,
# BIN, SOCK_BASE and `starts`. A new server (socket) per app: reusing a socket
# right after kill-server races with the old server's exit. The environment
# goes through env(1): tmux's own -e is avoided (tmux 3.3a's server dies on
# some of them, e.g. -e LC_ALL=...).
start_app() {
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    T kill-server 2>/dev/null
    starts=$((starts + 1)); SOCK="$SOCK_BASE-$starts"
    T new-session -d -s app -x 100 -y 30 "exec $(printf '%q ' env -u NO_COLOR -u BC_FAKE_ENGINE \
        LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=tmux-256color HOME="$WORK/home" \
        XDG_DATA_HOME="$WORK/data" XDG_STATE_HOME="$WORK/state" \
        XDG_CONFIG_HOME="$WORK/config" BC_SOURCE_DIR="$SRC" \
        BC_FAKE_LOAD_MS=50 BC_FAKE_DELAY_MS=4 INPUTRC=/dev/null "${envs[@]}" "$BIN" -m fake "$@")"
    if ! T set-option -t app remain-on-exit on >/dev/null 2>&1; then
        echo "Bail out! tmux cannot start a server"; exit 1
    fi
}
sessions_dir() { echo "$WORK/data/baichuan-chat/sessions"; }
