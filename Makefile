# One entry point for everything CI runs: `make test` locally predicts `.ci/run`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
SAM_VENV := .venv-sam
SCAN_VENV := .venv-scan
# The README's serve snippets call the AWS CLI; it pins its own botocore, so it gets an environment too.
AWSCLI_VENV := .venv-awscli
AWSCLI_VERSION := 1.46.3
CHECKOV_VERSION := 3.3.30
BIN := $(VENV)/bin
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
export SAM_CLI_TELEMETRY := 0
# The stack `make delete` removes: samconfig.toml's unless STACK=... says otherwise.
STACK ?= $(shell sed -n 's/^stack_name = "\(.*\)"/\1/p' samconfig.toml | head -n 1)
# Its region: samconfig.toml's unless REGION=... says otherwise (the tools would otherwise take the SDK's).
REGION ?= $(shell sed -n 's/^region = "\(.*\)"/\1/p' samconfig.toml | head -n 1)

# The first Python >= 3.11 on PATH runs the tooling and the tests.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)

# `sam build` without a container needs the Lambda runtime's own interpreter, python3.13.
PYTHON313 ?= $(shell for p in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)

.PHONY: help demo test system-tools lint typecheck validate scan build pytest bench preflight deploy smoke delete clean

# `make help` prints each target with its `## ` comment, and any .PHONY target that has none yet.
help: ## this list
	@awk -F ':.*## ' '/^\.PHONY:/ { n = split(substr($$0, 9), phony, " ") } \
		/^[a-z][a-z-]*:.*## / { printf "make %-10s %s\n", $$1, $$2; seen[$$1] = 1 } \
		END { for (i = 1; i <= n; i++) if (!(phony[i] in seen)) printf "make %s\n", phony[i] }' \
		$(firstword $(MAKEFILE_LIST))
	@echo "The environments, built on first use by the targets above (or by name):"
	@echo "  make $(BIN)/provisioner-local  $(SAM)  $(SCAN_VENV)/bin/checkov  $(AWSCLI_VENV)/bin/aws"

# Stages, so each target installs only what it runs: the client alone (`pip install .`: provisioner, the
# deploy tools; boto3, no moto) for preflight, smoke and delete; the local stack's extra for the demo; the
# test tools on top of it for the checks and the tests.
CLIENT_STAMP := $(VENV)/.client-installed
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

# uv, a PyPI package like the others, installs in seconds what pip takes over half a minute for (measured:
# 4 s against 37 s for the local stack's packages, warm caches): it makes `make demo` fit in 45 s.
UV_VERSION := 0.13.10
UV_INSTALL = $(BIN)/uv pip install --quiet --python $(BIN)/python

define make_venv
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is needed on PATH (python3.11, python3.12, python3.13 or python3)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
endef

$(CLIENT_STAMP): pyproject.toml
	@echo "Setting up $(VENV) with the client and the deploy tools (boto3, PyYAML)"
	$(make_venv)
	$(UV_INSTALL) -e .
	@touch $@

# The local stack's environment holds the client too: it marks both installed.
$(RUN_STAMP): pyproject.toml
	@echo "Setting up $(VENV) with what the local stack runs (moto, boto3, Powertools, pydantic); the first time takes about half a minute"
	$(make_venv)
	$(UV_INSTALL) -e '.[local]'
	@touch $@ $(CLIENT_STAMP)

$(DEV_STAMP): $(RUN_STAMP)
	@echo "Adding the test tools to $(VENV) (pytest, ruff, mypy, hypothesis, schemathesis, bandit, type stubs)"
	$(make_venv)
	$(UV_INSTALL) -e '.[local,dev]'
	@touch $@

$(BIN)/provisioner-local: $(DEV_STAMP)
	@touch $@

# SAM CLI pins its own boto3 and pydantic, so it lives in a virtual environment of its own.
$(SAM):
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is needed on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli==$(SAM_CLI_VERSION)'

$(AWSCLI_VENV)/bin/aws:
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is needed on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(AWSCLI_VENV)
	$(AWSCLI_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AWSCLI_VENV)/bin/python -m pip install --quiet 'awscli==$(AWSCLI_VERSION)'

# checkov pins its own dependency tree, so it too gets a virtual environment of its own.
$(SCAN_VENV)/bin/checkov:
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is needed on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'

demo: $(RUN_STAMP) ## one onboarding against the embedded local stack (no AWS account, no Docker); ARGS=--keep-running keeps it up
	$(BIN)/provisioner-local onboard $(ARGS)

