#!/usr/bin/env bash
# The test suites once more, each started 1 s before a KST midnight (15:00 UTC), so that
# it crosses the date line while it runs (cargo takes a few tenths of a second to start it;
# a suite runs 1–6 s):
# every process's wall clock is set by Debian's faketime, so the sales, the offline queue,
# the resolver and the sandbox's business days all cross a date line mid-run.
#   FAKETIME_DONT_RESET=1          one timeline for the test and every process it starts
#                                  (without it each qrpos process would start again at
#                                  23:59:59, behind the codes the test just issued).
#   FAKETIME_DONT_FAKE_MONOTONIC=1 the monotonic clock stays real: the terminal measures its
#                                  waits on it, as a device does while its wall clock is set,
#                                  and faking it stalls tokio's timers (rustdoc hangs too,
#                                  hence --tests/--lib and no doc tests here).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v faketime >/dev/null || { echo "test-midnight: needs faketime (scripts/install-deps.sh)" >&2; exit 1; }
export TZ=UTC FAKETIME_DONT_RESET=1 FAKETIME_DONT_FAKE_MONOTONIC=1
start="$(date -u +%F) 14:59:59"
cargo test --no-run --quiet
targets=(--lib --bins)
for f in tests/*.rs; do targets+=("--test $(basename "$f" .rs)"); done
for target in "${targets[@]}"; do
  echo "test-midnight: cargo test $target, the clock starting at $start UTC (23:59:59 KST)"
  # shellcheck disable=SC2086
  faketime "$start" cargo test --quiet $target
done
