# The two commands a newcomer needs: `make demo` and `make test`. Each builds .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EXTRAS := dev,torch,tensorflow,spark,k8s,postgres
STAMP := $(VENV)/.installed

.PHONY: demo test lint types layers unit bench system-deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) examples/demo.py

system-deps:
	bash scripts/system-deps.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples

types: $(STAMP)
	$(VENV)/bin/mypy

layers: $(STAMP)
	$(VENV)/bin/lint-imports

unit: $(STAMP)
	$(PY) -m pytest tests -q

test: system-deps lint types layers unit

bench: $(STAMP)
	bash bench/run.sh

clean:
	rm -rf $(VENV) bench/.venvs .pytest_cache .mypy_cache .ruff_cache
