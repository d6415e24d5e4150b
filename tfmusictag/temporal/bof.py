"""Bag of Frames (thesis Algorithms 7–8): a k-means codebook of ``Z`` centres fitted with ``adapt``
(TensorFlow, mini-batch, k-means++ initialisation, empty clusters re-seeded), and a normalised
histogram of nearest-centre assignments."""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from tfmusictag.errors import ParameterError
from tfmusictag.stages import TemporalStage
from tfmusictag.temporal.config import TEMPORALS, TemporalConfig, _flatten_time

_PACKAGE = "tfmusictag"


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
