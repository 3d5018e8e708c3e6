# The two commands a new user needs: `make demo` and `make test`. Both install first.
PY ?= python3
PIP := $(PY) -m pip
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: install demo test bench-vision

# torch first: a bare `torch` requirement would pull the CUDA build onto a CPU machine. Where torch is
# already importable (a GPU box), it is left alone and pip sees the requirement as satisfied.
install:
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev]"
	bash scripts/setup_wordnet.sh
	bash scripts/setup_system.sh

demo: install
	bash scripts/demo.sh

test: install
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m pytest -q tests

bench-vision: install
	$(PY) bench/vision.py
