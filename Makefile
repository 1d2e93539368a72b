# One entry point for everything CI runs: `make test` locally predicts `.ci/run`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
export SAM_CLI_TELEMETRY := 0

# The first Python >= 3.11 on PATH runs the tooling and the tests.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)

# `sam build` without a container needs the Lambda runtime's own interpreter, python3.13.
PYTHON313 ?= $(shell for p in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)

.PHONY: help demo test lint typecheck validate build pytest deploy clean

help:
	@echo "make demo      one onboarding against the embedded local stack (no AWS account, no Docker)"
	@echo "make test      lint, type checks, sam validate --lint, sam build, the whole test suite"
	@echo "make build     sam build (needs python3.13 on PATH)"
	@echo "make deploy    sam build, then sam deploy --guided"

$(BIN)/provisioner-local: pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is needed on PATH (python3.11, python3.12, python3.13 or python3)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# SAM CLI pins its own boto3 and pydantic, so it lives in a virtual environment of its own.
$(SAM):
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is needed on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli==$(SAM_CLI_VERSION)'

demo: $(BIN)/provisioner-local
	$(BIN)/provisioner-local onboard

lint: $(BIN)/provisioner-local
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/provisioner-local
	$(BIN)/mypy functions/*/app.py layers/provisioner_core src tests

validate: $(SAM)
	$(SAM) validate --lint

build: $(SAM)
	@test -n "$(PYTHON313)" || { echo "error: sam build needs python3.13 (the Lambda runtime) on PATH or in ~/.pyenv/versions; install it (e.g. 'pyenv install 3.13') and rerun" >&2; exit 1; }
	PATH="$(dir $(PYTHON313)):$$PATH" $(SAM) build

pytest: $(BIN)/provisioner-local
	$(BIN)/pytest

test: lint typecheck validate build pytest

deploy: build
	$(SAM) deploy --guided

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
