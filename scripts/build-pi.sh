#!/usr/bin/env bash
# Builds qrpos for the Raspberry Pi without Docker (what `cross` does in a container):
# rustup's target, Debian's cross gcc, and the target's -dev packages through multiarch.
#   scripts/build-pi.sh [aarch64|armv7] [--tests]
# aarch64: Pi 3/4/5 with a 64-bit OS; armv7: 32-bit Raspberry Pi OS. With --tests it also
# builds the library's tests instead (run them under qemu-user: scripts/test-pi.sh).
# Needs root or sudo for apt-get; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
arch="${1:-aarch64}"
case "$arch" in
  aarch64) target=aarch64-unknown-linux-gnu; deb=arm64; gnu=aarch64-linux-gnu ;;
  armv7)   target=armv7-unknown-linux-gnueabihf; deb=armhf; gnu=arm-linux-gnueabihf ;;
  *) echo "build-pi: unknown target $arch (aarch64 or armv7)" >&2; exit 2 ;;
esac
shift || true
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
packages=(gcc-$gnu libc6-dev-$deb-cross qemu-user
  libfontconfig-dev:$deb libudev-dev:$deb libinput-dev:$deb libxkbcommon-dev:$deb libc6-dev:$deb)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-pi: installing ${missing[*]}"
  dpkg --print-foreign-architectures | grep -qx "$deb" || $sudo dpkg --add-architecture "$deb"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

upper=$(echo "$target" | tr 'a-z-' 'A-Z_')
export "CARGO_TARGET_${upper}_LINKER=$gnu-gcc"
export "CC_${target//-/_}=$gnu-gcc"
# pkg-config finds the target's .pc files (multiarch), never the host's.
export PKG_CONFIG_ALLOW_CROSS=1
export "PKG_CONFIG_PATH_${target//-/_}=/usr/lib/$gnu/pkgconfig:/usr/share/pkgconfig"
export "PKG_CONFIG_SYSROOT_DIR_${target//-/_}=/"
# bindgen (nokhwa → v4l2-sys) parses the target's headers: the known `sys/time.h` failure
# is clang looking in the host's include path.
export "BINDGEN_EXTRA_CLANG_ARGS_${target//-/_}=--target=$gnu -I/usr/$gnu/include -I/usr/include/$gnu"
case "${1:-}" in
  --tests) cargo test --release --target "$target" --lib --no-run ;;
  --lib-test-path)
    # The library's test binary (for scripts/test-pi.sh), built by --tests.
    cargo test --release --target "$target" --lib --no-run --message-format=json 2>/dev/null |
      python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("profile",{}).get("test") and m["target"]["kind"]==["lib"] and m.get("executable"):
        print(m["executable"])'
    exit 0 ;;
  *) cargo build --release --target "$target"
     echo "build-pi: target/$target/release/qrpos" >&2 ;;
esac
