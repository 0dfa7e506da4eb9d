#!/usr/bin/env bash
# Installs the system packages qrpos builds against, if any is missing (Debian/Ubuntu).
# Safe to run again: it does nothing when everything is there.
#   pkg-config, libfontconfig-dev : the Slint UI (font discovery)
#   libclang-dev                  : the nokhwa camera crate (bindgen for V4L2)
#   gcc, libc6-dev                : crates that compile C
#   faketime                      : the tests that run the terminal on other dates
#   libudev-dev, libinput-dev,
#   libxkbcommon-dev              : the touchscreen on the Linux console (Slint linuxkms)
#   fonts-nanum, fonts-dejavu-core: Korean and Latin type for the screens
#   xvfb, xauth, xdotool          : the test that runs `qrpos run` in a real X window
set -euo pipefail
packages=(pkg-config libfontconfig-dev libclang-dev gcc libc6-dev faketime
  libudev-dev libinput-dev libxkbcommon-dev fonts-nanum fonts-dejavu-core xvfb xauth xdotool)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v cargo >/dev/null; then
  echo "install-deps: no Rust toolchain: install rustup from your distribution or rustup.rs, then re-run" >&2
  exit 1
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
if ! command -v apt-get >/dev/null; then
  echo "install-deps: not a Debian/Ubuntu system: install the equivalents of: ${missing[*]}" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
