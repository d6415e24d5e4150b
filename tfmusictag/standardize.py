"""Standardisation fitted on training data: each feature centred and scaled by its mean and
standard deviation over the training set — the classifier's input in the small-catalog recipe
(:class:`~tfmusictag.classifier.TagClassifier`) and the LSTMs' input
(:mod:`tfmusictag.temporal`; for MFCCs this is cepstral mean and variance normalisation).

Fitted like the thesis's unsupervised stages (PCA, the BoF codebook), before the supervised steps,
and stored as non-trainable weights, so a saved or exported model carries its statistics.
"""

from __future__ import annotations

from typing import Iterable, Tuple

import numpy as np

from tfmusictag.errors import ParameterError

__all__ = ["fit_standardization", "add_standardization_weights"]


def fit_standardization(rows: Iterable[np.ndarray], what: str = "features") -> Tuple[np.ndarray, np.ndarray, int]:
    """``(mean, scale, n)`` of ``(n_i, D)`` row blocks: ``scale = 1 / std`` per feature, 1 for a
    feature that never varies (it is then only centred). Accumulated in float64, one block at a time."""
    n, total, squares = 0, 0.0, 0.0
    for block in rows:
        block = np.asarray(block, np.float64).reshape(-1, np.shape(block)[-1])
        n, total, squares = n + len(block), total + block.sum(0), squares + (block ** 2).sum(0)
    if n == 0:
        raise ParameterError(f"standardising the {what} needs at least one training vector; received none")
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean ** 2, 0.0))
    varies = std > 1e-6 * max(float(std.max()), 1e-30)
    scale = np.where(varies, 1.0 / np.where(varies, std, 1.0), 1.0)
    return mean.astype("float32"), scale.astype("float32"), n


def add_standardization_weights(layer, dim: int) -> None:
    """``layer.mean``, ``layer.scale`` (``(dim,)``) and ``layer.fitted`` (0 until fitted), non-trainable."""
    layer.mean = layer.add_weight(name="mean", shape=(dim,), initializer="zeros", trainable=False)
    layer.scale = layer.add_weight(name="scale", shape=(dim,), initializer="ones", trainable=False)
    layer.fitted = layer.add_weight(name="fitted", shape=(), initializer="zeros", trainable=False)
