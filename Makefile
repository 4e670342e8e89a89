# Edda MCP — developer entry points. Needs only GNU make and Python 3.11+.
#
#   make demo    MCP walkthrough: a durable tool survives SIGKILL of its server (creates .venv on first use)
#   make serve   the example MCP server on streamable HTTP at 127.0.0.1:8000
#   make test    test suite (SQLite; PostgreSQL/MySQL too when EDDA_TEST_*_URL are set)
#   make lint    ruff check, ruff format --check, mypy (strict)
#   make bench   benchmarks
#   make docs    the documentation site into site/ (strict: a warning or broken link fails)
#   make clean   remove build artefacts and caches (distclean also removes .venv)

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

# Fails with a clear message when the interpreter is missing or older than 3.11.
define check_python
	@$(1) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
	  echo "error: Edda MCP needs Python 3.11 or newer, but '$(1)' is" \
	    "$$($(1) -c 'import platform; print(platform.python_version())' 2>/dev/null || echo 'not found')." >&2; \
	  echo "       Run make with PYTHON=/path/to/python3.11 (or newer)$(2)." >&2; \
	  exit 1; }
endef

.DEFAULT_GOAL := help
.PHONY: help install demo serve test lint bench docs clean distclean

help:
	@echo "targets: demo serve test lint bench docs clean distclean  (PYTHON=$(PYTHON))"

$(STAMP): pyproject.toml
	$(call check_python,$(PYTHON),)
	@test -x $(VPY) || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(call check_python,$(VPY), and delete $(VENV))
	$(VPY) -m pip install --disable-pip-version-check --quiet --upgrade pip
	$(VPY) -m pip install --disable-pip-version-check --quiet -e '.[dev,postgresql,mysql]'
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(VPY) examples/mcp_demo.py

serve: $(STAMP)
	@echo "Serving examples/mcp_order_server.py on http://127.0.0.1:8000/mcp (Ctrl-C stops it)."
	@echo "  MCP Inspector:  npx @modelcontextprotocol/inspector  -> Streamable HTTP, URL http://127.0.0.1:8000/mcp"
	@echo "  Claude Desktop: $(VENV)/bin/edda-mcp install claude-desktop examples/mcp_order_server.py:server"
	@echo "                  (runs it over stdio; restart Claude Desktop afterwards)"
	$(VENV)/bin/edda-mcp serve examples/mcp_order_server.py:server --transport http --host 127.0.0.1 --port 8000

# The TypeScript MCP SDK and the MCP Inspector (tests/ts) when npm is on the machine; tests that need them
# skip with one line otherwise (and fail in CI, which installs them).
TS_STAMP := tests/ts/node_modules/.installed
$(TS_STAMP): tests/ts/package.json tests/ts/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  echo "installing the TypeScript MCP clients (tests/ts)"; \
	  npm ci --prefix tests/ts --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the TypeScript SDK / Inspector tests will be skipped"; fi

test: $(STAMP) $(TS_STAMP)
	$(VPY) -m pytest -n 2 -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(VPY) -m ruff check .
	$(VPY) -m ruff format --check .
	$(VPY) -m mypy

bench: $(STAMP)
	$(VPY) bench/run_all.py

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VPY) -m mkdocs build --strict

clean:
	rm -rf build dist site *.egg-info .mypy_cache .ruff_cache .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
