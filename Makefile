# The README's commands. Each target sets up what it needs in .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2

.PHONY: run test e2e proof cluster lint install clean bench bench-scale api-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The site extra: gunicorn and the PostgreSQL driver, which a host of the plugin
# does not get from `pip install referral_site`.
$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[site]'
	touch $@

# Everything .installed has too, so run and bench need no second install.
$(VENV)/.installed-test: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[site,test]'
	touch $@ $(VENV)/.installed

# axe-core for the browser tests' accessibility checks (versions pinned by the lock).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

install: $(VENV)/.installed

## run: set up, migrate the SQLite database under instance/, serve on http://$(HOST):$(PORT)
## and run the background jobs (outbox, webhooks, periodic commands) beside it
run: $(VENV)/.installed
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi referrals worker & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	  $(BIN)/gunicorn --config gunicorn.conf.py --workers $(WORKERS) --bind $(HOST):$(PORT) \
	    --access-logfile - wsgi:app

## test: set up with the test extra and run the whole suite (browser tests included)
test: $(VENV)/.installed-test node_modules/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

## proof: the reliability and security suite (slow races included) and its figures
PROOF_DATABASE_URL ?=
# Hypothesis examples per database: route fuzzing, reward state machine sequences.
PROOF_SIZES = FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-250} \
	STATE_MACHINE_EXAMPLES=$${STATE_MACHINE_EXAMPLES:-150}
# With PROOF_DATABASE_URL, PostgreSQL (then the cluster) runs beside SQLite; its
# output is kept in test-artifacts/proof-postgresql.log and shown when both end.
proof: $(VENV)/.installed-test
	rm -rf test-artifacts/proof
	@mkdir -p test-artifacts
	@if [ -n "$(PROOF_DATABASE_URL)" ]; then \
	  (TEST_DATABASE_URL="$(PROOF_DATABASE_URL)" $(PROOF_SIZES) \
	    $(BIN)/pytest -q -m "slow or proof" && \
	  $(MAKE) --no-print-directory cluster \
	    CLUSTER_DATABASE_URL="$(PROOF_DATABASE_URL)") \
	    > test-artifacts/proof-postgresql.log 2>&1 & postgres=$$!; \
	  echo "== proof on SQLite =="; \
	  $(PROOF_SIZES) $(BIN)/pytest -q -m "slow or proof"; sqlite_status=$$?; \
	  wait $$postgres; postgres_status=$$?; \
	  echo "== proof on PostgreSQL, then the cluster =="; \
	  cat test-artifacts/proof-postgresql.log; \
	  [ $$sqlite_status -eq 0 ] && [ $$postgres_status -eq 0 ]; \
	else \
	  $(PROOF_SIZES) $(BIN)/pytest -q -m "slow or proof" && \
	  echo "PROOF_DATABASE_URL not set: PostgreSQL and multi-host columns skipped"; \
	fi
	$(BIN)/python -m tests.proof_report

## api-check: schemathesis against the running app with /api/openapi.json
## (API_CHECK_DATABASE_URL: a PostgreSQL database besides SQLite)
API_CHECK_DATABASE_URL ?=
api-check: $(VENV)/.installed-test
	$(BIN)/python -m tests.api_check
	@if [ -n "$(API_CHECK_DATABASE_URL)" ]; then \
	  $(BIN)/python -m tests.api_check --database-url "$(API_CHECK_DATABASE_URL)"; \
	else echo "API_CHECK_DATABASE_URL not set: PostgreSQL run skipped"; fi

## cluster: two gunicorn hosts behind HAProxy on loopback, with PostgreSQL (a schema
## of CLUSTER_DATABASE_URL) and a Redis of their own, driven through faults
CLUSTER_DATABASE_URL ?=
cluster: $(VENV)/.installed-test
	@command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || \
	  (apt-get install -y haproxy >/dev/null 2>&1 || (apt-get update >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy >/dev/null))
	@command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || \
	  (apt-get install -y redis-server >/dev/null 2>&1 || (apt-get update >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server >/dev/null))
	@if [ -z "$(CLUSTER_DATABASE_URL)" ]; then \
	  echo "Set CLUSTER_DATABASE_URL to a PostgreSQL database (a schema inside is used)"; \
	  exit 1; fi
	CLUSTER_DATABASE_URL="$(CLUSTER_DATABASE_URL)" \
	  $(BIN)/pytest -q -m cluster -p no:randomly tests/test_cluster.py

## e2e: only the browser tests (headless Chromium against gunicorn)
e2e: $(VENV)/.installed-test node_modules/.installed
	$(BIN)/pytest -m e2e $(PYTEST_ARGS)

## bench: seed a database, load the site and a bare Flask baseline, then the outbox and
## webhook figures (bench/outbox.py) and Stripe webhook events beside /api/conversions
## (bench/webhooks.py); write bench/RESULTS.md
BENCH_ARGS ?=
WEBHOOK_BENCH_ARGS ?=
bench: $(VENV)/.installed
	@command -v wrk >/dev/null || (apt-get install -y wrk >/dev/null 2>&1 || \
	  (apt-get update >/dev/null && apt-get install -y wrk >/dev/null)) || \
	  echo "wrk unavailable: using the Python load generator"
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.outbox $(OUTBOX_BENCH_ARGS)
	$(BIN)/python -m bench.webhooks $(WEBHOOK_BENCH_ARGS)

## bench-scale: /admin at 10k and at 1M referrals / 10M clicks (slow: large seed)
bench-scale: $(VENV)/.installed
	$(BIN)/python -m bench.scale $(BENCH_ARGS)

## lint: static checks (ruff, bandit, import contracts)
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -q -c pyproject.toml -r referral_site
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) node_modules instance/*.db* test-artifacts
