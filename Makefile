PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test demo bench browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The HTML report test opens pages in headless Chromium (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: install Debian's chromium for the HTML report test" >&2; fi; }

test: $(STAMP) browser
	$(PY) -m pytest -n 2 -q tests

demo: $(STAMP)
	$(PY) -m pidjax.demo

bench: $(STAMP)
	$(PY) -m benchmarks.run --suite quick

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
