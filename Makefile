# Two commands: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
WORKERS ?= 2
THREADS ?= 64  # per worker: a stalled media reader holds one until MEDIA_SEND_TIMEOUT_S
FLASK  := $(BIN)/flask --app wsgi

.PHONY: run test lint bench load install install-dev upgrade demo clean faster-face

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	$(PYTHON) -m venv $(VENV) || { echo "On Debian/Ubuntu: apt-get install python3-venv"; exit 1; }
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt -e .
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

upgrade: install
	$(FLASK) db upgrade

demo: upgrade
	$(FLASK) demo --if-empty

# The transcode worker (huey) runs next to gunicorn and stops with it; xuetang.supervisor
# restarts it when it dies and kills its process group (an orphaned ffmpeg) first.
run: demo
	@echo "Xuetang on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@$(BIN)/python -m xuetang.supervisor -- $(BIN)/huey_consumer worker.huey --workers 1 --worker-type thread --quiet & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/gunicorn --no-control-socket --workers $(WORKERS) --threads $(THREADS) --bind $(HOST):$(PORT) --access-logfile - wsgi:app

# axe-core for the accessibility check (tests/browser/test_axe.py), into the ignored node_modules/;
# without npm that one test is skipped here (and fails in CI, where .ci/run installs npm).
AXE_VERSION ?= 4.14.1
node_modules/axe-core/axe.min.js:
	@if command -v npm >/dev/null; then npm install --no-save --no-package-lock --no-audit --no-fund --silent axe-core@$(AXE_VERSION); \
	else echo "npm not found: the axe-core check will be skipped (apt-get install npm)"; fi

test: install-dev node_modules/axe-core/axe.min.js
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .

# Every bench script, one after another, and docs/benchmarks.md regenerated from what they print;
# BENCH_ARGS="--full" for the issues' full sizes, "--only face,stream" for some of them.
# bench/city.py needs a PostgreSQL database it may reset: CITY_DATABASE_URL (else it is left out).
bench: install-dev
	$(BIN)/python bench/all.py $(BENCH_ARGS)

# 2,000 simulated trainees for 5 minutes at the default face-check rate, with the ground truth;
# LOAD_ARGS="--find-max" searches for the largest N with p99 < 300 ms.
load: install-dev
	$(BIN)/python bench/load.py --viewers 2000 --minutes 5 --check-interval 0 $(LOAD_ARGS)

# dlib from source against OpenBLAS (and the host's AVX), replacing dlib-bin in the venv: a
# face check's ResNet descriptor runs several times faster (docs/performance.md, docs/deploy/).
# Needs: apt-get install cmake libopenblas-dev (and a C++ compiler); about 8-15 minutes.
# `make install` after a requirements change puts dlib-bin back: run this again then.
DLIB_SOURCE_VERSION ?= 20.0.0
faster-face: install
	@command -v cmake >/dev/null || { echo "cmake is missing: apt-get install cmake libopenblas-dev"; exit 1; }
	@ls /usr/lib/*/libopenblas.so >/dev/null 2>&1 || { echo "OpenBLAS is missing: apt-get install libopenblas-dev"; exit 1; }
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip wheel --no-deps --no-binary dlib -w build/dlib dlib==$(DLIB_SOURCE_VERSION)
	$(BIN)/pip uninstall -y dlib-bin
	$(BIN)/pip install --no-deps --force-reinstall build/dlib/dlib-$(DLIB_SOURCE_VERSION)-*.whl
	$(BIN)/python -c 'import dlib, sys; sys.exit(0 if dlib.DLIB_USE_BLAS else "dlib was built without BLAS")'
	@echo "dlib $(DLIB_SOURCE_VERSION) with OpenBLAS installed; restart the server"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
