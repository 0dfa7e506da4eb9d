# The two commands of the README. Each installs missing system packages first.
.PHONY: run demo test deps bench bench-ui

deps:
	@bash scripts/install-deps.sh

# The desktop demo: the touchscreen in a window; in the same process, on loopback, the
# open-banking testbed as the bank and the payment host in front of it (the terminal holds
# only its own credentials); a camera that shows the sandbox customer alice's fresh one-time
# code at each sale. No setup, no network, no webcam.
run: deps
	cargo run --release --quiet -- run --camera demo --protocol host

# The same sale headless (no display): alice's code from an image, charged and printed.
demo: deps
	cargo run --release --quiet -- demo --protocol host

# Every suite (beside a throwaway PostgreSQL for the host's tests, when PostgreSQL is
# installed), then every suite again with the clock starting 5 s before a KST midnight.
test: deps
	bash scripts/with-postgres.sh cargo test
	bash scripts/test-midnight.sh

# The scanner against zxing-cpp and zbar on the sample photos (release build).
bench:
	command -v zbarimg >/dev/null || sudo apt-get install -y zbar-tools
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/pip install -q zxing-cpp numpy pyzbar
	cargo run --release -- bench decode ../shared/qr-samples/*

# The touchscreen's targets (release build), under a virtual X display for the cold start.
bench-ui: deps
	cargo build --release --quiet
	xvfb-run -a -s "-screen 0 1024x768x24" target/release/qrpos bench ui
