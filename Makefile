# The two set-up commands of the README: `make demo` and `make test`.
# Both create (or reuse) the local virtualenv in $(VENV) and install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.snnsim-installed
PYTEST_ARGS ?=

.PHONY: venv demo test test-all bench clean

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

demo: $(STAMP)
	$(VENV)/bin/snnsim demo --out runs/demo

test: $(PEERS)
	bash .ci/install-browser.sh
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-all: $(PEERS)
	bash .ci/install-browser.sh
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation -e ".[bench]"
	$(PY) benchmarks/simulate.py
	$(PY) benchmarks/density.py --threads $(or $(BENCH_THREADS),2)

clean:
	rm -rf $(VENV) runs .pytest_cache
