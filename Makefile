# satdescarga: every developer and CI task. `make install` once, then `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: install generate check-generated lint typecheck pytest test demo fleet-demo bench clean

$(BIN)/satdescarga: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/satdescarga

generate: install
	$(PY) -m codegen wsdl generated

check-generated: install
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PY) -m codegen wsdl "$$tmp/generated" && \
	if diff -r -x __pycache__ generated "$$tmp/generated"; then echo "generated/ is up to date"; \
	else echo "generated/ is stale: run 'make generate' and commit the result" >&2; exit 1; fi

lint: install
	$(BIN)/ruff check src codegen tests generated bench
	$(BIN)/ruff format --check src codegen tests bench

typecheck: install
	$(BIN)/mypy src/satdescarga codegen tests

pytest: install
	$(BIN)/pytest --cov --cov-report=term

test: lint typecheck check-generated pytest

demo: install
	$(BIN)/satdescarga demo

# A whole fleet, thrown away at the end: PostgreSQL from this machine's binaries, the emulator,
# 20 test e.firmas, two workers, 30 emulated days, then `fleet status`.
fleet-demo: install
	$(BIN)/satdescarga fleet demo

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
