# Every target creates/uses the project's virtualenv in .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench venv clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(PY) -m compileall -q statedict_lint
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/statedict-lint keys fixtures/gpt.py:GPT --set config.n_layer=2 --set config.n_embd=64 --set config.n_head=4 --set config.vocab_size=100 --set config.block_size=32 --set config.bias=True
	$(VENV)/bin/statedict-lint keys fixtures/gpt.py:GPT

test: $(STAMP)
	$(PY) -m pytest tests

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV)
