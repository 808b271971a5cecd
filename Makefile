# Deep Learning for Recommender Systems: the two commands of the README.
#   make book   set up, fetch the data, execute every chapter (full profile), build the site
#   make test   set up and run the whole test suite: library tests, site build and browser
#               check, then nbval, which executes every committed notebook once and checks
#               its tagged outputs
#   make test-fast  the library tests without notebooks, site or browser (under 3 minutes)
#   make site   only build the site from the committed notebooks (what GitHub Pages publishes)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
export KERAS_BACKEND := tensorflow
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# the thread counts the book's numbers were made with (2 cores): a sum split over more threads
# is added in another order, so a bigger machine would train other weights (book/reproducibility.md)
export TF_NUM_INTRAOP_THREADS := 2
export TF_NUM_INTEROP_THREADS := 2
export OMP_NUM_THREADS := 2
export OPENBLAS_NUM_THREADS := 2

.PHONY: setup data book site report test test-fast bench clean

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

NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:randomly
# two pytest workers, each test file on one; nbval runs the notebooks in two lanes
# (recsys_lib.book nbval), each notebook once, after the chapters whose models it reuses
PARALLEL := -n 2 --dist loadfile

book: data
	$(BIN)/python -m recsys_lib.book run --profile full
	$(MAKE) site

# the same command as .github/workflows/deploy-book.yml (tests/test_book.py checks it)
site: setup
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "The book is at _build/html/index.html"

report: data
	$(BIN)/python -m recsys_lib report pop itemknn ease bpr

test: setup
	$(BIN)/python -m pytest $(PARALLEL) tests
	$(BIN)/python -m recsys_lib.book nbval -- $(NBVAL)
	@left="$$(git ls-files --others --exclude-standard -- notebooks)"; \
	  if [ -n "$$left" ]; then echo "executing the notebooks left files behind: $$left"; exit 1; fi

test-fast: setup
	$(BIN)/python -m pytest $(PARALLEL) -m "not slow and not network" tests

bench: data
	$(BIN)/python benchmarks/bench_evaluation.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_attention.py
	$(BIN)/python benchmarks/bench_distributed.py

clean:
	rm -rf $(VENV) _build .pytest_cache
