# The two commands of the README. Each installs missing system packages first.
.PHONY: run test deps bench

deps:
	@bash scripts/install-deps.sh

# The desktop demo: a one-time QR for the sandbox customer alice, charged through the
# sandbox backend embedded in the terminal process. No setup, no network.
run: deps
	cargo run --quiet -- demo

# Every suite, then every suite again with the clock starting 5 s before a KST midnight.
test: deps
	cargo test
	bash scripts/test-midnight.sh

# The scanner against zxing-cpp and zbar on the sample photos (release build).
bench:
	command -v zbarimg >/dev/null || sudo apt-get install -y zbar-tools
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/pip install -q zxing-cpp numpy pyzbar
	cargo run --release -- bench decode ../shared/qr-samples/*
