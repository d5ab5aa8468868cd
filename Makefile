# milvus-rag developer tasks. A fresh machine needs only Python 3.10+ and make:
#   make demo    install everything, then run the end-to-end demo
#   make test    install everything, then run the test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Interpreter used to create the virtual environments.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
PY = $(VENV)/bin/python
# Second venv: milvus-lite 3.x, started by the tests as a gRPC server (the "server" backend).
# milvus-lite 3 imports pymilvus without declaring it, hence the explicit pin.
LITE3_VENV ?= .venv-lite3
LITE3_PKGS ?= milvus-lite==3.2.2 pymilvus==3.0.2
# Third and fourth venvs: the official integrations themselves, without torch, for the tests
# that open collections they create (tests/compat). langchain-milvus 0.4 declares
# milvus-lite>=3.1; it is installed without its dependencies and they are named here, with the
# Milvus Lite 2.5 engine (and the setuptools its pkg_resources import needs) instead, so that
# it writes the same embedded .db files as milvus-rag.
COMPAT_VENV ?= .venv-compat
COMPAT_LANGCHAIN_PKGS ?= langchain-core==1.8.3 pymilvus==3.0.2 milvus-lite==2.5.1 "setuptools<81"
COMPAT_LLAMA_PKGS ?= "llama-index-vector-stores-milvus==1.2.*" llama-index-core==0.14.25 pymilvus==2.6.17 \
	milvus-lite==2.5.1 "setuptools<81"
# `make test-lite3file`: milvus-rag installed beside langchain-milvus 0.4 (which needs
# milvus-lite>=3.1), so `./x.db` is a Milvus Lite 3 embedded folder; the backend tests run there.
BESIDE_VENV ?= .venv-beside-langchain
BESIDE_PKGS ?= "langchain-milvus==0.4.*" "pytest>=8.2" "pytest-asyncio>=0.24" "pytest-timeout>=2.3" \
	"hypothesis>=6.100"
# torch is installed on its own, first: the CPU wheel (found locally through pip's
# find-links). Left to the resolver, sentence-transformers pulls a multi-GB CUDA build.
TORCH_VERSION ?= 2.13.0
EXTRAS ?= all,test,dev
# --no-compile: pip would byte-compile all ~23,000 installed modules (2 min of CPU measured);
# Python writes the bytecode of the quarter a test run imports on first import instead.
PIP_INSTALL = $(PY) -m pip install --progress-bar off --no-compile
DATA ?= ../shared/data/scifact
PYTEST_ARGS ?=
# pytest-xdist workers of `make test` (0: one process). 3 on a quiet 2-core VM: the first phase
# took 11 min 50 s and 12 min 25 s in a clone with built venvs, 14 min 49 s in a fresh one
# (2 workers: 13 min 48 s; one process: 38 min before the compat tests kept one process per
# library). With 2 workers the run used 59% of the two cores (18.6 CPU-min in
# 15.8 min): the rest is waiting on servers and subprocesses. The wall-clock tests run alone
# afterwards (`serial`). TEST_WORKERS=0 on a machine other jobs load heavily.
TEST_WORKERS ?= 3
BENCH_ARGS ?=
SOAK_ARGS ?=

# Tests find the lite-3 server interpreter here (default: .venv-lite3/bin/python).
export MILVUS_RAG_LITE3_PYTHON ?= $(abspath $(LITE3_VENV))/bin/python

.PHONY: help install compat-venvs demo test test-fast test-lite3file lint format notebooks bench bench-scale soak clean

help:
	@echo "make install    create $(VENV) (package + extras + dev tools), $(LITE3_VENV) and"
	@echo "                $(COMPAT_VENV)/{langchain,llamaindex} (the official integrations, for tests)"
	@echo "make demo       run the end-to-end demo (milvus-rag demo)"
	@echo "make test       run the test suite (PYTEST_ARGS='...', TEST_WORKERS=0 for one process)"
	@echo "make test-fast  unit tests only (no integration, no slow)"
	@echo "make test-lite3file  backend tests on a Milvus Lite 3 .db, in $(BESIDE_VENV) (beside langchain-milvus)"
	@echo "make lint       ruff check, ruff format --check, mypy, lint-imports (architecture)"
	@echo "make format     ruff format + ruff check --fix"
	@echo "make notebooks  run the notebooks and store them with their outputs"
	@echo "make bench      quality and speed benchmarks on SciFact (DATA=$(DATA))"
	@echo "make bench-scale  ingest/latency scaling to 1M synthetic rows"
	@echo "make soak       long-running stability run"
	@echo "make clean      remove venvs, caches and *.db files"

# The environments are independent: built side by side (-O: each one's log in one piece).
install:
	@$(MAKE) --no-print-directory -j3 -O $(VENV)/.installed $(LITE3_VENV)/.installed compat-venvs

compat-venvs: $(COMPAT_VENV)/langchain/.installed $(COMPAT_VENV)/llamaindex/.installed

