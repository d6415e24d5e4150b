# tfmusictag — every target sets up what it needs from nothing.
#   make demo     the main job: demo catalog → train two variants → evaluate → export → tag a track
#   make test     virtual environment + pinned dependencies + musicnn's weights + the test suite
#   make bench    the benchmarks in benchmarks/ (downloads real music from Debian's archive)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: install pretrained demo test bench clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt "pip==26.3" setuptools wheel
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation -c constraints.txt -e ".[test,bench]"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -c constraints.txt tinysoundfont
	touch $(STAMP)

install: $(STAMP)

# musicnn's MagnaTagATune/MSD checkpoints (the musicnn 0.1.0 sdist from PyPI, checked, cached in
# $$TFMUSICTAG_HOME, default ~/.cache/tfmusictag); the parity tests and the transfer demo use them
pretrained: $(STAMP)
	$(PY) -m tfmusictag.pretrained download musicnn

test: pretrained
	$(PY) -m pytest -q -p no:cacheprovider tests

demo: pretrained
	$(PY) -m tfmusictag.demo

bench: $(STAMP)
	$(PY) benchmarks/bench_frontend.py
	$(PY) benchmarks/bench_models.py
	$(PY) benchmarks/bench_predict.py
	$(PY) benchmarks/bench_pipeline.py

clean:
	rm -rf $(VENV) build *.egg-info
