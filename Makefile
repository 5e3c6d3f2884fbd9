# Two commands matter: `make reproduce` (the main job) and `make test`.
# Both create .venv from python3 on first use and reuse it afterwards.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
PYTEST_SLURM_ARGS ?=
REPRODUCE_ARGS ?=
BENCH_ARGS ?= --json outputs/benchmark.json

.PHONY: reproduce test bench lint format clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamps make the install rerun only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

reproduce: $(VENV)/.installed
	$(PY) scripts/reproduce.py $(REPRODUCE_ARGS)

# Tests run on every core (pytest-xdist), then the Slurm tests (-m slurm) on their own:
# they share one local cluster (scripts/slurm_local.sh), started and stopped by them.
test: $(VENV)/.installed-test
	$(PY) -m pytest -n auto -m "not slurm" $(PYTEST_ARGS)
	$(PY) -m pytest -m slurm $(PYTEST_SLURM_ARGS)

# The benchmark (about 11 minutes on 2 cores); BENCH_ARGS="--quick" for a smoke run.
bench: $(VENV)/.installed-test
	$(PY) scripts/benchmark.py $(BENCH_ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean-venv:
	rm -rf $(VENV)
