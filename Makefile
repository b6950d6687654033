# Two commands for a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench lint clean

$(BIN)/handoff: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-extras: $(BIN)/handoff
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(BIN)/handoff
	$(BIN)/handoff serve

test: $(VENV)/.test-extras
	$(BIN)/lint-imports
	$(BIN)/mypy handoff mailer web webhooks
	$(BIN)/pytest $(PYTEST_ARGS)
	HANDOFF_TEST_DATABASE=postgresql $(BIN)/pytest $(PYTEST_ARGS)

bench: $(VENV)/.test-extras
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.reading
	$(BIN)/python -m benchmarks.chase
	$(BIN)/python -m benchmarks.figures
	$(BIN)/python -m benchmarks.split
	$(BIN)/python -m benchmarks.floor
	$(BIN)/python -m benchmarks.calls
	$(BIN)/python -m benchmarks.bigdb

clean:
	rm -rf $(VENV) var
