# Course tasks. Every target installs what it needs first: into the active virtual/conda
# environment if there is one, otherwise into ./.venv, which it creates.
SHELL := /bin/bash
ACTIVE_ENV := $(or $(VIRTUAL_ENV),$(CONDA_PREFIX))
ifeq ($(ACTIVE_ENV),)
ENV_DIR := .venv
PYTHON := .venv/bin/python
else
ENV_DIR := $(ACTIVE_ENV)
PYTHON := python
endif
# Torch is installed explicitly only when the environment has none (Colab and conda keep theirs).
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(ENV_DIR)/.geolib-installed
export GEOLIB_PROFILE ?= tiny
export HF_HUB_OFFLINE ?= 1
export PYTHONUNBUFFERED := 1

.PHONY: help install course lab browser test lint format strip bench doctor clean

help:
	@echo "make course   build offline data and tiny models, execute every notebook into outputs/"
	@echo "make lab      open the course in JupyterLab (LAB_ARGS='--no-browser --port 8890' to change how)"
	@echo "make test     lint + unit tests + every notebook under nbmake (tiny profile)"
	@echo "make bench    print the benchmark tables"
	@echo "make doctor   print the environment report"
	@echo "make lint | format | strip | clean"

$(STAMP): pyproject.toml
	@test -x $(PYTHON) || python3 -m venv $(ENV_DIR)
	$(PYTHON) -m pip install -q --upgrade pip
	@$(PYTHON) -c "import torch, torchvision" 2>/dev/null || $(PYTHON) -m pip install $(TORCH_SPEC)
	$(PYTHON) -m pip install -e ".[test]"
	@touch $@

install: $(STAMP)

course: $(STAMP)
	$(PYTHON) -m geolib course --out outputs

# Root (containers, some cloud machines) must say so to Jupyter.
lab: $(STAMP)
	$(PYTHON) -m jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# Debian's Chromium for the browser test (tests/test_browser.py), installed when missing and possible.
browser:
	@command -v chromium >/dev/null 2>&1 || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
	  { apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && \
	    apt-get install -y -q chromium >/dev/null; }; }; } || \
	  echo "no Chromium could be installed here: the browser test will skip"

test: $(STAMP) browser
	$(PYTHON) -m ruff check .
	GEOLIB_PROFILE=tiny $(PYTHON) -m geolib course --prepare --jobs 2 >/dev/null
	$(PYTHON) -m pytest tests notebooks --nbmake --nbmake-timeout=600 --durations=30

lint: $(STAMP)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check geolib tests benchmarks

format: $(STAMP)
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format geolib tests benchmarks

strip: $(STAMP)
	$(PYTHON) -m nbstripout --drop-empty-cells notebooks/*.ipynb

bench: $(STAMP)
	$(PYTHON) -m benchmarks

doctor: $(STAMP)
	$(PYTHON) -m geolib doctor

clean:
	rm -rf outputs .pytest_cache .ruff_cache
