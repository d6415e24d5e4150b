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

Every layer is a :class:`~tfmusictag.stages.TemporalStage` and takes ``(features, mask)`` from the reduction stage: frame-level
``(batch, segments, frames, dim)`` with a ``(batch, segments, frames)`` mask, or segment-level
``(batch, segments, dim)`` with a ``(batch, segments)`` mask. Padding (masked entries) never
changes the output. The LSTMs' output ``h_W`` is used as ``f`` directly: the projection
``f = W h_W`` of Algorithm 9 is linear and is absorbed by the classifier's first layer.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from tfmusictag.errors import ParameterError
from tfmusictag.registry import Registry
from tfmusictag.shapes import merge_dims
from tfmusictag.stages import TemporalStage
from tfmusictag.standardize import add_standardization_weights, fit_standardization

__all__ = ["TemporalConfig", "BoFConfig", "LSTMConfig", "TEMPORALS", "build_temporal", "BagOfFrames", "Pooling",
           "StatsPooling", "LSTMStack", "HierarchicalLSTM", "TagMean", "kmeans_plus_plus"]

_PACKAGE = "tfmusictag"


@dataclasses.dataclass(frozen=True)
class BoFConfig:
    """Bag of Frames: ``num_clusters`` (the thesis's Z; Table 4.3 picks 1024)."""

    num_clusters: int = 1024
    epochs: int = 5
    batch_size: int = 4096
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class LSTMConfig:
    """LSTM size ``units`` (the thesis's T, Table 4.4 picks 1024), dropout ``p`` (0.3), layers, and
    ``standardize``: the LSTM's input features standardised with training-set statistics (see
    :class:`_StandardizedInput`; the thesis does not say how its inputs were scaled). Off in the
    bare config (the LSTM as the thesis writes it); every variant (:mod:`tfmusictag.variants`)
    turns it on, because unscaled CNN and MFCC features saturate the gates."""

    units: int = 1024
    dropout: float = 0.3
    num_layers: int = 2
    standardize: bool = False


@dataclasses.dataclass(frozen=True)
class TemporalConfig:
    """One of ``'bof'``, ``'mean'``, ``'max'``, ``'mean_std'``, ``'mean_std_max'``, ``'lstm'`` (Alg. 9–11, 25),
    ``'hierarchical_lstm'`` (Alg. 24), or ``'tag_mean'`` (late fusion: mean of per-segment tags,
    musicnn's)."""

    type: str = "bof"
    bof: BoFConfig = dataclasses.field(default_factory=BoFConfig)
    lstm: LSTMConfig = dataclasses.field(default_factory=LSTMConfig)


TEMPORALS = Registry("temporal")


def build_temporal(config: TemporalConfig, name: str = "temporal"):
    return TEMPORALS.get(config.type)(config, name)


def _flatten_time(x, mask):
    """(B, S, F, D) or (B, S, D) → (B, N, D); masks alike → (B, N)."""
    return merge_dims(x, 1, -1), merge_dims(mask, 1, mask.shape.rank)


# --------------------------------------------------------------------------------------------
# Bag of Frames (Algorithms 7–8)
# --------------------------------------------------------------------------------------------

#: How the outputs of consecutive chunks of whole segments combine into the whole track's output,
#: by the name a stage gives as its :attr:`~tfmusictag.stages.TemporalStage.chunk_combine`:
#: ``rule(values (chunks, d), weights (chunks,)) → (d,)``, ``weights`` the valid frames or
#: segments of each chunk. The stages below register their own rules; chunked tagging
#: (:func:`tfmusictag.tagger.combine_partials`) and SavedModel clients look them up here.
CHUNK_COMBINES = Registry("chunk_combine")


@CHUNK_COMBINES.register("mean")
def _combine_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted mean: a mean (or a histogram normalised by the count) over all chunks' entries."""
    return (values * weights[:, None]).sum(axis=0) / max(weights.sum(), 1.0)


