# The two commands of the README. Each installs missing system packages first.
.PHONY: run test deps

deps:
	@bash scripts/install-deps.sh

# The desktop demo: a one-time QR for the sandbox customer alice, charged through the
# sandbox backend embedded in the terminal process. No setup, no network.
run: deps
	cargo run --quiet -- demo

test: deps
	cargo test
