# The two commands: `make run` and `make test`. Everything else is a step they share.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: run test install kernels lint typecheck pytest schema bench bench-api clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/crowdship serve --migrate --with-worker

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy marketplace matching schema stripefake vanrounds tests alembic

# Compiles the matching engine's numba kernels into their cache (about 30 s on a fresh checkout,
# under a second afterwards), so time-limited solves in tests are not spent compiling.
kernels: install
	$(BIN)/python -m matching generate --parcels 30 --trips 10 --seed 1 | $(BIN)/python -m matching solve - --quiet --gap 0 > /dev/null

pytest: kernels
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# Matching (greedy vs MILP on S, M, L and L-dense, the 5 s anytime check, warm vs cold rounds;
# BENCH_MATCHING_ARGS="--sizes S,M --warm-sizes M" narrows it), then booking (N single bookings vs one
# bookJobs call), then a matching round (database to written offers vs the engine alone on the same
# instance), then offers accepted per second with 50 couriers at once, then location pings (200 couriers
# at once, against raw inserts) and ping-to-subscriber fan-out across two replicas (against a bare NOTIFY),
# then webhook deliveries per second by one worker (against a bare httpx POST loop), then deliveries
# settled per second (against the bare Stripe calls) and a day of 10,000 deliveries reconciled (against
# listing Stripe's side); each compares with its baseline in the same run. bench-api alone needs no kernels: BENCH_API_ARGS="--rows 100 --json",
# BENCH_ROUND_ARGS, BENCH_ACCEPT_ARGS="--couriers 20", BENCH_PINGS_ARGS="--couriers 50",
# BENCH_WEBHOOKS_ARGS, BENCH_SETTLE_ARGS="--deliveries 100", BENCH_RECONCILE_ARGS="--deliveries 1000" to vary them.
bench: kernels
	$(BIN)/python -m matching bench $(BENCH_MATCHING_ARGS)
	$(BIN)/python -m marketplace.bench_booking $(BENCH_API_ARGS)
	$(BIN)/python -m marketplace.bench_round $(BENCH_ROUND_ARGS)
	$(BIN)/python -m marketplace.bench_accept $(BENCH_ACCEPT_ARGS)
	$(BIN)/python -m marketplace.bench_pings $(BENCH_PINGS_ARGS)
	$(BIN)/python -m marketplace.bench_webhooks $(BENCH_WEBHOOKS_ARGS)
	$(BIN)/python -m marketplace.bench_settle $(BENCH_SETTLE_ARGS)
	$(BIN)/python -m marketplace.bench_reconcile $(BENCH_RECONCILE_ARGS)

# The API's hot paths (a retailer's jobs page, a courier's offers and trips, quote + book) through GraphQL
# against a raw litestar + asyncpg endpoint with the same auth, SQL and JSON, interleaved, at 16 and 64
# clients and with `serve --workers 2`; then the booking benchmark. BENCH_HOT_ARGS="--duration 2" to vary.
bench-api: install
	$(BIN)/python -m marketplace.bench_api $(BENCH_HOT_ARGS)
	$(BIN)/python -m marketplace.bench_booking $(BENCH_API_ARGS)

schema: install
	$(BIN)/python -m schema.export > schema.graphql

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
