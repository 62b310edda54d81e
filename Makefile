# Two commands do everything on a fresh machine: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BPM := $(VENV)/bin/bpm
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run test lint typecheck bench bench-quick browser-deps clean translations

install: $(VENV)/.stamp-install webui/static/vendor/.stamp translations

$(VENV)/.stamp-install: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Front-end libraries come from npm and are served by the app; nothing is fetched from a CDN.
webui/static/vendor/.stamp: package.json package-lock.json scripts/copy_vendor.sh $(wildcard webui/static/src/*)
	npm ci --no-audit --no-fund --loglevel=error
	bash scripts/copy_vendor.sh
	touch $@

# Compiled catalogs are not committed (.gitignore): build them here, with any error visible.
translations: $(VENV)/.stamp-install
	$(VENV)/bin/pybabel compile -d webui/translations -f

run: install
	$(BPM) init-db
	$(BPM) deploy processes
	$(BPM) demo
	$(BPM) run --host $(HOST) --port $(PORT) --with-worker

# Debian's chromium for the browser tests (never a browser downloaded at run time), and CJK fonts so
# the screenshots they take show the Chinese UI instead of empty boxes.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "chromium or CJK fonts missing: browser tests skip or show boxes (apt-get install chromium fonts-noto-cjk)"; fi; fi

lint: $(VENV)/.stamp-install
	$(VENV)/bin/ruff check engine department webui tests bench
	$(VENV)/bin/mypy

test: install browser-deps lint
	$(VENV)/bin/pytest -q -p no:cacheprovider
	$(PY) -m bench --quick

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules webui/static/vendor instance .pytest_cache .mypy_cache .ruff_cache
