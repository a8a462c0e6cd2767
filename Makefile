# Shopper Segments: `make serve` starts the service on the bundled model, `make test` runs the tests.
# Both install exact versions from the hashed lock files in requirements/ (`make lock` rewrites them
# from pyproject.toml): `serve` into .venv-run, the service's runtime only; `test` into .venv, with
# the training and dev extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_VENV := .venv-run
RUN_BIN := $(RUN_VENV)/bin
HOST ?= 0.0.0.0
PORT ?= 8000
DATA ?= ../shared/data

.PHONY: install install-run lock serve test lint browser nginx java default-model loadtest bench bench-peer

$(BIN)/.installed: requirements/dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

install: $(BIN)/.installed

# The runtime venv: what the container holds (no training, report or test packages). No pip or
# setuptools inside (the outer pip installs into it), without the files scripts/slim_venv.py lists
# (test suites, headers, pyarrow Flight/S3), bytecode only for what the service imports (-I: also
# under PYTHONDONTWRITEBYTECODE): docs/operations.md, "Installing".
$(RUN_BIN)/.installed: requirements/runtime.lock pyproject.toml scripts/slim_venv.py
	$(PYTHON) -m venv --clear --without-pip $(RUN_VENV)
	$(PYTHON) -m pip --python $(RUN_BIN)/python install --quiet --no-compile --require-hashes \
		-r requirements/runtime.lock
	$(PYTHON) -m pip --python $(RUN_BIN)/python install --quiet --no-compile --no-deps .
	$(PYTHON) scripts/slim_venv.py $(RUN_VENV)
	$(RUN_BIN)/python -I -c "import shopper_segments.app.main, shopper_segments.app.serve"
	touch $@

install-run: $(RUN_BIN)/.installed

# The lock files, from pyproject.toml (Python 3.11, every wheel's hash). Run after changing dependencies.
lock: install
	$(BIN)/uv pip compile --quiet pyproject.toml --python-version 3.11 --generate-hashes \
		-o requirements/runtime.lock
	$(BIN)/uv pip compile --quiet pyproject.toml --python-version 3.11 --generate-hashes --extra train \
		-o requirements/train.lock
	$(BIN)/uv pip compile --quiet pyproject.toml --python-version 3.11 --generate-hashes --extra train \
		--extra dev --extra spark -o requirements/dev.lock

# uvicorn with the header/body/shutdown deadlines and JSON logs (app/serve.py); one worker per
# CPU unless SEGMENTS_WORKERS says otherwise, metrics and drift shared by the workers.
# --loop asyncio: under saturation uvloop answered some connections 1-2 s late (README, Performance).
serve: install-run
	$(RUN_BIN)/python -m shopper_segments.app.serve --host $(HOST) --port $(PORT) --timeout-keep-alive 75 --loop asyncio

lint: install
	$(BIN)/ruff check app training segments_core tests scripts
	$(BIN)/ruff format --check app training segments_core tests scripts
	$(BIN)/mypy

# The page's browser test drives Debian's chromium (never a downloaded browser build).
browser:
	@test -x /usr/bin/chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# The rollout test (tests/app/test_rollout.py) puts Debian's nginx in front of two replicas.
nginx:
	@test -x /usr/sbin/nginx || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light; }

# The suite, then the Spark and rollout tests apart, each run with its own time (exit 5: none).
# The Spark engine's tests need Java 17+: Debian's openjdk-17 (never a downloaded JDK).
java:
	@command -v java >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y openjdk-17-jre-headless; }

# The main suite on every core (pytest-xdist; a test file stays on one worker, so its module
# fixtures are built once), then the Spark and rollout groups on their own, each with its time.
test: lint browser nginx java
	$(BIN)/pytest -n auto --dist loadfile -m "not spark and not rollout"
	$(BIN)/pytest -m "spark or rollout" || test $$? -eq 5

# Rebuild the bundled default model from the full Online Retail file (reproducible: seed 42).
default-model: install
	rm -rf models/online-retail
	$(BIN)/python -m training fit --input $(DATA)/online_retail/online_retail_2010-2011.csv.gz \
		--dataset training/datasets/online_retail.toml --as-of 2011-12-10T00:00:00Z \
		--seed 42 --compare --currency GBP --out models --name online-retail

# Hold a real server (loopback, bundled model) at 64 concurrent clients for 60 s; prints the figures.
loadtest: install
	$(BIN)/python scripts/loadtest.py --concurrency 64 --duration 60 --warmup 15

# The benchmark suite (README "Performance"): wrk from Debian, MLServer peer in its own venv.
PEER := bench/.venv-peer
$(PEER)/.installed:
	$(PYTHON) -m venv $(PEER)
	$(PEER)/bin/python -m pip install --quiet mlserver==1.7.1 mlserver-sklearn==1.7.1 scikit-learn==1.9.1
	touch $@

bench-peer: $(PEER)/.installed

bench: install bench-peer
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