lint: $(BIN)/provisioner-local ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/provisioner-local ## mypy over the functions, the layer, the local stack and the tests; --strict on the product
	$(BIN)/mypy functions/*/app.py layers/provisioner_core src tests
	$(BIN)/mypy --strict functions/*/app.py layers/provisioner_core

validate: $(SAM) ## sam validate --lint and cfn-lint on template.yaml
	$(SAM) validate --lint
	$(SAM_VENV)/bin/cfn-lint template.yaml

# Every suppression carries its reason: checkov's in template.yaml Metadata, bandit's in a `# nosec` comment.
# checkov runs offline: --skip-download (and BC_SKIP_MAPPING, the same for older checkovs) skips the Prisma Cloud
# guidelines call, whose failure without internet prints a long traceback; CKV_SKIP_PACKAGE_UPDATE_CHECK skips
# the PyPI version check. All that goes is the guide link under a failed check; the checks run locally.
scan: $(BIN)/provisioner-local $(SCAN_VENV)/bin/checkov ## checkov on template.yaml (offline) and bandit on the code
	BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE $(SCAN_VENV)/bin/checkov --quiet --compact \
		--skip-download --framework cloudformation -f template.yaml
	$(BIN)/bandit -q -r functions layers/provisioner_core src scripts bench -c pyproject.toml

build: $(SAM) ## sam build (needs python3.13 on PATH)
	@test -n "$(PYTHON313)" || { echo "error: sam build needs python3.13 (the Lambda runtime) on PATH or in ~/.pyenv/versions; install it (e.g. 'pyenv install 3.13') and rerun" >&2; exit 1; }
	PATH="$(dir $(PYTHON313)):$$PATH" $(SAM) build

# One worker per core; tests/conftest.py keeps each module (its stack) on one worker and spreads the shards,
# longest first: --no-loadscope-reorder keeps that order (xdist's own puts the one-test shards last).
PYTEST_WORKERS ?= auto
pytest: $(BIN)/provisioner-local $(AWSCLI_VENV)/bin/aws ## the test suite alone, on every core (PYTEST_WORKERS=0: in this process)
	PATH="$(CURDIR)/$(AWSCLI_VENV)/bin:$$PATH" $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder

system-tools: ## Chromium and curl for the browser tiers and the snippets: installed if this user may, else the command to run
	@scripts/ensure_system_tools.sh

test: system-tools lint typecheck validate scan build pytest ## everything CI runs: ruff, mypy, sam validate --lint, cfn-lint, checkov, bandit, sam build, the tests

# Budgets are checked by the benchmark itself (non-zero exit when one is missed), never by timed tests.
bench: $(BIN)/provisioner-local ## time, calls, cold starts and cost of onboardings against the local stack
	$(BIN)/python -m bench.run

# Offline: it reads template.yaml and samconfig.toml (and, with credentials, asks STS who you are).
preflight: $(CLIENT_STAMP) ## check what sam deploy would deploy, print what the stack may do; PREFLIGHT_ARGS=... adds options
	$(BIN)/provisioner-preflight $(PREFLIGHT_ARGS)

# Guided every time: it asks each parameter with samconfig.toml's answers as defaults, and saves yours back.
deploy: preflight build ## preflight, sam build, then sam deploy --guided
	$(SAM) deploy --guided

# Only its own scratch connection (smoke-<random>, prefix labellerr-smoke-<random>/) is made, then offboarded.
smoke: $(CLIENT_STAMP) ## onboard, check and offboard a scratch prefix on the deployed STACK: make smoke BUCKET=<bucket>
	@test -n "$(BUCKET)" || { echo "error: make smoke needs BUCKET=<a bucket of yours within AllowedBuckets>" >&2; exit 2; }
	$(BIN)/provisioner-smoke --stack-name "$(STACK)" --region "$(REGION)" --bucket "$(BUCKET)" $(SMOKE_ARGS)

# The connections' users, policies, secrets and CORS rules are not stack resources: remove them first.
delete: $(CLIENT_STAMP) $(SAM) ## offboard every connection of STACK (default: samconfig's), then sam delete; refuses if any remain
	$(BIN)/provisioner-offboard-all --stack-name "$(STACK)" --region "$(REGION)"
	$(SAM) delete --stack-name "$(STACK)" --region "$(REGION)"

clean: ## remove .aws-sam and the tools' caches (the environments stay)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
