#!/usr/bin/env bash
# The arm64 .deb from the aarch64 build (scripts/build-pi.sh), with cargo-deb 3.x, and a
# check that it holds what an installation needs:
#   scripts/package-pi.sh        → target/aarch64-unknown-linux-gnu/debian/qrpos_*_arm64.deb
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --version "^3"
bash scripts/build-pi.sh aarch64
# Stripped with the cross binutils (the host's strip cannot read an ARM binary).
deb=$(cargo deb --target "$target" --no-build --strip --quiet)
echo "package-pi: $deb"
listing=$(dpkg-deb -c "$deb")
echo "$listing"
for path in ./usr/bin/qrpos ./usr/lib/systemd/system/qrpos.service ./etc/qrpos/qrpos.toml \
            ./lib/udev/rules.d/99-qrpos.rules ./usr/lib/sysusers.d/qrpos.conf; do
  grep -q " $path\$" <<<"$listing" || { echo "package-pi: $path is missing from the .deb" >&2; exit 1; }
done
dpkg-deb -f "$deb" Architecture | grep -qx arm64 || { echo "package-pi: not an arm64 package" >&2; exit 1; }
# (Whole outputs first: a reader that stops early would fail the pipe under pipefail.)
conffiles=$(dpkg-deb -I "$deb" conffiles)
grep -x /etc/qrpos/qrpos.toml <<<"$conffiles" >/dev/null \
  || { echo "package-pi: the config is not a conffile" >&2; exit 1; }
unpacked=$(mktemp -d)
dpkg-deb -x "$deb" "$unpacked"
file_type=$(od -An -tx1 -N20 "$unpacked/usr/bin/qrpos" | tr -d ' \n')
rm -rf "$unpacked"
# ELF, 64-bit, machine 0xb7 (AArch64) at offset 18.
[ "${file_type:36:4}" = "b700" ] || { echo "package-pi: usr/bin/qrpos is not an AArch64 binary" >&2; exit 1; }
echo "package-pi: the listing holds the binary, the unit, the config (conffile), the udev rules and the sysusers file"
