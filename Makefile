# Edda MCP — developer entry points. Needs only GNU make and Python 3.11+.
#
#   make demo    crash-and-recover demo (creates .venv on first use)
#   make test    test suite (SQLite; PostgreSQL/MySQL too when EDDA_TEST_*_URL are set)
#   make lint    ruff check, ruff format --check, mypy (strict)
#   make bench   benchmarks
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
.PHONY: help install demo test lint bench clean distclean

help:
	@echo "targets: demo test lint bench clean distclean  (PYTHON=$(PYTHON))"

$(STAMP): pyproject.toml
	$(call check_python,$(PYTHON),)
	@test -x $(VPY) || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(call check_python,$(VPY), and delete $(VENV))
	$(VPY) -m pip install --disable-pip-version-check --quiet --upgrade pip
	$(VPY) -m pip install --disable-pip-version-check --quiet -e '.[dev,postgresql,mysql]'
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(VPY) examples/crash_recovery_demo.py

test: $(STAMP)
	$(VPY) -m pytest -n 2 -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(VPY) -m ruff check .
	$(VPY) -m ruff format --check .
	$(VPY) -m mypy

bench: $(STAMP)
	$(VPY) bench/run_all.py

clean:
	rm -rf build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
