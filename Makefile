# The two commands a fresh machine needs: `make book` and `make test`.
# Both create .venv from requirements.lock (exact versions) and install Graphviz.

PYTHON ?= python3
# Every chapter kernel, benchmark worker and test process imports the same heavy stack
# (pandas, scikit-learn, LightGBM, CatBoost, SHAP, Ibis, JAX...). Where the machine sets
# PYTHONDONTWRITEBYTECODE, each of them compiles it from source again: 9.6 s per process
# against 3.3 s with cached bytecode. The project's own runs therefore write .pyc files,
# lazily and only for what they import, into .venv (and src/, ignored by git).
unexport PYTHONDONTWRITEBYTECODE
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= default
STAMP := $(VENV)/.installed

.PHONY: book test test-gallery env sysdeps testdeps lint lock clean bench bench-generate bench-features bench-journeys bench-models

book: env sysdeps  ## build the book on the embedded default data -> _build/html/index.html
	$(BIN)/shoplog book --profile $(PROFILE)

# the suite runs in TEST_WORKERS processes (pytest-xdist); they share one CI book
TEST_WORKERS ?= 2

test: env sysdeps testdeps  ## style checks, then the test suite (tiny CI profile)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n $(TEST_WORKERS)

env: $(STAMP)

# uv (pinned, from PyPI) installs the lock in seconds from its cache; where it cannot be
# installed, pip does the same, more slowly.
UV_VERSION := 0.13.9
UV := $(BIN)/uv

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@if $(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); then \
	  echo "installing requirements.lock with uv $(UV_VERSION)"; \
	  $(UV) pip install --quiet --python $(BIN)/python -r requirements.lock && \
	  $(UV) pip install --quiet --python $(BIN)/python --no-deps -e .; \
	else \
	  echo "uv could not be installed; installing requirements.lock with pip (slower)"; \
	  $(BIN)/python -m pip install --quiet --upgrade pip && \
	  $(BIN)/python -m pip install --quiet -r requirements.lock && \
	  $(BIN)/python -m pip install --quiet --no-deps -e .; \
	fi
	touch $(STAMP)

# System libraries, installed with apt (Debian/Ubuntu) when missing: Graphviz draws the
# process maps; Pango lays out the text of the PDF brief (WeasyPrint).
sysdeps:
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	[ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; \
	  else echo "Missing system packages:$$missing; install them (e.g. apt-get install$$missing) or use environment.yml"; exit 1; fi; \
	  command -v apt-get >/dev/null 2>&1 || { echo "Missing system packages:$$missing and apt-get is not available: install them or use environment.yml"; exit 1; }; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; }

# The tests open every page in a real browser (Debian's Chromium) and run the engine on
# Spark too (a Java runtime: Debian's OpenJDK); each is installed when missing, and its
# tests are skipped, saying why, when it cannot be.
testdeps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	{ command -v java >/dev/null 2>&1 || [ -n "$$JAVA_HOME" ]; } || missing="$$missing default-jre-headless"; \
	[ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; \
	  else echo "Missing:$$missing; install them (apt-get install$$missing); their tests are skipped"; exit 0; fi; \
	  command -v apt-get >/dev/null 2>&1 || { echo "Missing:$$missing and apt-get is not available; their tests are skipped"; exit 0; }; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null \
	    || echo "Could not install$$missing; their tests are skipped"; }

lint: env
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

test-gallery: env sysdeps  ## the book on every log of the test gallery (about 20 minutes)
	$(BIN)/pytest tests/test_gallery.py --gallery

# Re-resolve requirements.in into the lock (newest versions that fit, in a bare venv) and
# regenerate environment.yml from it.
lock: env
	rm -rf .venv-lock
	@if [ -x $(UV) ]; then \
	  $(UV) venv --quiet --python $(PYTHON) .venv-lock && \
	  $(UV) pip install --quiet --python .venv-lock/bin/python -r requirements.in && \
	  { echo "# Exact versions for Python 3.11 on Linux x86_64; regenerate with \`make lock\`."; \
	    $(UV) pip freeze --python .venv-lock/bin/python --exclude-editable | sort -f; } > requirements.lock.new; \
	else \
	  $(PYTHON) -m venv .venv-lock && \
	  .venv-lock/bin/python -m pip install --quiet --upgrade pip && \
	  .venv-lock/bin/python -m pip install --quiet -r requirements.in && \
	  { echo "# Exact versions for Python 3.11 on Linux x86_64; regenerate with \`make lock\`."; \
	    .venv-lock/bin/python -m pip freeze --exclude-editable | sort -f; } > requirements.lock.new; \
	fi
	mv requirements.lock.new requirements.lock
	rm -rf .venv-lock
	$(BIN)/python -m shoplog.config.lockfiles

bench: env  ## every speed target in one table (about 15 minutes; FRESH=1 adds a fresh clone's book)
	$(BIN)/python bench/summary.py $(if $(FRESH),--fresh)

bench-generate: env
	$(BIN)/python bench/generate.py

bench-features: env
	$(BIN)/python bench/features.py --sizes 1 10 50 --reference-sizes 1 10 --spec-sizes 10 --spec-large 50

bench-journeys: env
	$(BIN)/python bench/journeys.py --sizes 1 10 --pm4py-sizes 1 10

clean:
	rm -rf _build data/processed/* data/outputs/*

bench-models: env
	$(BIN)/python bench/models.py --dataset data/processed/dataset.parquet
