# riskloop: `make run` sets up and runs the main job; `make test` sets up and passes the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export BENTOML_DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run test bench lint system-deps clean

# Debian packages the tests and benchmarks use: headless Chromium (Chromium's headless build,
# `chromium-headless-shell`, as Playwright runs for headless pages: half the CPU of the desktop
# `chromium` a page, tests/browser.py) renders the console and the HTML reports, a CJK font draws
# Chinese plot labels, wrk generates HTTP load for `make bench`, PostgreSQL lets the store tests
# run against a real server (RISKLOOP_TEST_PG_URL=auto). The desktop `chromium` stays installed
# for browser checks that look for it by that name. The check runs again when this file changes,
# so a package added here reaches a machine set up before.
SYSTEM_PACKAGES := chromium chromium-headless-shell fonts-wqy-microhei wrk postgresql
SYSTEM_STAMP := $(VENV)/.system-deps

install: $(STAMP) $(SYSTEM_STAMP)

$(SYSTEM_STAMP): Makefile
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "install these Debian packages first (as root):$$missing" >&2; exit 1; fi; \
	fi
	@mkdir -p $(VENV) && touch $(SYSTEM_STAMP)

system-deps: $(SYSTEM_STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade "pip>=24" setuptools wheel
	# pip byte-compiles what it installs on one core; compileall does it on all of them (CI: 2),
	# leaving out the packages' own test suites and the installers, which nothing here imports
	# (a quarter of the files: 6 s of the 21 s on 2 cores)
	$(BIN)/pip install --no-compile -c constraints.txt -e ".[dev]"
	$(BIN)/python -m compileall -q -j 0 -x '/tests?/|/site-packages/(pip|setuptools)/' $$($(BIN)/python -c "import sysconfig; print(sysconfig.get_path('purelib'))") models features training serving data_samples bench tests
	# compile and cache the TreeSHAP kernels (numba), checked against LightGBM: fails loudly
	$(BIN)/python -m models.explainer
	touch $(STAMP)

run: install
	$(BIN)/riskloop run

# The suite runs on TEST_WORKERS processes (pytest-xdist), a test file per worker at a time, so
# each file's module fixtures are made once, except that the tests sharing a session-wide
# service (the console's, the serving suite's, the loop's) go to a worker together in a few
# units, each built once per unit (tests/scheduling.py). Most tests wait on servers, browsers
# and subprocesses: on 2 cores, two workers with the suites as one unit each kept 1.5 cores
# busy (771 s), three with the units as now 1.5 (691 s), four 1.6 (676 s): 2026-12-06, one
# machine, in place; four on a fresh clone ran at a load average of 8 (858 s, the machine
# slower by then): three. TEST_WORKERS=0: one process, no workers.
# Work goes out in collection order, the shared services' units first, then the files known to
# be long: xdist's default (most tests first) left the files of few but long tests (a Dask
# cluster, a killed service) to the end, one worker running alone.
TEST_WORKERS ?= 3

# Each worker collects the whole suite, and pytest rewrites every test module's asserts as it
# imports it: its rewritten modules are kept in __pycache__ (gitignored) unless bytecode writing
# is off, as PYTHONDONTWRITEBYTECODE=1 in some environments turns it off. The suite runs with it
# on: three workers collecting everything and running nothing took 49-50 s of CPU with it off,
# 38-48 s with it on and nothing kept yet (workers reuse what another wrote first), 25 s once
# kept (2026-12-07, 2 cores).
test: install
	$(BIN)/lint-imports
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: install
	$(BIN)/python -m bench.run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
