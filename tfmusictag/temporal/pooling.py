"""Pooling over a whole track's valid frames or segments: mean or max (:class:`Pooling`, the baseline
of musicnn and Won et al.), musicnn's mean of segment tags (:class:`TagMean`), and statistics
pooling (:class:`StatsPooling`: mean, standard deviation and maximum, the small-catalog recipe's
track summary)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfmusictag.errors import ParameterError
from tfmusictag.stages import TemporalStage
from tfmusictag.temporal.chunks import CHUNK_COMBINES
from tfmusictag.temporal.config import TEMPORALS, _flatten_time

_PACKAGE = "tfmusictag"


_POOL_MODES = ("mean", "max")


def _masked_max(x, m):
    """``(batch, time, dim)`` → ``(batch, dim)``: the maximum over the valid entries of ``m``;
    zeros for a track without any."""
    pooled = tf.reduce_max(tf.where(m[..., None], x, tf.cast(-np.inf, x.dtype)), 1)
    return tf.where(tf.math.is_finite(pooled), pooled, tf.zeros_like(pooled))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Pooling(TemporalStage):
    """Mean or max over all valid frames (or segments) of a track.

    Args:
        mode: ``'mean'`` or ``'max'``.

    Call arguments:
        features: ``(batch, ..., dim)``; mask: ``(batch, ...)`` bool.

    Returns:
        ``(batch, dim)``; zeros for a track without valid entries.
    """

    accepts = ("frame", "segment")
    pools_each_feature = True

    def __init__(self, mode: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in _POOL_MODES:
            raise ParameterError(f"mode={mode!r} must be one of {_POOL_MODES}")
        self.mode = mode
        self.chunk_combine = mode

    def call(self, features, mask, training=None):
        x, m = _flatten_time(features, mask)
        w = tf.cast(m, x.dtype)[..., None]
        if self.mode == "mean":
            return tf.reduce_sum(x * w, 1) / tf.maximum(tf.reduce_sum(w, 1), 1.0)
        return _masked_max(x, m)

    def compute_output_shape(self, features_shape, mask_shape=None):
        return (features_shape[0], features_shape[-1])

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TagMean(Pooling):
    """Late fusion: the classifier tags every segment, the track's tags are the masked mean.

    This is how musicnn tags a whole track (the mean of its taggram over 3 s patches, Pons &
    Serra 2019), used by the converted pretrained models (:mod:`tfmusictag.pretrained`). The
    thesis's temporal stages fuse *features* before the classifier; this one fuses *tags*, so the
    tag timeline and the track's tags agree by construction. ``call`` returns the mean segment
    vector (the track embedding); :class:`~tfmusictag.tagger.TrackTagger` applies the classifier
    per segment and pools with :meth:`pool_tags`.

    Call arguments:
        features: ``(batch, segments, dim)``; mask: ``(batch, segments)`` bool.
    """

    accepts = ("segment",)
    late_fusion = True

    def __init__(self, **kwargs):
        kwargs.pop("mode", None)
        super().__init__("mean", **kwargs)

    def pool_tags(self, segment_tags, mask):
        """``(batch, segments, tags)`` probabilities → ``(batch, tags)`` masked mean."""
        w = tf.cast(mask, segment_tags.dtype)[..., None]
        return tf.reduce_sum(segment_tags * w, 1) / tf.maximum(tf.reduce_sum(w, 1), 1.0)


_STATS = {("mean", "std"): "mean_std", ("mean", "std", "max"): "mean_std_max"}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class StatsPooling(TemporalStage):
    """Statistics pooling: ``[mean, standard deviation]`` (and, with ``stats=('mean', 'std', 'max')``,
    the maximum) of all valid frames (or segments) of a track.

    The mean says what a track sounds like on average, the deviation how much it changes —
    an instrument that plays in one section of a song moves the deviation of its features
    more than their mean — and the maximum whether something happens at all, however briefly
    (a solo, a vocal phrase in an instrumental piece). The thesis's Bag of Frames needs a codebook
    fitted on the catalog (Z = 1024 centres from a few thousand vectors, on a small catalog);
    these statistics need no fitting and are the usual summary of a pretrained network's patch
    vectors for a linear probe. Chunks of a track combine exactly (``chunk_combine`` ``'mean_std'``
    or ``'mean_std_max'``: :func:`tfmusictag.tagger.combine_partials` pools their means and second
    moments, and takes the largest maximum).

    Args:
        stats: ``('mean', 'std')`` (temporal type ``'mean_std'``) or ``('mean', 'std', 'max')``
            (``'mean_std_max'``, the small-catalog recipe's: the maximum adds the loudest moment
            of each feature; its effect is in ``benchmarks/results/small_catalog_ablations*.json``).

    Call arguments:
        features: ``(batch, ..., dim)``; mask: ``(batch, ...)`` bool.

    Returns:
        ``(batch, len(stats)·dim)``: the means, the standard deviations (population, ``ddof=0``),
        then the maxima; zeros for a track without valid entries.
    """

    accepts = ("frame", "segment")
    pools_each_feature = True

    def __init__(self, stats=("mean", "std"), **kwargs):
        super().__init__(**kwargs)
        stats = tuple(stats)
        if stats not in _STATS:
            raise ParameterError(f"stats={stats!r} must be one of {sorted(_STATS)}")
        self.stats = stats
        self.chunk_combine = _STATS[stats]

    def call(self, features, mask, training=None):
        x, m = _flatten_time(tf.cast(features, tf.float32), mask)
        w = tf.cast(m, x.dtype)[..., None]
        n = tf.maximum(tf.reduce_sum(w, 1), 1.0)
        mean = tf.reduce_sum(x * w, 1) / n
        var = tf.reduce_sum(tf.square(x - mean[:, None]) * w, 1) / n
        out = [mean, tf.sqrt(var + 1e-12) * tf.cast(tf.reduce_sum(w, 1) > 0, x.dtype)]
        if "max" in self.stats:
            out.append(_masked_max(x, m))
        return tf.concat(out, -1)

    def compute_output_shape(self, features_shape, mask_shape=None):
        return (features_shape[0], len(self.stats) * features_shape[-1])

    def get_config(self):
        config = super().get_config()
        config["stats"] = list(self.stats)
        return config


def _combine_stats(values: np.ndarray, weights: np.ndarray, with_max: bool) -> np.ndarray:
    """:class:`StatsPooling`'s ``[mean, std(, max)]`` layout: the chunks' means and second moments
    pooled by weight, their maxima by the largest."""
    d = values.shape[1] // (3 if with_max else 2)
    mean, std = values[:, :d], values[:, d:2 * d]
    total = max(weights.sum(), 1.0)
    m = (mean * weights[:, None]).sum(axis=0) / total
    second = ((std ** 2 + mean ** 2) * weights[:, None]).sum(axis=0) / total
    parts = [m, np.sqrt(np.maximum(second - m ** 2, 0.0))]
    return np.concatenate(parts + ([values[:, 2 * d:].max(axis=0)] if with_max else []))


CHUNK_COMBINES.register("mean_std")(lambda values, weights: _combine_stats(values, weights, False))
CHUNK_COMBINES.register("mean_std_max")(lambda values, weights: _combine_stats(values, weights, True))


@TEMPORALS.register("mean_std")
def _build_mean_std(config, name):
    return StatsPooling(name=name)


@TEMPORALS.register("mean_std_max")
def _build_mean_std_max(config, name):
    return StatsPooling(("mean", "std", "max"), name=name)


@TEMPORALS.register("tag_mean")
def _build_tag_mean(config, name):
    return TagMean(name=name)


@TEMPORALS.register("mean")
def _build_mean(config, name):
    return Pooling("mean", name=name)


@TEMPORALS.register("max")
def _build_max(config, name):
    return Pooling("max", name=name)
