"""Reshapes that hold for every batch size, the empty batch included.

Under ``tf.distribute`` a replica's share of the last global batch can be empty (9 tracks in
batches of 8 over 2 replicas: 1 + 0). ``tf.reshape(x, [batch, -1, d])`` cannot infer the ``-1`` of
a tensor without elements — TensorFlow then produces a meaningless size and the step fails — so
every reshape that merges dimensions beside the batch computes the merged size from the shape.
"""

from __future__ import annotations

import math

import tensorflow as tf

__all__ = ["merge_dims"]


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
