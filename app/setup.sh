#!/bin/sh
# Installs what baichuan-chat needs on a Debian/Ubuntu machine (only what is
# missing), then configures and builds into build/. Idempotent.
#   app/setup.sh            install + build
#   BC_SETUP_TEST=1 ...     also the packages the test suite needs
set -eu
cd "$(dirname "$0")/.."

pkgs="gcc pkg-config meson ninja-build libncurses-dev libreadline-dev libyaml-dev libopenblas-dev"
if [ "${BC_SETUP_TEST:-0}" = 1 ]; then
  # Test references: SentencePiece (ids), numpy (float64 reference forward pass),
  # tmux (TUI suite), clang (sanitizer and fuzz builds).
  pkgs="$pkgs python3 python3-numpy python3-sentencepiece sentencepiece tmux clang"
fi

missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing:$missing" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing >&2
fi

# nvcc is often installed outside PATH; with -Dcuda=auto the build uses it when found.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  PATH="$PATH:/usr/local/cuda/bin"; export PATH
fi

if [ -f build/build.ninja ]; then
  meson setup --reconfigure build >/dev/null
else
  meson setup build >/dev/null
fi
ninja -C build >&2
