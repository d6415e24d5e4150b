"""The supervised steps: binary cross-entropy, one Adam per layer group, over any ``tf.distribute`` strategy.

:class:`Trainer` runs the supervised steps of one model over a ``tf.distribute.Strategy`` (the
default strategy — one device — unless one is given): the batches are distributed with
``strategy.experimental_distribute_dataset``, each replica computes its step with
``strategy.run``, and the loss is averaged over the *global* batch, so the gradients are those of
one big batch whatever the number of replicas. Keras 3's ``fit`` does not support
``MultiWorkerMirroredStrategy`` (keras-team/keras#20585), hence this loop. Used by whole runs
(:func:`tfmusictag.training.train`), out-of-fold refits and the tuner's trials.
"""

from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from tfmusictag.tagger import TrackTagger
from tfmusictag.training.config import LearningRates
from tfmusictag.training.schedules import group_optimizers

__all__ = ["Trainer", "balanced_tag_weights"]


class Trainer:
    """The supervised steps of ``model`` over a ``tf.distribute.Strategy``.

    Build the model inside ``strategy.scope()`` (a no-op for the default strategy); the
    trainer creates the step counter and one Adam per trainable layer group
    (:func:`~tfmusictag.training.schedules.group_optimizers`) in the same scope.

    Args:
        model: a :class:`~tfmusictag.tagger.TrackTagger`.
        learning_rates: one :class:`~tfmusictag.training.config.GroupSchedule` per layer group.
        min_learning_rate: the floor of every schedule (thesis: 1e-6).
        strategy: a ``tf.distribute.Strategy``; ``None`` is the current (default) strategy.
        tag_weights: ``(positive, negative)`` weight per tag, each ``(num_tags,)``: the loss of a
            tag's positive (negative) label is multiplied by it (:func:`balanced_tag_weights`);
            ``None`` weighs all alike (the thesis's binary cross-entropy).

    The loss also holds the model's own penalties (``model.losses``: the classifier's ``l2``).

    Example::

        trainer = Trainer(model, LearningRates())
        for inputs, labels in trainer.distribute(batches):
            loss = trainer.train_step(inputs, labels)
    """

    def __init__(self, model: TrackTagger, learning_rates: LearningRates = LearningRates(),
                 min_learning_rate: float = 1e-6, strategy: Optional[tf.distribute.Strategy] = None,
                 tag_weights=None):
        self.model = model
        self.tag_weights = None if tag_weights is None else tuple(tf.constant(w, tf.float32) for w in tag_weights)
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.optimizers = group_optimizers(model, learning_rates, min_learning_rate)
        self.variables = [v for _, _, vs in self.optimizers for v in vs]
        self._loss = keras.losses.BinaryCrossentropy(reduction=None)
        self._step_fn, self._element_spec = None, None

    def checkpoint(self) -> tf.train.Checkpoint:
        """Everything a resumed run needs: the model, every optimizer, the step, and the state of
        every random generator in the model (dropout masks), which Keras does not count among its
        weights — without it a resumed run would draw other masks than an uninterrupted one."""
        weights = {id(v) for v in self.model.weights}
        rng = [v.value if hasattr(v, "value") else v for v in self.model.variables if id(v) not in weights]
        return self.model.checkpoint(step=self.step, rng=rng, **{f"opt_{g}": o for g, o, _ in self.optimizers})

    def distribute(self, batches: tf.data.Dataset):
        """``batches`` split across the replicas (each gets ``global batch / replicas`` tracks); the
        step is traced once for its element spec (any batch size and track length)."""
        options = tf.data.Options()
        # every worker reads the same batches and keeps its replicas' share of each: the global batch,
        # hence the run's result, does not depend on how many workers there are
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        distributed = self.strategy.experimental_distribute_dataset(batches.with_options(options))
        self._element_spec = self._element_spec or distributed.element_spec
        return distributed

    def _replica_step(self, inputs, labels):
        with tf.GradientTape() as tape:
            # (B, heads, L): one head unless the classifier has per-readout heads, which learn as
            # separate models (the mean of their losses, not the loss of their mean)
            probs = self.model.head_probabilities(inputs, training=True)
            targets = tf.broadcast_to(tf.cast(labels, probs.dtype)[:, None], tf.shape(probs))
            if self.tag_weights is None:
                per_track = tf.reduce_mean(self._loss(targets, probs), -1)
            else:  # class-balanced: each tag's positives and negatives weigh as much in total
                positive, negative = self.tag_weights
                per_tag = keras.ops.binary_crossentropy(targets, probs)
                per_track = tf.reduce_mean(per_tag * (targets * positive + (1.0 - targets) * negative), [-2, -1])
            # sum / global batch size, counted (a last, smaller batch may split unevenly over replicas)
            tracks = tf.cast(tf.shape(labels)[0], per_track.dtype)
            context = tf.distribute.get_replica_context()
            global_batch = context.all_reduce(tf.distribute.ReduceOp.SUM, tracks)
            loss = tf.reduce_sum(per_track) / tf.maximum(global_batch, 1.0)
            if self.model.losses:  # weight penalties: once per global step, whatever the replicas
                loss += tf.add_n(self.model.losses) / context.num_replicas_in_sync
        grads = tape.gradient(loss, self.variables)
        i = 0
        for _, opt, vs in self.optimizers:
            opt.apply_gradients(zip(grads[i:i + len(vs)], vs))
            i += len(vs)
        return loss

    def _distributed_step(self, batch):
        per_replica = self.strategy.run(self._replica_step, args=batch)
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def train_step(self, inputs, labels) -> tf.Tensor:
        """One step on a (distributed) batch; returns the mean loss over the global batch, a scalar
        tensor: reading it (``float(loss)``) waits for the step, so a loop that reads it only now
        and then lets the device run ahead of the host."""
        if not self.variables:  # everything frozen: nothing to learn, the step still counts
            self.step.assign_add(1)
            return tf.constant(float("nan"))
        if self._step_fn is None:  # one trace for every batch size and track length
            spec = self._element_spec or tf.nest.map_structure(_relaxed_spec, (inputs, labels))
            self._step_fn = tf.function(self._distributed_step, input_signature=[spec])
        loss = self._step_fn((inputs, labels))
        self.step.assign_add(1)
        return loss


def balanced_tag_weights(labels) -> tuple:
    """``(positive, negative)`` weights per tag from the training labels ``(tracks, tags)``:
    ``n / (2·n_positive)`` and ``n / (2·n_negative)``, scikit-learn's ``class_weight='balanced'``
    for each tag's binary problem, so a tag on 5 of 300 tracks is not learnt as "never".
    Counts are clipped to 1 (a tag the training split lacks keeps a finite weight)."""
    import numpy as np

    y = np.asarray(labels, np.float64)
    n = max(len(y), 1)
    positives = np.clip(y.sum(0), 1, max(n - 1, 1))
    return (n / (2.0 * positives)).astype("float32"), (n / (2.0 * np.maximum(n - positives, 1))).astype("float32")


def _relaxed_spec(value):
    """A batch's spec with batch size and length left open (feature sizes kept)."""
    spec = tf.type_spec_from_value(value)
    if isinstance(spec, tf.TensorSpec) and spec.shape.rank and spec.shape.rank > 1:
        return tf.TensorSpec([None] * (spec.shape.rank - 1) + [spec.shape[-1]], spec.dtype)
    if isinstance(spec, tf.TensorSpec) and spec.shape.rank == 1:
        return tf.TensorSpec([None], spec.dtype)
    return spec
