# Patron: `make demo` sets up and serves the demo; `make test` sets up and runs every test.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
VENDOR := src/patron/web/static/vendor
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

.PHONY: setup compiled demo test test-fast lint format browser bench clean

setup: $(VENV)/.synced $(VENDOR)/.installed

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --quiet --compile-bytecode
	touch $@

$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/echarts/dist/echarts.min.js $(VENDOR)/
	touch $@

browser:
	@{ test -x /usr/bin/chromium && test -d /usr/share/fonts/opentype/noto; } || { \
	  echo "installing Debian's chromium and CJK fonts for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium fonts-noto-cjk >/dev/null; }

# The environment may forbid writing bytecode caches; compile once so each `patron` starts fast.
compiled: setup
	$(BIN)/python -m compileall -q src >/dev/null

demo: setup compiled
	$(BIN)/patron demo

test: setup browser compiled
	$(BIN)/pytest -n 2 --dist loadgroup
	$(MAKE) --no-print-directory lint

test-fast: setup
	$(BIN)/pytest -n 2 -m "not slow and not browser"

lint: setup
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) .uv node_modules $(VENDOR)
