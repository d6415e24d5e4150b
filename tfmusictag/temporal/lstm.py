"""The thesis's LSTMs: :class:`LSTMStack` — Algorithm 9 (one sequence-to-one LSTM) or Algorithms
10–11/25 (sequence-to-sequence LSTMs, then a sequence-to-one LSTM), dropout ``p`` after each —
and :class:`HierarchicalLSTM` — Algorithm 24: a sequence-to-one LSTM over the frames of each
1366-frame segment, then one over the segments. Their output ``h_W`` is the track vector ``f``
directly: Algorithm 9's projection ``f = W h_W`` is linear and is absorbed by the classifier."""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from tfmusictag.errors import ParameterError
from tfmusictag.stages import TemporalStage
from tfmusictag.standardize import add_standardization_weights, fit_standardization
from tfmusictag.temporal.config import TEMPORALS, TemporalConfig, _flatten_time

_PACKAGE = "tfmusictag"


def _check_lstm_args(units, dropout, num_layers=1):
    if not isinstance(units, (int, np.integer)) or units <= 0:
        raise ParameterError(f"units={units!r} must be a positive integer")
    if not 0 <= dropout < 1:
        raise ParameterError(f"dropout={dropout!r} must be in [0, 1)")
    if not isinstance(num_layers, (int, np.integer)) or num_layers <= 0:
        raise ParameterError(f"num_layers={num_layers!r} must be a positive integer")


