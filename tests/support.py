"""What several test modules share: the environment of the programs they run, and the helper scripts."""

import os

#: The environment of every program a test runs (TensorFlow's C++ start-up lines silenced).
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
#: Scripts the tests run in their own processes (killed trainings and exports, replica steps).
HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers")


def run_module(module, *args, check=True, timeout=600):
    """``python -m module args…`` in :data:`ENV`; its ``CompletedProcess`` (text output captured)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", module, *args], env=ENV, capture_output=True, text=True,
                          check=check, timeout=timeout)
