# quotebot: every entry point the README, CI and the Dockerfile use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of torch, pinned: an unpinned torch pulls a multi-GB CUDA build.
TORCH_VERSION ?= 2.13.0
# Optional: e.g. https://download.pytorch.org/whl/cpu where that index is reachable.
TORCH_INDEX_URL ?=
TORCH_INDEX := $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL),)
SHARED_MODEL := $(abspath ../shared/models/multilingual-e5-small-zh-en)

.PHONY: help setup setup-dev test lint run bench docker-check podman-setup clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

# constraints.txt: the versions tested together (see its header for how to update it).
PIN := -c constraints.txt
# setuptools warns on every editable install that top-level folders named like the packages shadow
# them: that is this layout on purpose, and a newcomer reads the boxed warning as an error.
QUIET_BUILD := PYTHONWARNINGS="ignore:Editable installation"

$(VENV)/.runtime: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_INDEX) torch==$(TORCH_VERSION)
	$(QUIET_BUILD) $(PIP) install -q $(PIN) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(QUIET_BUILD) $(PIP) install -q $(PIN) -e '.[dev,qdrant]'
	touch $@

setup: $(VENV)/.runtime  ## create .venv with CPU torch and quotebot

setup-dev: $(VENV)/.dev  ## setup plus the test and lint tools

test: setup-dev  ## run the whole test suite (uses ../shared/models when present)
	$(PY) -m pytest -q

lint: setup-dev  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

run: setup  ## index the corpus and start the bot (Telegram with a token, else the terminal chat)
	./scripts/run.sh

bench: setup-dev  ## speed and quality figures (not pass/fail)
	$(PY) bench/parse_speed.py
	$(PY) bench/quality.py
	$(PY) bench/query_speed.py
	$(PY) bench/index_speed.py
	$(PY) bench/index_speed.py --encoders torch,openvino-fp32,openvino-int8,onnx,onnx-int8 --pages 60
	$(PY) bench/index_speed.py --cli auto,torch --pages 60
	$(PY) bench/query_speed.py --encode torch,onnx,onnx-int8,openvino-int8
	$(PY) bench/long_page.py
	$(PY) bench/encoder_quality.py
	$(PY) bench/bot_speed.py

docker-check: setup-dev  ## build the image with podman, index the sample corpus in it, answer questions
	./scripts/docker-check.sh

podman-setup:  ## install podman and build the local debootstrap base image (root)
	./scripts/podman-setup.sh

clean:  ## remove the virtual environment and local index
	rm -rf $(VENV) var
