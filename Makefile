# Atrium — `make run` serves the demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HTMX := src/atrium/web/static/vendor/htmx.min.js
HTMX_VERSION := 2.0.8
PYTEST_WORKERS ?= 2

.PHONY: install run test test-fast lint format bench runtime-deps system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -U pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# htmx comes from the npm registry (package htmx.org); the console works without it, only less smoothly.
$(HTMX):
	@mkdir -p $(dir $@)
	@tmp=$$(mktemp -d) && (cd $$tmp && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null 2>&1 && tar xzf htmx.org-$(HTMX_VERSION).tgz) \
	  && cp $$tmp/package/dist/htmx.min.js $@ || echo "note: htmx not installed (npm unavailable); the console falls back to plain forms"; rm -rf $$tmp

install: $(STAMP) $(HTMX)

run: install runtime-deps
	$(BIN)/atrium demo
	$(BIN)/atrium serve --host 127.0.0.1 --port 8000

# Debian packages the tests need: Chromium (browser tests) and xmlsec1 (SAML signatures; also needed at run time for SAML SSO).
# xmlsec1 checks SAML signatures at run time; installed when missing (needs root and apt).
runtime-deps:
	@command -v xmlsec1 >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xmlsec1 >/dev/null; \
	  else echo "note: xmlsec1 missing and cannot be installed; SAML single sign-on will refuse every response"; fi; }

system-deps:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v xmlsec1 >/dev/null 2>&1 || missing="$$missing xmlsec1"; \
	test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note:$$missing missing and cannot be installed; tests needing them skip (fail under CI=true)"; fi; fi

test: install system-deps
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup -q

test-fast: install
	$(BIN)/pytest -q -x -m "not browser"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
