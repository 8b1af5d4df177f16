# Every target creates/uses the project's virtualenv in .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test fuzz bench venv clean

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

# mypy first (config: [tool.mypy] in pyproject.toml), then the test suite
test: $(STAMP)
	$(PY) -m mypy statedict_lint
	$(PY) -m pytest tests

# the property tests of tests/test_fuzz.py and tests/test_checkpoint_badinput.py with many more (random) examples
# than `make test` runs (a fixed seed there); FUZZ_EXAMPLES=N to change
FUZZ_EXAMPLES ?= 2000
fuzz: $(STAMP)
	SDL_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz.py tests/test_checkpoint_badinput.py -k fuzz

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV)
