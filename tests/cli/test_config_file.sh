#!/bin/sh
# -c FILE in the headless modes: the user named that file, so a missing or
# wrong one stops the mode (exit 2, the file named on one line per error)
# instead of a warning and a run on other settings. The user's own config
# file stays a warning (the program goes on with the other layers), and a
# preset whose model is another preset loads that preset's model.
bin="$1"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
export XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/data" XDG_STATE_HOME="$tmp/state"
n=0; fail=0
check() { # description, condition
  n=$((n + 1))
  if eval "$2"; then echo "ok $n - $1"
  else echo "not ok $n - $1"; sed 's/^/#   /' "$tmp/err"; fail=$((fail + 1)); fi
}
runs() { # expected exit, command...: runs it with stdout discarded, stderr in $tmp/err
  want=$1; shift
  "$@" </dev/null >/dev/null 2>"$tmp/err"; got=$?
  [ "$got" = "$want" ]
}
missing="$tmp/missing.yaml"
printf 'threads: 2\nbackend: gpu\n' >"$tmp/bad.yaml"
printf 'hello world\n' >"$tmp/text.txt"
script="$BC_SOURCE_DIR/config/replay-example.yaml"

check "run -c MISSING: exit 2 naming the file" \
  "runs 2 '$bin' run -c '$missing' -n 2 hi && grep -q 'missing.yaml: cannot open' '$tmp/err' && [ \$(wc -l <'$tmp/err') = 1 ]"
check "run -c FILE with a wrong value: exit 2 at FILE:LINE:COLUMN" \
  "runs 2 '$bin' run -c '$tmp/bad.yaml' -n 2 hi && grep -q 'bad.yaml:2:10: backend' '$tmp/err'"
check "tokenize -c MISSING: exit 2" "runs 2 '$bin' tokenize -c '$missing' hi"
check "bench -c MISSING: exit 2" "runs 2 '$bin' bench -m demo -c '$missing' -p 4 -n 2"
check "bench --tokenizer -c MISSING: exit 2" \
  "runs 2 '$bin' bench --tokenizer -m demo -c '$missing' -f '$tmp/text.txt'"
check "perplexity -c MISSING: exit 2" "runs 2 '$bin' perplexity -m demo -f '$tmp/text.txt' -c '$missing'"
check "replay -c MISSING: exit 2" "runs 2 '$bin' replay '$script' -c '$missing'"
check "replay --matrix -c MISSING: exit 2, nothing run" \
  "runs 2 '$bin' replay '$script' --matrix quant=f32,int8 -c '$missing' && ! grep -q '== quant' '$tmp/err'"

mkdir -p "$XDG_CONFIG_HOME/baichuan-chat"
printf 'threads: [\n' >"$XDG_CONFIG_HOME/baichuan-chat/config.yaml"
check "a broken user config.yaml is a warning: the mode runs (exit 0)" \
  "runs 0 '$bin' tokenize hi && grep -q 'config.yaml:2:' '$tmp/err'"
rm "$XDG_CONFIG_HOME/baichuan-chat/config.yaml"

printf 'presets:\n  alias: {model: small}\n  small: {model: demo}\n' >"$tmp/presets.yaml"
check "-m PRESET whose model is another preset loads that preset's model" \
  "runs 0 '$bin' run -c '$tmp/presets.yaml' -m alias -n 2 --seed 1 hi && ! grep -q 'not found' '$tmp/err'"
echo "1..$n"
[ $fail = 0 ]
