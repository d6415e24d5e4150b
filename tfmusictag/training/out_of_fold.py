"""Out-of-fold predictions over the training tracks: decision thresholds without held-out tracks.

Decision thresholds (:mod:`tfmusictag.thresholds`) must be chosen on predictions for tracks the
model did not train on. A model whose networks are frozen under feature pooling (the small-catalog
recipe) trains only its heads, on track embeddings cached once; refitting those heads ``k`` times,
each time without one fold of the training tracks, costs seconds and predicts every training track
out of fold. Thresholds fitted on those predictions use every labelled training track — on a small
catalog several times more than a validation split holds — and leave the validation split to
choose models and the test split to report (cross-validated thresholds, as scikit-learn's
``TunedThresholdClassifierCV`` does for one label).

Each fold's heads start from a fresh draw of the seeded initialisation and train as the run did
(same steps, batch size, learning rates, penalty, class weights); the unsupervised stages (the
standardisation of the features) keep the run's fit on all training tracks, which sees no labels.
A track's extra views (``embedding_views``) stay in its track's fold.
"""

from __future__ import annotations

from typing import Tuple

import keras
import numpy as np
import tensorflow as tf

from tfmusictag.errors import ParameterError
from tfmusictag.tagger import TrackTagger
from tfmusictag.training.steps import Trainer, balanced_tag_weights

__all__ = ["FOLDS", "out_of_fold_scores"]

#: Folds of the training tracks (5: each head sees 80 % of the tracks, as in 5-fold cross-validation).
FOLDS = 5


def _fresh_heads(model: TrackTagger, seed: int) -> TrackTagger:
    """A model of ``model``'s config whose classifier has ``model``'s fitted statistics (its
    non-trainable weights) and a new seeded initialisation of its trainable ones (the other
    stages are not used: the embedding is given)."""
    keras.utils.set_random_seed(seed)
    fresh = TrackTagger(model.tagger_config, name=f"{model.name}_fold")
    trainable = {id(v) for v in fresh.classifier.trainable_weights}
    for target, source in zip(fresh.classifier.weights, model.classifier.weights):
        if id(target) not in trainable:
            target.assign(source)
    return fresh


def out_of_fold_scores(model: TrackTagger, examples: tf.data.Dataset, config, views: int = 0,
                       folds: int = FOLDS) -> Tuple[np.ndarray, np.ndarray]:
    """Labels and out-of-fold probabilities ``(tracks, tags)`` of every training track.

    Args:
        model: the trained model; only its classifier is refitted (its other stages must be frozen).
        examples: unbatched ``({"embedding"}, labels)``, the cached training examples
            (:func:`~tfmusictag.training.trainer.segment_features`): per track its embedding, then
            its ``views`` extra views.
        config: the run's :class:`~tfmusictag.training.config.TrainConfig` (steps, batch size,
            learning rates, class weights, seed).
        views: extra views per track in ``examples``.
        folds: number of folds (at most the number of tracks).

    Returns:
        ``(labels, scores)``, one row per training track in ``examples`` order.
    """
    rows = list(examples.as_numpy_iterator())
    group = 1 + int(views)
    if not rows or "embedding" not in rows[0][0] or len(rows) % group:
        raise ParameterError("out-of-fold thresholds need the cached track embeddings of every training track")
    x = np.stack([r[0]["embedding"] for r in rows]).reshape(len(rows) // group, group, -1)
    y = np.stack([r[1] for r in rows]).reshape(len(rows) // group, group, -1)
    tracks = len(x)
    folds = min(int(folds), tracks)
    if folds < 2:
        raise ParameterError(f"out-of-fold thresholds need at least 2 training tracks; there are {tracks}")
    fold_of = np.empty(tracks, int)
    fold_of[np.random.default_rng(config.seed).permutation(tracks)] = np.arange(tracks) % folds
    scores = np.zeros(y[:, 0].shape, np.float32)
    for f in range(folds):
        kept, held = fold_of != f, fold_of == f
        heads = _fresh_heads(model, config.seed + 1 + f)
        weights = balanced_tag_weights(y[kept, 0]) if config.class_weight == "balanced" else None
        trainer = Trainer(heads, config.learning_rates, config.min_learning_rate, tag_weights=weights)
        xs, ys = x[kept].reshape(-1, x.shape[-1]), y[kept].reshape(-1, y.shape[-1])
        batches = (tf.data.Dataset.from_tensor_slices(({"embedding": xs}, ys))
                   .shuffle(len(xs), seed=config.seed + f, reshuffle_each_iteration=True)
                   .repeat().batch(config.batch_size).take(config.steps))
        for inputs, labels in batches:
            trainer.train_step(inputs, labels)
        scores[held] = heads.tags_from_embedding(tf.constant(x[held, 0]), training=False).numpy()
    return y[:, 0], scores
