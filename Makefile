# tfmusictag — every target sets up what it needs from nothing.
#   make demo     the main job: demo catalog → train two variants → evaluate → export → tag a track,
#                 then the pretrained MagnaTagATune tagger exported and tagging the same track
#   make test     virtual environment + pinned dependencies + musicnn's weights + the test suite
#                 (its numerics- and distribution-sensitive tests with oneDNN on and off)
#   make test-fast   the same without the end-to-end tests marked slow (subprocess runs, kills)
#   make bench    the benchmarks in benchmarks/ (downloads real music from Debian's archive, and
#                 builds musicnn's own environment for the comparison with the original)
#   make transfer-demo   transfer from MagnaTagATune (musicnn) to the demo catalog, measured
#   make docs     the documentation site (MkDocs, API pages from the docstrings) into site/
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
export TF_CPP_MIN_LOG_LEVEL ?= 3

MUSICNN_VENV ?= .venv-musicnn
MUSICNN_STAMP := $(MUSICNN_VENV)/.installed-stamp

.PHONY: install browser pretrained demo transfer-demo test test-fast docs bench musicnn-reference essentia-reference clean

# TensorFlow's build: CUDA where nvidia-smi finds a GPU, else the CPU build (smaller and faster to start)
TF_BUILD ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt "pip==26.3" setuptools wheel
	@# an environment made with the other build: remove it first (both install the `tensorflow` module)
	$(PY) -m pip uninstall -q -y $(if $(filter cpu,$(TF_BUILD)),tensorflow,tensorflow-cpu) 2>/dev/null || true
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation -c constraints.txt -e ".[$(TF_BUILD),test,bench]"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -c constraints.txt tinysoundfont
	touch $(STAMP)

install: $(STAMP)

# musicnn's MagnaTagATune/MSD checkpoints (the musicnn 0.1.0 sdist from PyPI, checked, cached in
# $$TFMUSICTAG_HOME, default ~/.cache/tfmusictag); the parity tests and the transfer demo use them
pretrained: $(STAMP)
	$(PY) -m tfmusictag.pretrained download musicnn

# Debian's chromium and its driver, for the catalog page's browser tests (installed when missing,
# with apt-get as root or through sudo; where there is no apt-get those tests are skipped, saying so)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if command -v apt-get >/dev/null; then \
	    echo "installing chromium and chromium-driver (apt-get)"; \
	    ( $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null ) \
	      || echo "could not install chromium with apt-get: the catalog page's browser tests will be skipped"; \
	  else echo "no apt-get here: the catalog page's browser tests will be skipped"; fi; fi

# Test modules share out over one worker process per core (at most 4; each loads TensorFlow),
# a module's tests in order on one worker (pytest-xdist, --dist loadfile)
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)
PYTEST := $(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

# the whole suite with TensorFlow's default for this CPU (oneDNN on for some CPUs, off for others),
# then the numerics- and distribution-sensitive tests again with the other setting
test: pretrained browser
	TFMUSICTAG_BROWSER=$$(command -v chromedriver >/dev/null && echo required) \
	  $(PYTEST) --durations=15 tests
	TF_ENABLE_ONEDNN_OPTS=$$($(PY) tests/onednn_other.py) $(PYTEST) -m onednn tests

test-fast: pretrained
	$(PYTEST) -m "not slow" tests

# strict: a broken link or anchor, a missing API page or a docstring that does not parse fails
docs: $(STAMP)
	$(PY) -m mkdocs build --strict --site-dir site
	@echo "open site/index.html"

demo: pretrained
	$(PY) -m tfmusictag.demo

# MFCC + BoF against black-box and fine-tuned MagnaTagATune CNN variants on the demo catalog
transfer-demo: pretrained
	$(PY) -m tfmusictag.transfer_demo

# the ORIGINAL musicnn in its own environment (TensorFlow 2.15, numpy < 2): reference outputs
# (tests/reference/musicnn_reference.py) and the speed comparison (benchmarks/bench_musicnn.py)
$(MUSICNN_STAMP):
	test -x $(MUSICNN_VENV)/bin/python || $(PYTHON) -m venv $(MUSICNN_VENV)
	$(MUSICNN_VENV)/bin/pip install -q --disable-pip-version-check tensorflow-cpu==2.15.1 numpy==1.26.4 \
		librosa==0.11.0 soundfile==0.14.0 soxr==1.1.0
	$(MUSICNN_VENV)/bin/pip install -q --disable-pip-version-check --no-deps musicnn==0.1.0
	touch $(MUSICNN_STAMP)

musicnn-reference: $(MUSICNN_STAMP)

# Essentia's TensorflowPredictMusiCNN (essentia-tensorflow from PyPI), benchmark-only, in its own
# environment: the third system of benchmarks/bench_musicnn.py
ESSENTIA_VENV ?= .venv-essentia
ESSENTIA_STAMP := $(ESSENTIA_VENV)/.installed-stamp
$(ESSENTIA_STAMP):
	test -x $(ESSENTIA_VENV)/bin/python || $(PYTHON) -m venv $(ESSENTIA_VENV)
	$(ESSENTIA_VENV)/bin/pip install -q --disable-pip-version-check essentia-tensorflow==2.1b6.dev1389
	touch $(ESSENTIA_STAMP)

essentia-reference: $(ESSENTIA_STAMP)

bench: pretrained $(MUSICNN_STAMP) $(ESSENTIA_STAMP)
	$(PY) benchmarks/bench_musicnn.py --musicnn_python $(MUSICNN_VENV)/bin/python \
		--essentia_python $(ESSENTIA_VENV)/bin/python
	$(PY) benchmarks/bench_frontend.py
	$(PY) benchmarks/bench_models.py
	$(PY) benchmarks/bench_predict.py
	$(PY) benchmarks/bench_pipeline.py
	$(PY) benchmarks/bench_memory.py --musicnn_python $(MUSICNN_VENV)/bin/python
	$(PY) benchmarks/bench_distributed.py
	$(PY) benchmarks/bench_small_catalog.py --more_networks=MSD_vgg

clean:
	rm -rf $(VENV) $(MUSICNN_VENV) $(ESSENTIA_VENV) build *.egg-info
