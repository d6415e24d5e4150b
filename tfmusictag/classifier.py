"""Classifier ``ζ = C(f)``: the two-layer perceptron of Eq. 2.14 (thesis Sec. 2.4.1, Alg. 23 step 7).

``ζ = σ(W_L2 · ReLU(W_L1 · f))``: ``H`` hidden ReLU units (Table 4.3 picks H = 1024), one
sigmoid per tag, so every tag is an independent binary decision (multi-label).

Options beyond the thesis exist for the pretrained source models (:mod:`tfmusictag.pretrained`):
musicnn's back end is this perceptron with batch normalisation of its input and of its hidden
layer and dropout 0.5 before each dense layer (``input_norm``, ``hidden_norm``,
``input_dropout``); musicnn's VGG ends in a single sigmoid layer (``hidden=0``).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from tfmusictag.errors import ParameterError

__all__ = ["ClassifierConfig", "TwoLayerPerceptron"]


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """``hidden``: H (thesis: 1024; 0: no hidden layer); ``dropout`` before the output layer
    (thesis: none); ``input_norm``/``hidden_norm``: batch norm of the input / hidden layer and
    ``input_dropout`` before the first layer (musicnn's back end; thesis: off)."""

    hidden: int = 1024
    dropout: float = 0.0
    input_norm: bool = False
    hidden_norm: bool = False
    input_dropout: float = 0.0


@keras.saving.register_keras_serializable(package="tfmusictag")
class TwoLayerPerceptron(keras.layers.Layer):
    """Two-layer perceptron with ReLU hidden units and sigmoid outputs (Eq. 2.14).

    Args:
        num_tags: int > 0, ``L``.
        hidden: int >= 0, ``H``; 0 leaves a single sigmoid layer. Defaults to 1024.
        dropout: float in [0, 1), applied to the hidden layer. Defaults to 0.
        input_norm: bool, batch-normalise ``f`` first. Defaults to False.
        hidden_norm: bool, batch-normalise the hidden layer (after its ReLU). Defaults to False.
        input_dropout: float in [0, 1), dropout on the (normalised) input. Defaults to 0.

    Call arguments:
        f: ``(batch, Z)`` track embedding.

    Returns:
        ``(batch, num_tags)`` probabilities in [0, 1].
    """

    def __init__(self, num_tags: int, hidden: int = 1024, dropout: float = 0.0, input_norm: bool = False,
                 hidden_norm: bool = False, input_dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_tags, (int, np.integer)) or num_tags <= 0:
            raise ParameterError(f"num_tags={num_tags!r} must be a positive integer")
        if not isinstance(hidden, (int, np.integer)) or hidden < 0:
            raise ParameterError(f"hidden={hidden!r} must be a non-negative integer")
        for name, v in (("dropout", dropout), ("input_dropout", input_dropout)):
            if not 0 <= v < 1:
                raise ParameterError(f"{name}={v!r} must be in [0, 1)")
        if hidden_norm and not hidden:
            raise ParameterError("hidden_norm=True needs a hidden layer; received hidden=0")
        self.num_tags, self.hidden, self.dropout = int(num_tags), int(hidden), float(dropout)
        self.input_norm, self.hidden_norm, self.input_dropout = bool(input_norm), bool(hidden_norm), float(input_dropout)
        # TF1 batch-norm defaults (epsilon 1e-3), as musicnn was trained with
        self.input_bn = keras.layers.BatchNormalization(epsilon=1e-3, name="input_bn") if input_norm else None
        self.hidden_bn = keras.layers.BatchNormalization(epsilon=1e-3, name="hidden_bn") if hidden_norm else None
        self.in_drop = keras.layers.Dropout(self.input_dropout)
        self.hidden_layer = keras.layers.Dense(self.hidden, activation="relu", name="hidden") if hidden else None
        self.drop = keras.layers.Dropout(self.dropout)
        self.output_layer = keras.layers.Dense(self.num_tags, activation="sigmoid", name="output")

    def build(self, input_shape):
        if self.input_bn is not None:
            self.input_bn.build(input_shape)
        if self.hidden_layer is not None:
            self.hidden_layer.build(input_shape)
            if self.hidden_bn is not None:
                self.hidden_bn.build((input_shape[0], self.hidden))
            input_shape = (input_shape[0], self.hidden)
        self.output_layer.build(input_shape)

    def call(self, f, training=None):
        if self.input_bn is not None:
            f = self.input_bn(f, training=training)
        f = self.in_drop(f, training=training) if self.input_dropout else f
        if self.hidden_layer is not None:
            f = self.hidden_layer(f)
            if self.hidden_bn is not None:
                f = self.hidden_bn(f, training=training)
            f = self.drop(f, training=training)
        return self.output_layer(f)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_tags)

    def get_config(self):
        config = super().get_config()
        config.update({"num_tags": self.num_tags, "hidden": self.hidden, "dropout": self.dropout,
                       "input_norm": self.input_norm, "hidden_norm": self.hidden_norm,
                       "input_dropout": self.input_dropout})
        return config
