# Two commands do all the set-up on a fresh machine with Python 3.11 and make:
#   make demo   create .venv, install optiserv (and compile its numba kernels), run the default scenario
#   make test   create .venv, install optiserv with its dev tools, run lint and the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow lint bench clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/optiserv warmup --quiet
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/optiserv run scenarios/service-i-samverkan/alvdalen.yaml --out runs/demo --overwrite

# Headless Chromium for the report's browser test (tests/test_report_browser.py); the test
# skips with a reason where it cannot be installed.
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends chromium) >/dev/null 2>&1 || echo "chromium could not be installed: the browser test will be skipped"

test: $(STAMP) chromium
	$(BIN)/ruff check optiserv tests benchmarks scenarios
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
