# worldfm: every target sets itself up on a fresh machine (creates .venv, installs idempotently).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-install
EXTRAS ?= sim,data,text,guard,curate,dev,bench
export MUJOCO_GL ?= egl
export SDL_VIDEODRIVER ?= offscreen
export HF_HUB_OFFLINE ?= 1
export RAY_USAGE_STATS_ENABLED ?= 0

.PHONY: setup demo test test-all bench lint format clean

# Reinstall only when the dependency list changes. torch first, from the CPU wheel; everything else is
# constrained to it so nothing pulls a CUDA build. PyPI torchvision is removed if anything dragged it in.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[$(EXTRAS)]'
	@if $(BIN)/python -m pip show -q torchvision >/dev/null 2>&1; then $(BIN)/python -m pip uninstall -y -q torchvision; fi
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/worldfm demo --out out/demo

test: setup
	$(BIN)/python -m pytest

test-all: setup
	$(BIN)/python -m pytest -m "not gpu"

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; \
		if [ $$b = benchmarks/bench_gpu.py ] && ! $(BIN)/python -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then \
			echo "   skipped: no CUDA device here"; continue; fi; \
		$(BIN)/python $$b || exit 1; done

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf out .pytest_cache .ruff_cache
