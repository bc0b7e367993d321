# The two commands: `make demo` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test install jars browser infra-up infra-down clean

demo: jars
	$(BIN)/esper demo

test: jars browser
	$(BIN)/python -m pytest

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Esper needs Python 3.11+; run make PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --progress-bar off -e '.[dev]'
	touch $@

# The Kafka broker's jars, from Maven Central into infra/kafka/libs (once).
jars: install
	$(BIN)/python -c 'from esper.infra.kafka import ensure_jars; print("kafka jars in", ensure_jars())'

# Debian's Chromium and its driver, for the dashboard's browser test (root, or sudo).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver; }

infra-up: jars
	$(BIN)/esper infra up

infra-down: install
	$(BIN)/esper infra down

clean: infra-down
	rm -rf $(VENV) .esper infra/kafka/libs
