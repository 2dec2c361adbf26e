# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo serve test lint typecheck bench clean

setup: $(VENV)/.installed

# torch is installed first and pinned, so that nothing resolves it to a CUDA build; the ray extra is
# part of the test install because tests/distributed runs the Ray backend on a local cluster.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray]'
	touch $@

demo: setup
	$(VENV)/bin/explorec demo

# the service on 127.0.0.1:8000 over the generated shop; prints a ready API key
serve: setup
	$(VENV)/bin/explorec serve --demo

lint: setup
	$(VENV)/bin/ruff check src tests bench

typecheck: setup
	$(VENV)/bin/mypy

test: lint typecheck
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache runs
