# The two commands of the README: `make bench` and `make test`. Both build .venv on first use, as
# does `make docs` (the docs site from docs/, into site/).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is pinned here (not in pyproject) so the install is fast on this machine type; override
# TORCH_PIN= to keep an existing torch, e.g. `make test TORCH_PIN=`.
TORCH_PIN ?= torch==2.14.1 torchvision==0.29.1
LOSSES ?= bce,wgan-gp,hinge

VENV_MIN ?= .venv-min

.PHONY: bench test test-fast test-min data docs install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(if $(strip $(TORCH_PIN)),$(PY) -m pip install -q $(TORCH_PIN))
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

bench: install
	$(VENV)/bin/ganeval bench --losses $(LOSSES)

# MNIST for the full-data tests (verified against its official SHA-256); without network the
# tests that need it are skipped and say so.
data: install
	-$(VENV)/bin/ganeval data fetch mnist

test: install data
	$(PY) -m pytest -q

# The edit loop: everything but the tests marked slow (make test runs them all).
test-fast: install data
	$(PY) -m pytest -q -m "not slow"

# The docs site: docs/*.md, the CLI reference generated from click, the API from docstrings;
# --strict turns every warning (a broken link, a docstring that does not parse) into a failure.
docs: install
	$(VENV)/bin/mkdocs build --strict

# The lowest version of every dependency pyproject.toml declares (.ci/min-versions.txt, held to
# pyproject.toml's floors by tests/test_packaging.py), in an environment of its own: the floors
# are tested, not assumed.
$(VENV_MIN)/.installed: pyproject.toml .ci/min-versions.txt Makefile
	$(PYTHON) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install -q -c .ci/min-versions.txt -e '.[dev]'
	touch $@

test-min: $(VENV_MIN)/.installed
	-$(VENV_MIN)/bin/ganeval data fetch mnist
	$(VENV_MIN)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) $(VENV_MIN) *.egg-info .pytest_cache site
