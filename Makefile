# The two commands of the README. Each does all set-up first (idempotent).
.PHONY: setup drill test test-long bench lint protos

setup:
	@bash scripts/setup

# the main job: a local failover drill on the embedded default config
drill: setup
	.venv/bin/ring drill

# the test suite CI runs (see .ci/run); the Debian tools some tests use, when root can install them
test: setup
	@bash scripts/install-system-deps test
	.venv/bin/python -m pytest -q

# the long profile: many more Hypothesis examples and longer drills
test-long: setup
	@bash scripts/install-system-deps test
	RING_HYPOTHESIS_PROFILE=long RING_ROTATING=1 RING_ROTATING_EXAMPLES=2000 .venv/bin/python -m pytest -q --run-slow

bench: setup
	@bash scripts/install-system-deps bench
	.venv/bin/python -m bench

lint: setup
	.venv/bin/ruff check ring tests bench
	.venv/bin/mypy ring

protos: setup
	.venv/bin/python scripts/gen_protos.py
