#!/usr/bin/env bash
# The Pi build's own tests, run on this x86 host under qemu-user (scripts/build-pi.sh first
# installs the cross tools and qemu-user):
#   scripts/test-pi.sh [aarch64|armv7]
# Runs the library's tests (`--lib`): the sale domain, the journal (sled, fsync), the
# scanner on real images, the checkout and terminal against the in-process sandbox over
# loopback HTTP, the buzzer/LED patterns, the UI's pure parts. The integration tests in
# tests/ are not run here: each starts the `qrpos` binary as a child process, which needs
# the kernel to run an ARM binary transparently (binfmt_misc), and this host has none.
set -euo pipefail
cd "$(dirname "$0")/.."
arch="${1:-aarch64}"
case "$arch" in
  aarch64) target=aarch64-unknown-linux-gnu; qemu=qemu-aarch64 ;;
  armv7)   target=armv7-unknown-linux-gnueabihf; qemu=qemu-arm ;;
  *) echo "test-pi: unknown target $arch" >&2; exit 2 ;;
esac
bash scripts/build-pi.sh "$arch" --tests >&2
bin=$(bash scripts/build-pi.sh "$arch" --lib-test-path)
echo "test-pi: $qemu $bin"
# -L /: the target's loader and libraries come from the multiarch packages under /.
QEMU_LD_PREFIX=/ "$qemu" "$bin" --test-threads 2
