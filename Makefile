# Every target sets itself up: the first one run creates .venv and installs pinned dependencies.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
FERBIAS_CACHE ?= .cache/ferbias
# Data sets: ../shared/data beside the clone when it holds FER-2013, else the cache's data folder,
# where `make demo` downloads FER-2013. Set FERBIAS_DATA to use another folder.
FERBIAS_DATA ?= $(if $(wildcard ../shared/data/fer2013),../shared/data,$(FERBIAS_CACHE)/data)
export FERBIAS_DATA FERBIAS_CACHE

.PHONY: demo test lint format browser bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,ray]"
	touch $@

# The headless browser for the annotation page's end-to-end test (Debian's chromium, no download).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# FER-2013 is fetched when missing (kagglehub; never prompts); CFD and JAFFE are optional.
demo: $(BIN)/.installed
	@$(BIN)/ferbias data fetch fer2013 --to "$(FERBIAS_DATA)/fer2013" < /dev/null
	$(BIN)/ferbias run experiments/quick.yaml --out runs

test: $(BIN)/.installed browser
	$(BIN)/pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff format --check . && $(BIN)/ruff check .

format: $(BIN)/.installed
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_prepare.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_detect.py
	$(BIN)/python benchmarks/bench_predict.py
	$(BIN)/python benchmarks/bench_audit.py

clean:
	rm -rf $(VENV) .cache runs