@CHUNK_COMBINES.register("max")
def _combine_max(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The largest of the chunks' maxima."""
    return values.max(axis=0)


def combine_chunks(rule: str, values, weights) -> np.ndarray:
    """The whole track's output from its chunks' ``values`` by the stage's ``rule`` (:data:`CHUNK_COMBINES`)."""
    return CHUNK_COMBINES.get(rule)(np.asarray(values, np.float64), np.asarray(weights, np.float64))


def _sq_distances(x, centers):
    """||x_i − μ_j||² for x (N, D), centers (Z, D) → (N, Z), without forming N·Z·D."""
    return (tf.reduce_sum(x * x, -1, keepdims=True) - 2.0 * tf.matmul(x, centers, transpose_b=True)
            + tf.reduce_sum(centers * centers, -1)[None, :])


@tf.function(reduce_retracing=True)
def kmeans_plus_plus(x, k, seed):
    """k-means++ seeding (Arthur & Vassilvitskii 2007) in TensorFlow.

    Args:
        x: ``(N, D)`` float32 sample, ``N >= k``.
        k: number of centres.
        seed: int32 ``(2,)`` stateless seed.

    Returns:
        ``(k, D)`` initial centres: the first uniformly at random, each next one drawn with
        probability proportional to its squared distance to the nearest centre so far.
    """
    n = tf.shape(x)[0]
    first = tf.random.stateless_uniform([], seed, 0, n, dtype=tf.int32)
    centers = tf.TensorArray(x.dtype, size=k, element_shape=x.shape[1:])
    centers = centers.write(0, x[first])
    d2 = tf.reduce_sum(tf.square(x - x[first]), -1)
    for i in tf.range(1, k):
        logits = tf.math.log(tf.maximum(d2, 0.0) + 1e-12)[None, :]
        idx = tf.random.stateless_categorical(logits, 1, seed + tf.stack([0, i]), dtype=tf.int32)[0, 0]
        c = x[idx]
        centers = centers.write(i, c)
        d2 = tf.minimum(d2, tf.reduce_sum(tf.square(x - c), -1))
    return centers.stack()


@tf.function(reduce_retracing=True)
def _minibatch_update(x, centers, totals):
    """One mini-batch k-means step (Sculley 2010): per-centre learning rate 1 / (points seen)."""
    assign = tf.argmin(_sq_distances(x, centers), axis=-1, output_type=tf.int32)
    z = tf.shape(centers)[0]
    counts = tf.math.unsorted_segment_sum(tf.ones_like(assign, tf.float32), assign, z)
    sums = tf.math.unsorted_segment_sum(x, assign, z)
    totals = totals + counts
    centers = centers + (sums - counts[:, None] * centers) / tf.maximum(totals, 1.0)[:, None]
    return centers, totals, counts


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BagOfFrames(TemporalStage):
    """Bag of Frames (Algorithms 7–8): histogram of nearest k-means centres over a whole track.

    ``adapt`` fits the codebook ``μ_0..μ_{Z−1}`` on the frames of a dataset (Algorithm 8),
    streaming: k-means++ seeding on the first ``max(20·Z, 10 000)`` valid vectors, then
    ``epochs`` passes of mini-batch updates (each centre moves to the running mean of all
    vectors assigned to it so far). A centre that gets no vector during a pass is re-seeded
    from the last mini-batch, far from the other centres (k-means++ rule), so no centre stays
    empty. Everything runs in TensorFlow (GPU if present).

    ``call`` assigns each valid frame to its nearest centre (Algorithm 7) and returns the
    counts divided by the number of valid frames, so tracks of any length are comparable.

    Args:
        num_clusters: int > 0, ``Z``. Defaults to 1024.
        epochs: int > 0, passes over the data in ``adapt``. Defaults to 5.
        batch_size: int > 0, vectors per mini-batch update. Defaults to 4096.
        seed: int, seed of the k-means++ draws.

    Call arguments:
        features: ``(batch, ..., dim)``; mask: ``(batch, ...)`` bool.

    Returns:
        ``(batch, num_clusters)``, rows sum to 1 (0 for a track without valid frames).
    """

    accepts = ("frame", "segment")
    chunk_combine = "mean"  # a histogram normalised by the frame count: the frame-weighted mean of chunks

    def __init__(self, num_clusters: int = 1024, epochs: int = 5, batch_size: int = 4096, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        for name, v in (("num_clusters", num_clusters), ("epochs", epochs), ("batch_size", batch_size)):
            if not isinstance(v, (int, np.integer)) or v <= 0:
                raise ParameterError(f"{name}={v!r} must be a positive integer")
        self.num_clusters, self.epochs, self.batch_size, self.seed = int(num_clusters), int(epochs), int(batch_size), int(seed)

    def build(self, features_shape, mask_shape=None):
        self.centers = self.add_weight(name="centers", shape=(self.num_clusters, features_shape[-1]),
                                       initializer="zeros", trainable=False)
        self.fitted = self.add_weight(name="fitted", shape=(), initializer="zeros", trainable=False)

    def needs_fitting(self) -> bool:
        return not self.built or float(self.fitted.numpy()) == 0

    def _vectors(self, element):
        """Valid vectors ``(N, D)`` of one dataset element: a tensor, or ``(features, mask)``."""
        if isinstance(element, dict):
            element = (element["features"], element.get("mask"))
        x, mask = element if isinstance(element, (tuple, list)) else (element, None)
        x = tf.convert_to_tensor(x, tf.float32)
        if not self.built:
            self.build(x.shape)
        flat = tf.reshape(x, [-1, x.shape[-1]])
        if mask is not None:
            flat = tf.boolean_mask(flat, tf.reshape(tf.cast(mask, tf.bool), [-1]))
        return flat

    def adapt(self, data, steps: Optional[int] = None):
        """Fit the codebook on ``data`` (array, tensor, or ``tf.data.Dataset``; see class doc)."""
        if isinstance(data, tf.data.Dataset):
            source = data.take(steps) if steps is not None else data
        else:
            source = [data]
        need = max(20 * self.num_clusters, 10000)
        sample, have = [], 0
        for element in source:
            v = self._vectors(element)
            sample.append(v[: need - have])
            have += int(sample[-1].shape[0])
            if have >= need:
                break
        sample = tf.concat(sample, 0) if sample else tf.zeros([0, 1])
        if int(sample.shape[0]) < self.num_clusters:
            raise ParameterError(
                f"BagOfFrames.adapt needs at least num_clusters={self.num_clusters} valid vectors; received "
                f"{int(sample.shape[0])}. Use more data or fewer clusters.")
        centers = kmeans_plus_plus(sample, self.num_clusters, tf.constant([self.seed, 0], tf.int32))
        totals = tf.zeros([self.num_clusters])
        rng = tf.random.Generator.from_seed(self.seed)
        for _ in range(self.epochs):
            seen = tf.zeros([self.num_clusters])
            last = None
            for element in source:
                v = self._vectors(element)
                for start in range(0, int(v.shape[0]), self.batch_size):
                    last = v[start:start + self.batch_size]
                    centers, totals, counts = _minibatch_update(last, centers, totals)
                    seen += counts
            empty = tf.where(seen == 0)[:, 0]
            if last is not None and int(tf.size(empty)) > 0:
                d2 = tf.reduce_min(_sq_distances(last, centers), -1)
                picks = rng.make_seeds(1)[:, 0]
                idx = tf.random.stateless_categorical(tf.math.log(d2 + 1e-12)[None], tf.size(empty), picks)[0]
                centers = tf.tensor_scatter_nd_update(centers, empty[:, None], tf.gather(last, idx))
                totals = tf.tensor_scatter_nd_update(totals, empty[:, None], tf.ones_like(empty, tf.float32))
        self.centers.assign(centers)
        self.fitted.assign(1.0)
        return {"num_clusters": self.num_clusters, "vectors_seeded": int(sample.shape[0])}

    def assign(self, vectors, chunk: int = 16384):
        """Nearest centre of each vector ``(..., D)`` → int32 ``(...)``.

        Distances are computed ``chunk`` vectors at a time, so a long track never holds its
        whole ``frames × Z`` distance matrix (an hour at Z = 1024 would take 690 MB).
        """
        flat = tf.reshape(vectors, [-1, vectors.shape[-1]])
        n = tf.shape(flat)[0]
        n_chunks = tf.maximum(1, (n + chunk - 1) // chunk)

        def body(i, parts):
            part = flat[i * chunk:(i + 1) * chunk]
            return i + 1, parts.write(i, tf.argmin(_sq_distances(part, self.centers), -1, output_type=tf.int32))

        parts = tf.TensorArray(tf.int32, size=n_chunks, infer_shape=False, element_shape=tf.TensorShape([None]))
        _, parts = tf.while_loop(lambda i, _: i < n_chunks, body, [tf.constant(0), parts])
        return tf.reshape(parts.concat(), tf.shape(vectors)[:-1])

    def call(self, features, mask, training=None):
        x, m = _flatten_time(tf.cast(features, tf.float32), mask)
        b = tf.shape(x)[0]
        idx = self.assign(x) + tf.range(b)[:, None] * self.num_clusters
        w = tf.cast(m, tf.float32)
        hist = tf.reshape(tf.math.unsorted_segment_sum(w, idx, b * self.num_clusters), [b, self.num_clusters])
        return hist / tf.maximum(tf.reduce_sum(w, -1, keepdims=True), 1.0)

    def compute_output_shape(self, features_shape, mask_shape=None):
        return (features_shape[0], self.num_clusters)

    def get_config(self):
        config = super().get_config()
        config.update({"num_clusters": self.num_clusters, "epochs": self.epochs, "batch_size": self.batch_size,
                       "seed": self.seed})
        return config


@TEMPORALS.register("bof")
def _build_bof(config: TemporalConfig, name):
    c = config.bof
    return BagOfFrames(c.num_clusters, c.epochs, c.batch_size, c.seed, name=name)


# --------------------------------------------------------------------------------------------
# Pooling baselines
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# LSTMs (Algorithms 9–11, 24, 25)
# --------------------------------------------------------------------------------------------

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
