# Deep Learning for Recommender Systems: the two commands of the README.
#   make book   set up, fetch the data, run the baselines report (and, later, build the book)
#   make test   set up and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
export KERAS_BACKEND := tensorflow
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup data book test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all]"
	$(BIN)/python -m pip check
	@touch $@

data: setup
	$(BIN)/python -m recsys_lib data fetch

book: data
	$(BIN)/python -m recsys_lib report pop itemknn ease bpr

test: setup
	$(BIN)/python -m pytest

bench: data
	$(BIN)/python benchmarks/bench_evaluation.py

clean:
	rm -rf $(VENV) _build .pytest_cache
