"""Classifier ``ζ = C(f)``: the two-layer perceptron of Eq. 2.14 (thesis Sec. 2.4.1, Alg. 23 step 7).

``ζ = σ(W_L2 · ReLU(W_L1 · f))``: ``H`` hidden ReLU units (Table 4.3 picks H = 1024), one
sigmoid per tag, so every tag is an independent binary decision (multi-label).

Options beyond the thesis exist for the pretrained source models (:mod:`tfmusictag.pretrained`):
musicnn's back end is this perceptron with batch normalisation of its input and of its hidden
layer and dropout 0.5 before each dense layer (``input_norm``, ``hidden_norm``,
``input_dropout``); musicnn's VGG ends in a single sigmoid layer (``hidden=0``).

For small catalogs (a few hundred tracks, :mod:`tfmusictag.variants`' ``transfer_stats``) the
head is a linear layer (``hidden=0``) on *standardised* embeddings (``standardize``: each
feature centred and scaled by its mean and standard deviation over the training tracks, fitted
before the supervised steps like the thesis's unsupervised stages) with an L2 penalty ``l2`` on
its weights — L2-regularised logistic regression, one per tag, trained jointly.

``heads='per_readout'`` gives it one such linear head per feature group of the reduction (a CNN
read out at ``'last_and_all_layers'``: its last block, and the statistics of all its blocks; an
``'ensemble'`` of CNNs: every member's groups), each on its own group's part of the embedding,
and the track's tag probability is the mean of the heads' probabilities. The heads are trained
as separate models — the loss is the mean of their own losses
(:meth:`TagClassifier.head_probabilities`), not the loss of the mean — so each is the
logistic regression a user would fit on that group alone, and averaging them is late fusion of
probes. Which group is best depends on the catalog; the small-catalog recipe's three heads
(:mod:`tfmusictag.training.recipe`) are compared with the last-layer probe per fold on two
catalogs by ``benchmarks/bench_small_catalog.py`` (``benchmarks/results/small_catalog*.json``).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfmusictag.errors import ParameterError
from tfmusictag.standardize import add_standardization_weights, fit_standardization

__all__ = ["ClassifierConfig", "TagClassifier", "HEADS", "head_ranges"]

#: A second registered name of :class:`TagClassifier` (Eq. 2.14's "two-layer perceptron"): a layer
#: serialized under it deserializes as a TagClassifier.
LEGACY_REGISTERED_NAME = "tfmusictag>TwoLayerPerceptron"


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """``hidden``: H (thesis: 1024; 0: no hidden layer); ``dropout`` before the output layer
    (thesis: none); ``input_norm``/``hidden_norm``: batch norm of the input / hidden layer and
    ``input_dropout`` before the first layer (musicnn's back end; thesis: off); ``standardize``
    the input with training-set statistics and penalise the weights by ``l2``·Σw² (thesis: off)."""

    hidden: int = 1024
    dropout: float = 0.0
    input_norm: bool = False
    hidden_norm: bool = False
    input_dropout: float = 0.0
    standardize: bool = False
    l2: float = 0.0
    heads: str = "one"


#: Values of ``ClassifierConfig.heads``.
HEADS = ("one", "per_readout")


@keras.saving.register_keras_serializable(package="tfmusictag")
class TagClassifier(keras.layers.Layer):
    """The classifier stage: a two-layer perceptron with ReLU hidden units and sigmoid outputs
    (Eq. 2.14), or with ``hidden=0`` one sigmoid layer (logistic regression per tag).

    Args:
        num_tags: int > 0, ``L``.
        hidden: int >= 0, ``H``; 0 leaves a single sigmoid layer. Defaults to 1024.
        dropout: float in [0, 1), applied to the hidden layer. Defaults to 0.
        input_norm: bool, batch-normalise ``f`` first. Defaults to False.
        hidden_norm: bool, batch-normalise the hidden layer (after its ReLU). Defaults to False.
        input_dropout: float in [0, 1), dropout on the (normalised) input. Defaults to 0.
        standardize: bool, subtract the training embeddings' mean and divide by their standard
            deviation (fitted by :meth:`adapt`). Defaults to False.
        head_ranges: ``None`` (one head on the whole embedding) or, per head, the ``[start, size]``
            ranges of the embedding it reads; the output is the mean of the heads' probabilities.
            Heads need ``hidden=0``. Defaults to None.
        l2: float >= 0, L2 penalty ``l2·Σw²`` on the dense layers' kernels (a Keras regularizer:
            the trainer adds ``model.losses`` to the loss). Defaults to 0.

    Call arguments:
        f: ``(batch, Z)`` track embedding.

    Returns:
        ``(batch, num_tags)`` probabilities in [0, 1].
    """

    def __init__(self, num_tags: int, hidden: int = 1024, dropout: float = 0.0, input_norm: bool = False,
                 hidden_norm: bool = False, input_dropout: float = 0.0, standardize: bool = False, l2: float = 0.0,
                 head_ranges=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_tags, (int, np.integer)) or num_tags <= 0:
            raise ParameterError(f"num_tags={num_tags!r} must be a positive integer")
        if not isinstance(hidden, (int, np.integer)) or hidden < 0:
            raise ParameterError(f"hidden={hidden!r} must be a non-negative integer")
        for name, v in (("dropout", dropout), ("input_dropout", input_dropout)):
            if not 0 <= v < 1:
                raise ParameterError(f"{name}={v!r} must be in [0, 1)")
        if not (isinstance(l2, (int, float, np.floating)) and l2 >= 0):
            raise ParameterError(f"l2={l2!r} must be a number >= 0")
        if hidden_norm and not hidden:
            raise ParameterError("hidden_norm=True needs a hidden layer; received hidden=0")
        self.num_tags, self.hidden, self.dropout = int(num_tags), int(hidden), float(dropout)
        self.input_norm, self.hidden_norm, self.input_dropout = bool(input_norm), bool(hidden_norm), float(input_dropout)
        self.standardize, self.l2 = bool(standardize), float(l2)
        self.head_ranges = [[[int(a), int(n)] for a, n in head] for head in head_ranges] if head_ranges else None
        if self.head_ranges and (hidden or input_norm):
            raise ParameterError(f"per-readout heads are linear: they need hidden=0 and input_norm=False; received "
                                 f"hidden={hidden!r}, input_norm={input_norm!r}")
        reg = keras.regularizers.L2(self.l2) if self.l2 else None
        # TF1 batch-norm defaults (epsilon 1e-3), as musicnn was trained with
        self.input_bn = keras.layers.BatchNormalization(synchronized=True, epsilon=1e-3, name="input_bn") if input_norm else None
        self.hidden_bn = keras.layers.BatchNormalization(synchronized=True, epsilon=1e-3, name="hidden_bn") if hidden_norm else None
        self.in_drop = keras.layers.Dropout(self.input_dropout)
        self.hidden_layer = (keras.layers.Dense(self.hidden, activation="relu", kernel_regularizer=reg, name="hidden")
                             if hidden else None)
        self.drop = keras.layers.Dropout(self.dropout)
        self.output_layer = keras.layers.Dense(self.num_tags, activation="sigmoid", kernel_regularizer=reg,
                                               name="output")
        # per-readout heads: ``output_layer`` is the first head (a one-head classifier keeps its weights'
        # names), ``head_layers`` the others
        self.head_layers = [keras.layers.Dense(self.num_tags, activation="sigmoid", kernel_regularizer=reg,
                                               name=f"head{i}") for i in range(1, len(self.head_ranges or ()))]

    def needs_fitting(self) -> bool:
        """True while ``standardize`` still needs the training embeddings' statistics."""
        return self.standardize and float(self.fitted.numpy()) == 0

    def adapt(self, embeddings):
        """Fit the standardisation on a dataset (or iterable) of ``(batch, Z)`` training embeddings:
        their mean and standard deviation per feature (a feature that never varies is left unscaled)."""
        mean, scale, n = fit_standardization(embeddings, "classifier's input")
        self.mean.assign(mean)
        self.scale.assign(scale)
        self.fitted.assign(1.0)
        return {"standardized_features": int(mean.shape[0]), "tracks": n}

    def build(self, input_shape):
        if self.standardize:
            add_standardization_weights(self, input_shape[-1])
        if self.input_bn is not None:
            self.input_bn.build(input_shape)
        if self.hidden_layer is not None:
            self.hidden_layer.build(input_shape)
            if self.hidden_bn is not None:
                self.hidden_bn.build((input_shape[0], self.hidden))
            input_shape = (input_shape[0], self.hidden)
        if self.head_ranges:
            covered = max(a + n for head in self.head_ranges for a, n in head)
            if covered > input_shape[-1]:
                raise ParameterError(f"head_ranges reach feature {covered} of an embedding of {input_shape[-1]}")
            for layer, head in zip([self.output_layer] + self.head_layers, self.head_ranges):
                layer.build((input_shape[0], sum(n for _, n in head)))
        else:
            self.output_layer.build(input_shape)

    def head_probabilities(self, f, training=None):
        """``(batch, heads, num_tags)``: every head's probabilities (one head: ``call``'s output). The
        trainer's loss is their mean loss, so the heads learn as separate models."""
        if not self.head_ranges:
            return self.call(f, training=training)[:, None]
        if self.standardize:
            f = (f - self.mean) * self.scale
        f = self.in_drop(f, training=training) if self.input_dropout else f
        outs = [layer(tf.concat([f[:, a:a + n] for a, n in head], -1))
                for layer, head in zip([self.output_layer] + self.head_layers, self.head_ranges)]
        return tf.stack(outs, 1)

    def call(self, f, training=None):
        if self.head_ranges:
            return tf.reduce_mean(self.head_probabilities(f, training=training), 1)
        if self.standardize:
            f = (f - self.mean) * self.scale
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
                       "input_dropout": self.input_dropout, "standardize": self.standardize, "l2": self.l2,
                       "head_ranges": self.head_ranges})
        return config


def head_ranges(groups, embedding_dim: int):
    """Per-readout heads over a pooled embedding: for segment vectors made of ``groups`` (sizes,
    :meth:`~tfmusictag.stages.ReductionStage.feature_groups`) pooled by statistics that each keep
    the vector's layout (mean, max, mean + std: ``embedding_dim`` a multiple of ``sum(groups)``),
    head ``g`` reads group ``g`` of every statistic. ``None`` where the embedding has no such layout."""
    d = sum(groups)
    if len(groups) < 2 or embedding_dim % d:
        return None
    starts = np.cumsum((0,) + tuple(groups[:-1]))
    return [[[int(k * d + a), int(n)] for k in range(embedding_dim // d)] for a, n in zip(starts, groups)]


keras.saving.get_custom_objects()[LEGACY_REGISTERED_NAME] = TagClassifier
