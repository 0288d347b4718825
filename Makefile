# Quick start: `make demo` (set-up, then train + evaluate the demo model) and
# `make test` (set-up, then the whole test suite). Needs only python3.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= runs/demo
# The run release/ptb/ was exported from; its test evaluation is the demo
# table's second column.
RELEASE_RESULTS := results/ptb_exact_window_wd0_input_feeding_mi_fb025_dropout_frozen.json

.PHONY: setup demo test test-all clean

setup: $(STAMP)

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	@echo "Training configs/ptb_small.py on PTB: about 15 minutes on 2 CPU cores."
	@echo "Logs and checkpoints: $(DEMO_DIR) (TensorBoard: tensorboard --logdir $(DEMO_DIR)/tensorboard)"
	$(PY) bin/train --config=configs/ptb_small.py --workdir=$(DEMO_DIR)
	$(PY) bin/evaluate --workdir=$(DEMO_DIR) --split=test --table --compare_with=$(RELEASE_RESULTS) --compare_label=release/ptb
	$(PY) bin/analyze --workdir=$(DEMO_DIR) --out=$(DEMO_DIR)/report
	@echo "Analysis report: $(DEMO_DIR)/report/index.html"
	@echo "TensorBoard logs: $(DEMO_DIR)/tensorboard"

# Test processes (pytest-xdist): "auto" is one per core, at most 4 (each
# holds a TensorFlow runtime); TEST_WORKERS=0 runs the suite in this process.
# One process keeps about one core busy (Python tracing and small ops), so on
# 2 cores two workers take the suite from 19.6 to 11.0 minutes (RESULTS.md).
TEST_WORKERS ?= auto
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --maxprocesses=4 --dist worksteal

# The suite without the long tests (marked `slow`), as CI runs it.
test: $(STAMP)
	$(PYTEST) -m "not slow" tests

test-all: $(STAMP)
	$(PYTEST) tests

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
