"""Reshapes that hold for every batch size, the empty batch included.

Under ``tf.distribute`` a replica's share of the last global batch can be empty (9 tracks in
batches of 8 over 2 replicas: 1 + 0). ``tf.reshape(x, [batch, -1, d])`` cannot infer the ``-1`` of
a tensor without elements — TensorFlow then produces a meaningless size and the step fails — so
every reshape that merges dimensions beside the batch computes the merged size from the shape.
"""

from __future__ import annotations

import math

import tensorflow as tf

__all__ = ["merge_dims", "batch_safe"]


def merge_dims(x, start: int, stop: int):
    """``x`` with dimensions ``start`` to ``stop - 1`` merged into one, for any (dynamic) shape.

    Args:
        x: a tensor of known rank.
        start, stop: the dimensions ``[start, stop)`` to merge (negative counts from the end).

    Returns:
        ``x`` reshaped to ``shape[:start] + [prod(shape[start:stop])] + shape[stop:]``; the merged
        size is 0 when any merged dimension is (never inferred with ``-1``).

    Example:
        ``merge_dims(x, 1, -1)`` turns ``(batch, segments, frames, dim)`` into
        ``(batch, segments·frames, dim)``, also for ``batch == 0``.
    """
    rank = x.shape.rank
    start, stop = start % rank, stop % rank if stop < 0 else stop
    shape = tf.shape(x)
    merged = tf.reduce_prod(shape[start:stop], keepdims=True)
    out = tf.reshape(x, tf.concat([shape[:start], merged, shape[stop:]], 0))
    static = x.shape.as_list()
    part = static[start:stop]
    size = None if None in part else math.prod(part)
    out.set_shape(static[:start] + [size] + static[stop:])
    return out


def batch_safe(fn, x, training=True):
    """``fn(x)`` for a convolution or a max-pooling layer, right for every batch size, the empty
    batch included, in training.

    With oneDNN's CPU kernels (TensorFlow 2.21 in a ``tf.function``; oneDNN is on by default on
    CPUs with AVX-512 VNNI or AMX) a convolution of an empty batch returns its *input* unchanged
    (``(0, 96, 64, 1)`` for 2 filters over ``(0, 96, 64, 1)``), its filter gradient has no output,
    and the gradient of a max pooling of an empty batch aborts the process. Under
    ``tf.distribute`` a replica's share of the last global batch can be empty: the synchronized
    batch norm after a convolution would all-reduce sums of the wrong size. So in training an
    empty batch goes through ``fn`` as one track of zeros, sliced off again: the output has the
    right shape and no rows, and the gradients from it are zero, as they are without oneDNN. For
    any other batch the padding and the slice are no-ops (TensorFlow forwards the tensor).
    Inference (``training=False``) calls ``fn`` directly.

    Args:
        fn: a callable of one batch-first tensor (a Keras ``Conv1D``/``Conv2D``/``MaxPooling2D``).
        x: its input ``(batch, ...)``, of known rank.
        training: whether the call is a training step.
    """
    if not training:
        return fn(x)
    n = tf.shape(x)[0]
    empty = tf.cast(tf.equal(n, 0), tf.int32)
    padding = tf.concat([[[0, empty]], tf.zeros([x.shape.rank - 1, 2], tf.int32)], 0)
    return fn(tf.pad(x, padding))[:n]
