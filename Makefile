# The commands the README names. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.12, the Lambda runtime's version: the first candidate that really runs 3.12.
PYTHON312 ?= $(shell for c in $$(ls -d $$HOME/.pyenv/versions/3.12.*/bin/python3.12 2>/dev/null | sort -rV) python3.12; do \
	$$c -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null && { command -v $$c; break; }; done)
VENV := .venv
# SAM CLI in a venv of its own (its pins would otherwise move the project's boto3 and pydantic).
SAM_VERSION := 1.170.0
SAM_VENV := $(HOME)/.cache/recsys-localcloud/sam-cli-$(SAM_VERSION)
SAM := $(SAM_VENV)/bin/sam
SAM_ENV := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=lint AWS_SECRET_ACCESS_KEY=lint \
	PATH=$(dir $(PYTHON312)):$$PATH
PY := $(VENV)/bin/python
# The AWS emulator: moto's server by default, LocalStack on the host with AWS=localstack
# (`make up AWS=localstack`; later commands find the one running). See the README's "LocalStack".
ifdef AWS
export RECSYS_AWS_EMULATOR := $(AWS)
endif
STAMP := $(VENV)/.installed

# The project, and the Python client (clients/python) that its tests and callers import, editable.
$(STAMP): pyproject.toml clients/python/pyproject.toml
	@if [ -z "$(PYTHON312)" ]; then echo "error: python3.12 not found: install it (pyenv install 3.12) or set PYTHON312=/path/to/python3.12" >&2; exit 2; fi
	@test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q -e ./clients/python
	@touch $@

.PHONY: help venv up down status env sam-env refresh replay test test-unit test-integration test-e2e lint fmt clean bench invoke fire api-key openapi eval chaos

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

venv: $(STAMP) ## create the project virtual environment (.venv, Python 3.12)

up: $(STAMP) ## the whole system: services, schema, AWS resources, seeded data, a trained model, the API on :3000 [AWS=localstack]
	@$(PY) -m localcloud up

down: ## stop every local service
	@if [ -x $(PY) ]; then $(PY) -m localcloud down; fi

status: $(STAMP) ## report each local service, its port, data and log
	@$(PY) -m localcloud status

env: $(STAMP) ## print the environment a function gets locally
	@$(PY) -m localcloud env

sam-env: $(STAMP) ## write .localcloud/sam-env.json: `sam local --env-vars` for functions in containers (README: LocalStack)
	@mkdir -p .localcloud && $(PY) -m localcloud env --format sam > .localcloud/sam-env.json && echo .localcloud/sam-env.json

invoke: $(STAMP) ## invoke a function: make invoke FN=<logical id> EVENT=events/<file>.json [API_KEY=<key>]
	@test -n "$(FN)" || { echo "usage: make invoke FN=<logical id> [EVENT=events/<file>.json] [API_KEY=<key>]" >&2; exit 2; }
	@API_KEY="$(API_KEY)" $(PY) -m localcloud invoke $(FN) $(EVENT)

api-key: $(STAMP) ## create an API key: make api-key TIER=pro SCOPES=read,write (the key is the last line)
	@$(PY) -m localcloud api-key --tier $(or $(TIER),free) --scopes $(or $(SCOPES),read)

fire: $(STAMP) ## fire a function's schedule now: make fire FN=<logical id>
	@test -n "$(FN)" || { echo "usage: make fire FN=<logical id>" >&2; exit 2; }
	@$(PY) -m localcloud fire $(FN)

refresh: $(STAMP) ## retrain the model now (IndexRefreshFunction; TRAINING=spark|lambda, default by size); the new model_version is last
	@$(PY) -m localcloud refresh $(if $(TRAINING),--training $(TRAINING))

replay: $(STAMP) ## put the interaction failure queue's records back on the stream (JSON counts, last line)
	@$(PY) -m localcloud replay

test: up ## run every test tier against the local cloud (starts it if needed) [AWS=localstack]
	$(PY) -m pytest tests

test-unit: $(STAMP) ## unit tests only (no servers needed)
	$(PY) -m pytest tests/unit

test-integration: up ## integration tests against the real local servers
	$(PY) -m pytest tests/integration

test-e2e: up ## end-to-end tests
	$(PY) -m pytest tests/e2e

$(SAM):
	$(PYTHON312) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q aws-sam-cli==$(SAM_VERSION)

lint: $(STAMP) $(SAM) ## ruff, mypy (the shared layer and tests/unit), cfn-lint, sam validate --lint, sam build
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint template.yaml tests/e2e/runtime_fixture/template.yaml
	$(SAM_ENV) $(SAM) validate --lint
	$(SAM_ENV) $(SAM) build --parallel
	$(PY) -m localcloud.lambda_size

fmt: $(STAMP) ## format and fix what ruff can
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean: down ## stop services and delete local data and logs (.localcloud)
	@if [ -L .localcloud/data/postgres ]; then rm -rf "$$(dirname "$$(readlink -f .localcloud/data/postgres)")"; fi
	rm -rf .localcloud

openapi: $(STAMP) ## regenerate openapi.json from the code (CI fails when the committed copy drifts)
	$(PY) -c "from recsys.api.openapi import rendered; open('openapi.json', 'w').write(rendered())"

eval: up ## quality through the API vs four baselines on MovieLens-100k; docs/eval.png; the last line is JSON [BLEND=k=v,...] [TRAINING=spark]
	$(PY) -m evaluation.served $(if $(BLEND),--blend '$(BLEND)') $(if $(TRAINING),--training $(TRAINING))

chaos: up ## kill Redis, Cassandra, the AWS emulator and a consumer under traffic; count what was lost (JSON last)
	$(PY) -m chaos.run

bench: up ## every path side by side: endpoints cold/warm/keep-alive/8 clients, effect, refresh, ingest; docs/bench.png (JSON last)
	$(PY) bench/local_runtime.py
	$(PY) -m bench $(if $(SCALE),--scale $(SCALE))
