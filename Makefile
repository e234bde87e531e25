# Two set-up commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run daemon test lint unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the dependency list changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

# The main job: the daemon with built-in Google and Microsoft emulators and demo data.
run: $(VENV)/.installed-run
	CALSYNC_LOG_FORMAT=$${CALSYNC_LOG_FORMAT:-console} $(BIN)/calsync sandbox

# The daemon alone, configured from CALSYNC_* (real providers).
daemon: $(VENV)/.installed-run
	$(BIN)/calsync run

# Headless Chromium for the /status page test (Debian's package). Needs root; without it the
# browser test is skipped and says why.
$(VENV)/.installed-chromium: | $(BIN)/python
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed: the status-page browser test will be skipped"; \
	else echo "chromium not installed and not root: the status-page browser test will be skipped"; fi
	touch $@

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check calsync daemon handlers channels store
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/pytest -q -m "not slow"

test: lint $(VENV)/.installed-chromium
	$(BIN)/pytest -q

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache calsync.db*
