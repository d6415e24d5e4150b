"""Classifier ``ζ = C(f)``: the two-layer perceptron of Eq. 2.14 (thesis Sec. 2.4.1, Alg. 23 step 7).

``ζ = σ(W_L2 · ReLU(W_L1 · f))``: ``H`` hidden ReLU units (Table 4.3 picks H = 1024), one
sigmoid per tag, so every tag is an independent binary decision (multi-label).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from tfmusictag.errors import ParameterError

__all__ = ["ClassifierConfig", "TwoLayerPerceptron"]


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """``hidden``: H (thesis: 1024); ``dropout`` before the output layer (thesis: none)."""

    hidden: int = 1024
    dropout: float = 0.0


@keras.saving.register_keras_serializable(package="tfmusictag")
class TwoLayerPerceptron(keras.layers.Layer):
    """Two-layer perceptron with ReLU hidden units and sigmoid outputs (Eq. 2.14).

    Args:
        num_tags: int > 0, ``L``.
        hidden: int > 0, ``H``. Defaults to 1024.
        dropout: float in [0, 1), applied to the hidden layer. Defaults to 0.

    Call arguments:
        f: ``(batch, Z)`` track embedding.

    Returns:
        ``(batch, num_tags)`` probabilities in [0, 1].
    """

    def __init__(self, num_tags: int, hidden: int = 1024, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        for name, v in (("num_tags", num_tags), ("hidden", hidden)):
            if not isinstance(v, (int, np.integer)) or v <= 0:
                raise ParameterError(f"{name}={v!r} must be a positive integer")
        if not 0 <= dropout < 1:
            raise ParameterError(f"dropout={dropout!r} must be in [0, 1)")
        self.num_tags, self.hidden, self.dropout = int(num_tags), int(hidden), float(dropout)
        self.hidden_layer = keras.layers.Dense(self.hidden, activation="relu", name="hidden")
        self.drop = keras.layers.Dropout(self.dropout)
        self.output_layer = keras.layers.Dense(self.num_tags, activation="sigmoid", name="output")

    def build(self, input_shape):
        self.hidden_layer.build(input_shape)
        self.output_layer.build((input_shape[0], self.hidden))

    def call(self, f, training=None):
        return self.output_layer(self.drop(self.hidden_layer(f), training=training))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_tags)

    def get_config(self):
        config = super().get_config()
        config.update({"num_tags": self.num_tags, "hidden": self.hidden, "dropout": self.dropout})
        return config
