# Alice: `make run` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llama-cpp-python compiles llama.cpp (~6.5 min on 2 cores). The built wheel is kept in
# .cache/wheels (git-ignored) and pip's own wheel cache, so it is compiled only once.
WHEELS := .cache/wheels
LLAMA_CPP := llama-cpp-python==0.3.36
# A portable build (x86-64-v3: AVX2, FMA, F16C, BMI2), not -march=native: a native build
# on a Xeon VM with AVX-512 and AMX segfaulted on its first decode, and a cached native
# wheel would crash on a machine without the builder's CPU features (docs/decisions/0013).
# A tuned build for one known machine: make install LLAMA_CMAKE_ARGS="-DGGML_NATIVE=ON".
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
STAMP := $(VENV)/.installed

.PHONY: help install run test tools check lint typecheck format bench audit clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Alice needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	mkdir -p $(WHEELS)
	ls $(WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --no-deps --wheel-dir $(WHEELS) $(LLAMA_CPP)
	$(BIN)/pip install --quiet --find-links $(WHEELS) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install Alice with its dev tools

run: $(STAMP)  ## migrate, then serve Alice on http://127.0.0.1:8000
	scripts/ensure-espeak.sh
	$(BIN)/alice migrate
	$(BIN)/alice serve

tools:  ## fetch promtool and prometheus for the test suite; espeak-ng for the voice tests
	scripts/install-prometheus-tools.sh
	scripts/ensure-espeak.sh --required

test: $(STAMP) tools  ## run the whole test suite (real model, SQLite and PostgreSQL)
	$(BIN)/python -m pytest

check: $(STAMP)  ## ruff (lint + format) and mypy --strict
	$(BIN)/ruff check src tests bench loadtest
	$(BIN)/ruff format --check src tests bench loadtest
	$(BIN)/mypy

format: $(STAMP)  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix src tests bench loadtest
	$(BIN)/ruff format src tests bench loadtest

bench: $(STAMP)  ## run the benchmarks; results in bench/results/, summary in docs/performance.md
	$(BIN)/python -m bench

audit: $(STAMP)  ## audit this repository's production readiness; report in docs/readiness.md
	$(BIN)/readiness . --out docs/readiness.md

clean:  ## remove the virtual environment and caches (keeps data/ and the wheel cache)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# A phony target of its own: the loadtest/ folder would otherwise make it "up to date".
.PHONY: loadtest
loadtest: $(STAMP)  ## run the full load, soak and chaos drills; reports in loadtest/reports/
	$(BIN)/python -m loadtest all
