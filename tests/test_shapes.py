"""tfmusictag.shapes: merging dimensions of dynamic shapes (the empty batch included) against NumPy's
reshape, and an empty training batch through a convolution and a max pooling, with gradients, with
the CPU kernels this process runs (the suite runs with oneDNN on and off: ``-m onednn``)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmusictag.shapes import batch_safe, merge_dims


@pytest.mark.parametrize("shape,start,stop", [((2, 3, 4, 5), 1, -1), ((2, 3, 4, 5), 0, 2), ((0, 3, 4, 5), 1, 3),
                                              ((2, 0, 4), 1, 3), ((6,), 0, 1)])
def test_merge_dims_is_numpys_reshape_for_static_and_dynamic_shapes(shape, start, stop):
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    s, e = start % len(shape), (stop % len(shape)) if stop < 0 else stop
    want = x.reshape(shape[:s] + (int(np.prod(shape[s:e])),) + shape[e:])
    np.testing.assert_array_equal(merge_dims(tf.constant(x), start, stop).numpy(), want)
    dynamic = tf.function(lambda t: merge_dims(t, start, stop),
                          input_signature=[tf.TensorSpec([None] * len(shape), tf.float32)])
    np.testing.assert_array_equal(dynamic(tf.constant(x)).numpy(), want)


@pytest.mark.onednn
@pytest.mark.parametrize("batch", [0, 3])
def test_an_empty_batch_trains_through_a_convolution_and_a_pooling_with_zero_gradients(batch):
    conv, pool = keras.layers.Conv2D(2, 3, padding="same"), keras.layers.MaxPooling2D(2)
    x = tf.random.normal([batch, 8, 6, 1], seed=1)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            y = batch_safe(pool, batch_safe(conv, x))
            loss = tf.reduce_sum(y)
        return y, tape.gradient(loss, conv.trainable_weights)

    y, grads = step(x)
    assert tuple(y.shape) == (batch, 4, 3, 2)
    assert all(g is not None for g in grads)
    if batch == 0:
        assert all(not np.any(g.numpy()) for g in grads)
    else:  # the padding is a no-op for a non-empty batch
        np.testing.assert_allclose(y.numpy(), pool(conv(x)).numpy(), atol=1e-6)
