# Shared by the tmux suites (sourced): TAP output and screen polling. The
# caller defines T (tmux on its private socket) and runs the app in window "app".
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
hidden() { ! shows "$1"; }
# wait_for TEXT [SECONDS]: until the screen shows TEXT; wait_gone: until it does not.
wait_for() { poll "${2:-10}" shows "$1"; }
wait_gone() { poll "${2:-10}" hidden "$1"; }
# wait_file FILE [SECONDS]: until FILE exists.
wait_file() { poll "${2:-10}" test -e "$1"; }
app_pid() { T display -p -t app '#{pane_pid}'; }
app_dead() { [ "$(T display -p -t app '#{pane_dead}')" = 1 ]; }
wait_dead() { poll "${1:-10}" app_dead; }
