# The two set-up commands of the README: `make demo` and `make test`.
# Both create (or reuse) the local virtualenv in $(VENV) and install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.snnsim-installed
PYTEST_ARGS ?=

.PHONY: venv demo lint test test-all docs bench bench-stdp clean

$(STAMP): requirements.txt setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

# The other simulators the interop tests compare against (tests/nir/test_peers.py), pinned to
# requirements.txt so that they cannot move torch.
PEERS := $(VENV)/.snnsim-peers
$(PEERS): $(STAMP) requirements-peers.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-peers.txt -c requirements.txt
	touch $(PEERS)

# The documentation site's tools (Sphinx, MyST, myst-nb, furo, nbclient, ipykernel), pinned in
# requirements-docs.txt and constrained by requirements.txt so that they cannot move torch.
DOCS_STAMP := $(VENV)/.snnsim-docs
$(DOCS_STAMP): $(STAMP) requirements-docs.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-docs.txt -c requirements.txt
	touch $(DOCS_STAMP)

# The documentation site in docs/_build/html (offline: no network, opens nothing; warnings are errors).
docs: $(DOCS_STAMP)
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

demo: $(STAMP)
	$(VENV)/bin/snnsim demo --out runs/demo

# ruff's rules and formatting (ruff.toml) and the import contracts (.importlinter)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

test: $(PEERS) $(DOCS_STAMP) lint
	bash .ci/install-browser.sh
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-all: $(PEERS) $(DOCS_STAMP)
	bash .ci/install-browser.sh
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation -e ".[bench]"
	$(PY) benchmarks/simulate.py
	$(PY) benchmarks/density.py --threads $(or $(BENCH_THREADS),2)

# benchmarks/stdp.py: Diehl & Cook STDP in BindsNET, snnsim's fast engine and Brian2. Brian2
# 2.10+ needs Python >= 3.12, so it gets its own virtualenv (.venv-brian2) made with python3.12
# (set PY312=/path/to/python3.12 where it is elsewhere).
BRIAN2_VENV ?= .venv-brian2
PY312 ?= $(shell for p in python3.12 python3.13 $(wildcard /root/.pyenv/versions/3.1[23]*/bin/python); do \
	$$p -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && { command -v $$p; break; }; done)
BRIAN2_STAMP := $(BRIAN2_VENV)/.installed
$(BRIAN2_STAMP): benchmarks/requirements-brian2.txt
	@test -n "$(PY312)" || { echo "bench-stdp: no python3.12 found (Brian2 needs Python >= 3.12); set PY312=/path/to/python3.12"; exit 1; }
	test -x $(BRIAN2_VENV)/bin/python || $(PY312) -m venv $(BRIAN2_VENV)
	$(BRIAN2_VENV)/bin/python -m pip install -q --disable-pip-version-check -r benchmarks/requirements-brian2.txt
	touch $(BRIAN2_STAMP)

bench-stdp: $(STAMP) $(BRIAN2_STAMP)
	$(PY) benchmarks/stdp.py --brian2-python $(BRIAN2_VENV)/bin/python $(BENCH_STDP_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache docs/_build
