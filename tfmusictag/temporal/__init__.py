"""Temporal approximation ``f = T(Y)``: a whole track of any length → one fixed-size vector (Sec. 2.3).

* :class:`BagOfFrames` — Algorithms 7–8: a k-means codebook of ``Z`` centres fitted with
  ``adapt`` (TensorFlow, mini-batch, k-means++ initialisation, empty clusters re-seeded), and a
  normalised histogram of nearest-centre assignments.
* :class:`Pooling` — mean or max over all valid frames/segments (the baseline of musicnn and
  Won et al.).
* :class:`StatsPooling` — mean and standard deviation over all valid frames/segments
  (statistics pooling: the track summary of the small-catalog recipe, :mod:`tfmusictag.variants`).
* :class:`LSTMStack` — Algorithm 9 (one sequence-to-one LSTM) or Algorithms 10–11/25
  (sequence-to-sequence LSTMs, then a sequence-to-one LSTM), dropout ``p`` after each.
* :class:`HierarchicalLSTM` — Algorithm 24: a sequence-to-one LSTM over the frames of each
  1366-frame segment, then a sequence-to-one LSTM over the segments.

Each family is a module of its own — :mod:`~tfmusictag.temporal.bof`,
:mod:`~tfmusictag.temporal.pooling`, :mod:`~tfmusictag.temporal.lstm` — beside the configs and their
registry (:mod:`~tfmusictag.temporal.config`) and the rules by which a stage's outputs over chunks
of a track combine (:mod:`~tfmusictag.temporal.chunks`); everything is importable from here.

Every layer is a :class:`~tfmusictag.stages.TemporalStage` and takes ``(features, mask)`` from the reduction stage: frame-level
``(batch, segments, frames, dim)`` with a ``(batch, segments, frames)`` mask, or segment-level
``(batch, segments, dim)`` with a ``(batch, segments)`` mask. Padding (masked entries) never
changes the output. The LSTMs' output ``h_W`` is used as ``f`` directly: the projection
``f = W h_W`` of Algorithm 9 is linear and is absorbed by the classifier's first layer.
"""

from tfmusictag.temporal.bof import BagOfFrames, kmeans_plus_plus
from tfmusictag.temporal.chunks import CHUNK_COMBINES, combine_chunks
from tfmusictag.temporal.config import TEMPORALS, BoFConfig, LSTMConfig, TemporalConfig, build_temporal
from tfmusictag.temporal.lstm import HierarchicalLSTM, LSTMStack
from tfmusictag.temporal.pooling import Pooling, StatsPooling, TagMean

__all__ = ["TemporalConfig", "BoFConfig", "LSTMConfig", "TEMPORALS", "build_temporal", "BagOfFrames", "Pooling",
           "StatsPooling", "LSTMStack", "HierarchicalLSTM", "TagMean", "kmeans_plus_plus", "CHUNK_COMBINES",
           "combine_chunks"]
