"""A run's seeds and op determinism, for the run only.

``keras.utils.set_random_seed`` seeds Python's ``random``, NumPy's global generator, TensorFlow's
global seed and Keras's seed generator, and ``enable_op_determinism`` makes TensorFlow choose
deterministic kernels — both for the whole process, and the latter for good. :func:`seeded` does
both for the block it wraps and then puts back what it can: Python's and NumPy's generator states
and TensorFlow's op determinism (on again only if it was on before), so a program that calls
:func:`~tfmusictag.training.trainer.train` keeps its own random streams and its kernels afterwards.
TensorFlow's global seed stays set (TensorFlow keeps no way to read it back).
"""

from __future__ import annotations

import contextlib
import random

import keras
import numpy as np
import tensorflow as tf

__all__ = ["seeded", "op_determinism"]


def op_determinism() -> bool:
    """Whether TensorFlow currently runs deterministic kernels only."""
    from tensorflow.python.framework import config as tf_config  # no public reader in TensorFlow 2.21

    return bool(tf_config.is_op_determinism_enabled())


@contextlib.contextmanager
def seeded(seed: int, deterministic: bool = True):
    """Seed every generator with ``seed`` and, with ``deterministic``, run deterministic kernels,
    for the block only (see the module's docstring)."""
    from tensorflow.python.framework import config as tf_config

    python_state, numpy_state, was = random.getstate(), np.random.get_state(), op_determinism()
    keras.utils.set_random_seed(seed)
    if deterministic and not was:
        tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        if deterministic and not was:
            tf_config.disable_op_determinism()