class _StandardizedInput:
    """Input standardisation of the LSTM stages, fitted by ``adapt`` on the training features.

    Why: MFCCs are not scaled (the first coefficients have means and standard deviations of
    tens), so with Glorot-initialised kernels many of the LSTM gates' pre-activations start where
    sigmoid and tanh are flat and little gradient passes. Standardising the inputs (cepstral mean
    and variance normalisation, for MFCCs) keeps the gates in their working range.
    """

    def _init_standardize(self, standardize):
        self.standardize = bool(standardize)

    def _build_standardize(self, dim):
        if self.standardize:
            add_standardization_weights(self, dim)

    def needs_fitting(self) -> bool:
        return self.standardize and (not self.built or float(self.fitted.numpy()) == 0)

    def adapt(self, data, steps: Optional[int] = None):
        """Fit the input standardisation on ``(features, mask)`` batches of the training split."""
        if not self.standardize:
            return None
        source = data.take(steps) if steps is not None else data
        mean, scale, n = fit_standardization(
            (tf.boolean_mask(x, tf.cast(m, tf.bool)).numpy() for x, m in source), f"{self.name}'s input")
        if not self.built:
            self.build((None, None, mean.shape[0]))
        self.mean.assign(mean)
        self.scale.assign(scale)
        self.fitted.assign(1.0)
        return {"standardized_features": int(mean.shape[0]), "vectors": n}

    def _standardized(self, x):
        return (x - self.mean) * self.scale if self.standardize else x


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LSTMStack(_StandardizedInput, TemporalStage):
    """``num_layers − 1`` sequence-to-sequence LSTMs, then a sequence-to-one LSTM (Alg. 9–11, 25).

    ``num_layers=1`` is Algorithm 9; ``num_layers=2`` is Algorithm 10 as used in Algorithm 25
    (CNN segment vectors → Seq2Seq LSTM → Drop(p) → Seq2One LSTM → Drop(p)). Frame-level input
    is read as one long sequence over all frames of the track.

    Args:
        units: int > 0, ``T`` (thesis: 1024).
        dropout: float in [0, 1), ``p`` after every LSTM (thesis: 0.3).
        num_layers: int > 0. Defaults to 2.
        standardize: bool, standardise the input features with statistics fitted on the training
            split (``adapt``; see :class:`_StandardizedInput`). Defaults to False; the
            variants (:mod:`tfmusictag.variants`) turn it on.

    Call arguments:
        features: ``(batch, steps, dim)`` or ``(batch, segments, frames, dim)``; mask alike.

    Returns:
        ``(batch, units)``.
    """

    accepts = ("segment", "frame")

    def __init__(self, units: int = 1024, dropout: float = 0.3, num_layers: int = 2, standardize: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        _check_lstm_args(units, dropout, num_layers)
        self._init_standardize(standardize)
        self.units, self.dropout, self.num_layers = int(units), float(dropout), int(num_layers)
        self.lstms = [keras.layers.LSTM(self.units, return_sequences=i < self.num_layers - 1, name=f"lstm{i + 1}")
                      for i in range(self.num_layers)]
        self.drops = [keras.layers.Dropout(self.dropout, name=f"dropout{i + 1}") for i in range(self.num_layers)]

    def build(self, features_shape, mask_shape=None):
        self._build_standardize(features_shape[-1])
        shape = (None, None, features_shape[-1])
        for lstm in self.lstms:
            lstm.build(shape)
            shape = (None, None, self.units)

    def call(self, features, mask, training=None):
        x, m = _flatten_time(features, mask)
        x = self._standardized(x)
        for lstm, drop in zip(self.lstms, self.drops):
            x = drop(lstm(x, mask=m, training=training), training=training)
        return x

    def compute_output_shape(self, features_shape, mask_shape=None):
        return (features_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "dropout": self.dropout, "num_layers": self.num_layers,
                       "standardize": self.standardize})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class HierarchicalLSTM(_StandardizedInput, TemporalStage):
    """Algorithm 24: sequence-to-one LSTM over each segment's frames, then over the segments.

    ``F[i] = Drop_p(Seq2One_LSTM(Y_i | Φ_R2))`` for every 1366-frame segment ``i`` (all segments
    of all tracks in one batched call), then ``f = Drop_p(Seq2One_LSTM(F | Φ_R1))``. The thesis
    introduced the first level so that the start of a long song is not forgotten.

    Args:
        units: int > 0, ``T`` of both levels (thesis: 1024).
        dropout: float in [0, 1), ``p`` (thesis: 0.3).
        standardize: bool, as :class:`LSTMStack`'s.

    Call arguments:
        features: ``(batch, segments, frames, dim)``; mask: ``(batch, segments, frames)``.

    Returns:
        ``(batch, units)``.
    """

    accepts = ("frame",)

    def __init__(self, units: int = 1024, dropout: float = 0.3, standardize: bool = False, **kwargs):
        super().__init__(**kwargs)
        _check_lstm_args(units, dropout)
        self._init_standardize(standardize)
        self.units, self.dropout = int(units), float(dropout)
        self.frame_lstm = keras.layers.LSTM(self.units, name="frame_lstm")
        self.segment_lstm = keras.layers.LSTM(self.units, name="segment_lstm")
        self.frame_drop = keras.layers.Dropout(self.dropout, name="frame_dropout")
        self.segment_drop = keras.layers.Dropout(self.dropout, name="segment_dropout")

    def build(self, features_shape, mask_shape=None):
        self._build_standardize(features_shape[-1])
        self.frame_lstm.build((None, None, features_shape[-1]))
        self.segment_lstm.build((None, None, self.units))

    def call(self, features, mask, training=None):
        if features.shape.rank != 4:
            raise ParameterError("HierarchicalLSTM needs frame-level features (batch, segments, frames, dim); "
                                 f"received rank {features.shape.rank}")
        b, s = tf.shape(features)[0], tf.shape(features)[1]
        f, d = tf.shape(features)[2], features.shape[-1]
        frames = self._standardized(tf.reshape(features, [-1, f, d]))
        frame_mask = tf.reshape(mask, [-1, f])
        per_segment = self.frame_drop(self.frame_lstm(frames, mask=frame_mask, training=training), training=training)
        per_segment = tf.reshape(per_segment, [b, s, self.units])
        segment_mask = tf.reduce_any(mask, -1)
        return self.segment_drop(self.segment_lstm(per_segment, mask=segment_mask, training=training),
                                 training=training)

    def compute_output_shape(self, features_shape, mask_shape=None):
        return (features_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "dropout": self.dropout, "standardize": self.standardize})
        return config


@TEMPORALS.register("lstm")
def _build_lstm(config: TemporalConfig, name):
    c = config.lstm
    return LSTMStack(c.units, c.dropout, c.num_layers, c.standardize, name=name)


@TEMPORALS.register("hierarchical_lstm")
def _build_hierarchical_lstm(config: TemporalConfig, name):
    c = config.lstm
    return HierarchicalLSTM(c.units, c.dropout, c.standardize, name=name)
