# Two entry points (the README's quick start): `make reproduce` and `make test`.
# Both create .venv from the exact lock file when it is missing or older than the lock.
# PROFILE is the project's run matrix (config/config.yaml: smoke | default | paper), passed to Snakemake as
# `--config profile=...`; Snakemake's own profile (how jobs run: profiles/local, profiles/slurm) is SMK_PROFILE.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= default
CORES ?= 2
SMK_PROFILE ?= profiles/local

.PHONY: reproduce test test-cluster lint smoke clean-results

$(BIN)/activate: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	touch $(BIN)/activate

reproduce: $(BIN)/activate  ## run the whole pipeline on PROFILE (default) and write results/REPORT.md
	@$(BIN)/python workflow/scripts/unlock_stale.py  # a lock left by a killed run; never a live run's
	@$(BIN)/snakemake --profile $(SMK_PROFILE) --cores $(CORES) --config profile=$(PROFILE) \
	  || { $(BIN)/python -m common.report --profile $(PROFILE); \
	       echo "Some runs failed (see the log above); results/REPORT.md marks what is missing."; exit 1; }
	@echo "Report: results/REPORT.md (one page: results/REPORT.html)"

test: $(BIN)/activate  ## lint + the full test suite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

test-cluster: $(BIN)/activate  ## the smoke profile through a real single-node SLURM, compared with a local run (root)
	tests/cluster/start_slurm.sh
	DFA_TEST_CLUSTER=1 $(BIN)/python -m pytest tests/cluster -v -rs -s  # -s: the measured figures

smoke: $(BIN)/activate
	@$(BIN)/python workflow/scripts/unlock_stale.py
	$(BIN)/snakemake --profile $(SMK_PROFILE) --cores $(CORES) --config profile=smoke

lint: $(BIN)/activate
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean-results:
	rm -rf results .snakemake
