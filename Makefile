# The two commands of the README: `make demo` (the main job) and `make test` (the suite).
# Each creates or refreshes the virtual environment in .venv first; a second run is fast.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The venv is rebuilt when the pins, the project metadata or the C extension change.
INPUTS := requirements.lock pyproject.toml setup.py src/swift_sampler/_draw.c

.PHONY: demo test lint typecheck bench venv clean

venv: $(STAMP)

$(STAMP): $(INPUTS)
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (swift-sampler needs Python 3.11)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-build-isolation --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/swift-sampler demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks experiments
	$(BIN)/ruff format --check src tests benchmarks experiments

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_draw.py
	$(BIN)/python benchmarks/bench_features.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info src/swift_sampler/*.so