# Order-only prerequisite: the venv's python is a symlink whose mtime must not trigger rebuilds.
$(PY):
	@test -n "$(PYTHON)" || { echo "error: no python3 found; install Python 3.10+" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
		|| { echo "error: $(PYTHON) is older than 3.10" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --progress-bar off --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	@if $(PY) -c "import importlib.metadata as m, sys; \
		sys.exit(m.version('torch').split('+')[0] != '$(TORCH_VERSION)')" 2>/dev/null; then \
		echo "torch $(TORCH_VERSION) already installed"; \
	else \
		echo "+ pip install torch==$(TORCH_VERSION)"; \
		$(PIP_INSTALL) "torch==$(TORCH_VERSION)"; \
	fi
	$(PIP_INSTALL) -e ".[$(EXTRAS)]"
	@touch $@

$(LITE3_VENV)/.installed:
	@test -n "$(PYTHON)" || { echo "error: no python3 found; install Python 3.10+" >&2; exit 1; }
	$(PYTHON) -m venv $(LITE3_VENV)
	$(LITE3_VENV)/bin/python -m pip install --progress-bar off --upgrade pip
	$(LITE3_VENV)/bin/python -m pip install --progress-bar off --no-compile $(LITE3_PKGS)
	@touch $@

$(COMPAT_VENV)/langchain/.installed:
	@test -n "$(PYTHON)" || { echo "error: no python3 found; install Python 3.10+" >&2; exit 1; }
	$(PYTHON) -m venv $(COMPAT_VENV)/langchain
	$(COMPAT_VENV)/langchain/bin/python -m pip install -q --progress-bar off --no-compile --no-deps "langchain-milvus==0.4.*"
	$(COMPAT_VENV)/langchain/bin/python -m pip install -q --progress-bar off --no-compile $(COMPAT_LANGCHAIN_PKGS)
	@touch $@

$(COMPAT_VENV)/llamaindex/.installed:
	@test -n "$(PYTHON)" || { echo "error: no python3 found; install Python 3.10+" >&2; exit 1; }
	$(PYTHON) -m venv $(COMPAT_VENV)/llamaindex
	$(COMPAT_VENV)/llamaindex/bin/python -m pip install -q --progress-bar off --no-compile $(COMPAT_LLAMA_PKGS)
	@touch $@

$(BESIDE_VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no python3 found; install Python 3.10+" >&2; exit 1; }
	test -x $(BESIDE_VENV)/bin/python || $(PYTHON) -m venv $(BESIDE_VENV)
	$(BESIDE_VENV)/bin/python -m pip install --progress-bar off -e ".[langchain,llama-index,cli]" $(BESIDE_PKGS)
	@touch $@

test-lite3file: $(BESIDE_VENV)/.installed $(LITE3_VENV)/.installed
	MILVUS_RAG_BACKENDS=lite3file $(BESIDE_VENV)/bin/python -m pytest -q -m "not slow" \
		tests/integration tests/cli tests/llama_index tests/langchain \
		--ignore=tests/langchain/test_standard.py $(PYTEST_ARGS)

demo: install
	$(PY) -m milvus_rag.cli demo

# Two phases: the tests not marked `serial` (on TEST_WORKERS pytest-xdist workers if set; a
# module's tests stay on one worker, so its module fixtures are built once), then the `serial`
# tests (wall-clock bounds, event-loop stalls) alone. Exit status 5 is pytest's "no test
# selected" (PYTEST_ARGS chose none of a phase).
test: install
	$(PY) -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadscope -m "not serial" \
		$(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest -q --durations=15 -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-fast: install
	$(PY) -m pytest -q -m "not integration and not slow" $(PYTEST_ARGS)

notebooks: install
	$(PY) notebooks/execute.py

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy milvus_rag
	$(VENV)/bin/lint-imports
	$(PY) .ci/import_cycles.py

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Competitor venvs (.bench-venvs/) are made by benchmarks/competitors/setup.sh; without them
# speed.py records "missing" for the competitor rows. Embeddings are cached under
# benchmarks/results/cache/.
bench: install
	$(PY) benchmarks/quality.py --data $(DATA) $(BENCH_ARGS)
	bash benchmarks/competitors/setup.sh
	$(PY) benchmarks/speed.py --data $(DATA) $(BENCH_ARGS)
	$(PY) benchmarks/core_speed.py

bench-scale: install
	$(PY) benchmarks/scaling.py --full $(BENCH_ARGS)

soak: install
	$(PY) benchmarks/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) $(LITE3_VENV) $(COMPAT_VENV) $(BESIDE_VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks
	find . -name '*.egg-info' -prune -exec rm -rf {} +
	find . -name '__pycache__' -type d -prune -exec rm -rf {} +
	find . \( -name '*.db' -o -name '*.db.lock' \) -not -path './.git/*' -exec rm -rf {} +
