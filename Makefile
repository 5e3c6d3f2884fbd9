# Two commands matter: `make reproduce` (the main job) and `make test`.
# Both create .venv from python3 on first use and reuse it afterwards.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
PYTEST_SLURM_ARGS ?=
REPRODUCE_ARGS ?=
BENCH_ARGS ?= --json outputs/benchmark.json
BENCH_GPU_ARGS ?= --json outputs/bench_gpu.json

.PHONY: reproduce test test-fast docs bench bench-gpu lint format clean-venv

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

$(VENV)/.installed-docs: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $@ $(VENV)/.installed

reproduce: $(VENV)/.installed
	$(PY) scripts/reproduce.py $(REPRODUCE_ARGS)

# The documentation site (mkdocs.yml) into outputs/docs/ (index.html at its root). The
# gallery is drawn by a --quick run of the figure pipeline into outputs/docs_run/ (complete
# jobs are reused, so a second build only redraws); --strict fails on any warning.
docs: $(VENV)/.installed-docs
	$(PY) scripts/reproduce.py --quick --root outputs/docs_run
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir outputs/docs

# Tests run on every core (pytest-xdist), then the Slurm tests (-m slurm) on their own:
# they share one local cluster (scripts/slurm_local.sh), started and stopped by them.
test: $(VENV)/.installed-test
	$(PY) -m pytest -n auto -m "not slurm" $(PYTEST_ARGS)
	$(PY) -m pytest -m slurm $(PYTEST_SLURM_ARGS)

# The fast tier, while changing library code: every test not marked slow or slurm, on every
# core (pytest-xdist), in under 3 minutes on 2 cores with .venv made.
test-fast: $(VENV)/.installed-test
	$(PY) -m pytest -n auto --dist worksteal -m "not slow and not slurm" $(PYTEST_ARGS)

# The benchmark (about 30 minutes on 2 cores); BENCH_ARGS="--quick" for a smoke run.
bench: $(VENV)/.installed-test
	$(PY) scripts/benchmark.py $(BENCH_ARGS)

# The GPU benchmark (under 5 minutes): on a CUDA machine, first `$(VENV)/bin/pip install -e '.[gpu]'`
# (JAX for CUDA 12), then `make bench-gpu`. Without a CUDA GPU it says so and exits 0;
# BENCH_GPU_ARGS="--cpu" runs it on CPU at tiny sizes; scripts/bench_gpu.py --help for the rest.
bench-gpu: $(VENV)/.installed-test
	$(PY) scripts/bench_gpu.py $(BENCH_GPU_ARGS)

# Lint, format, types (mypy, [tool.mypy]) and the import contracts (import-linter,
# [tool.importlinter]; tests/test_structure.py: private modules, README's Layout).
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -p no:cacheprovider tests/test_structure.py

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean-venv:
	rm -rf $(VENV)
