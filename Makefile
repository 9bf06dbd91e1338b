# Two commands on a fresh machine with Python >= 3.11 and make:
#   make demo   -- create .venv if missing, install, run the main job
#   make test   -- same set-up, check the layer contracts (lint-imports), run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/securecomm demo

test: $(STAMP) $(CHROMIUM)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

# Issue 11: the console's browser tests (tests/browser) drive Debian's Chromium headless through
# Playwright; nothing is downloaded by Playwright itself. Installed here when missing (CI runs as root).
$(CHROMIUM):
	$(if $(filter 0,$(shell id -u)),,sudo) sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -q --no-install-recommends chromium'

bench: $(STAMP)
	$(BIN)/securecomm bench fvc ../shared/data/fvc2002

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
