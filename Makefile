# Two entry points (the README's quick start): `make reproduce` and `make test`.
# Both create .venv from the exact lock file when it is missing or older than the lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= default
CORES ?= 2

.PHONY: reproduce test lint smoke clean-results

$(BIN)/activate: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	touch $(BIN)/activate

reproduce: $(BIN)/activate  ## run the whole pipeline on PROFILE (default) and write results/REPORT.md
	@$(BIN)/snakemake --cores $(CORES) --config profile=$(PROFILE) --rerun-incomplete --keep-going \
	  || { $(BIN)/python -m common.report --profile $(PROFILE); \
	       echo "Some runs failed (see the log above); results/REPORT.md marks what is missing."; exit 1; }
	@echo "Report: results/REPORT.md"

test: $(BIN)/activate  ## lint + the full test suite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

smoke: $(BIN)/activate
	$(BIN)/snakemake --cores $(CORES) --config profile=smoke

lint: $(BIN)/activate
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean-results:
	rm -rf results .snakemake
