#!/bin/sh
# Compares bc_tokenizer with SentencePiece on Baichuan2's real tokenizer.model:
# the cases (and a 1 MiB text) are generated now, into the build directory,
# by make_cases.py with python3-sentencepiece; the model is never copied.
#   run_real.sh TEST_BINARY
# A skip prints the TAP plan "1..0 # SKIP" and exits 0: under protocol 'tap'
# meson 1.0 counts exit status 77 as an error. BC_SHARED_DIR overrides where
# the shared folder is (default: ../shared next to the source tree).
shared="${BC_SHARED_DIR:-$BC_SOURCE_DIR/../shared}"
model="$shared/baichuan2/13B-Chat/tokenizer.model"
if [ ! -f "$model" ]; then
  echo "1..0 # SKIP $model not found (the shared Baichuan2 files are absent)"; exit 0
fi
if ! /usr/bin/python3 -c 'import sentencepiece' 2>/dev/null; then
  # CI installs the reference: there its absence is a failure, not a skip.
  if [ "${BC_REQUIRE_REFS:-0}" = 1 ]; then
    echo "1..1"; echo "not ok 1 - python3-sentencepiece is importable (BC_REQUIRE_REFS=1)"; exit 1
  fi
  echo "1..0 # SKIP python3-sentencepiece is not installed"; exit 0
fi
out="$BC_BUILD_DIR/tests/tokenizer-real"
mkdir -p "$out" || exit 1
/usr/bin/python3 "$BC_SOURCE_DIR/tests/tokenizer/make_cases.py" "$model" "$out/real.cases" \
  --count 3000 --seed 7 --big "$out/big.txt" "$out/big.ids" >&2 || exit 1
exec "$1" "$model" "$out/real.cases" "$out/big.txt" "$out/big.ids"
