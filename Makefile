# The two commands of the README: `make bench` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is pinned here (not in pyproject) so the install is fast on this machine type; override
# TORCH_PIN= to keep an existing torch, e.g. `make test TORCH_PIN=`.
TORCH_PIN ?= torch==2.14.1 torchvision==0.29.1
LOSSES ?= bce,wgan-gp,hinge

.PHONY: bench test test-fast data install clean

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

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
