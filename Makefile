# imsynth: the two set-up commands (README "Quick start").
#   make demo  - virtual environment + install + the main job on the embedded street-scene data
#   make test  - virtual environment + install + the test suite (what CI runs)
# The habits (what .ci/run checks besides the tests):
#   make lint       - ruff check and ruff format --check
#   make typecheck  - mypy over src/ (settings in pyproject.toml)
#   make test-fast  - the tests not marked slow
#   make hooks      - install the git hooks of .pre-commit-config.yaml
# torch is installed first and pinned, so pip never resolves a newer (multi-GB CUDA) build.
PYTHON ?= python3
VENV   ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.imsynth-installed

.PHONY: demo test test-fast lint typecheck hooks venv bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/imsynth demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

hooks: $(STAMP)
	$(VENV)/bin/pre-commit install

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) runs .pytest_cache
