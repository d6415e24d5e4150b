"""Tiny settings and signals shared by the model tests (``test_variants``, ``test_reduction``,
``test_tagger``, ``test_stages``): every variant small enough to train in seconds on 2 cores."""

import numpy as np
import tensorflow as tf

from tfmusictag.variants import VARIANTS

SR = 12000
TAGS = ("piano", "drums", "strings")
# Small sizes so that every variant trains in seconds on 2 cores.
SMALL = {"temporal.bof.num_clusters": 4, "temporal.bof.epochs": 2, "temporal.lstm.units": 6,
         "classifier.hidden": 8, "reduction.mfcc.n_mfcc": 13, "reduction.pca.n_components": 6,
         "reduction.cnn.filters": [4, 6, 6, 8, 8]}


ALL = VARIANTS.names()


def small(name):
    """SMALL for variant ``name`` (per-readout heads are linear: no hidden layer)."""
    return {**SMALL, "classifier.hidden": 0} if VARIANTS.get(name)().classifier.heads != "one" else SMALL


def signal(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(100, 1000)
    return (0.3 * np.sin(2 * np.pi * f0 * t) + 0.05 * rng.normal(size=t.shape)).astype(np.float32)


def fit_unsupervised(model, waveforms):
    """Fit the PCA / k-means parts of a model on the given tracks, as training does first
    (:meth:`TrackTagger.fit_unsupervised`, through the stage contract)."""
    log_mel, n = model._features(tf.constant(waveforms))
    labels = tf.zeros([len(waveforms), len(model.tags)])
    model.fit_unsupervised(tf.data.Dataset.from_tensors(({"log_mel": log_mel, "num_frames": n}, labels)))
