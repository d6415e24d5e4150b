"""The temporal stage (thesis Sec. 2.3, :mod:`tfmusictag.temporal`): Bag of Frames' k-means and
histograms (Algorithms 7–8), statistics pooling and the LSTMs' input standardisation, each
checked against its definition."""

import numpy as np
import pytest
import tensorflow as tf

from tfmusictag import errors
from tfmusictag.temporal import BagOfFrames, HierarchicalLSTM, LSTMStack, StatsPooling, kmeans_plus_plus


def test_kmeans_recovers_well_separated_clusters():
    rng = np.random.default_rng(0)
    true_centers = rng.normal(size=(6, 5)) * 20
    labels = rng.integers(0, 6, size=6000)
    x = (true_centers[labels] + rng.normal(size=(6000, 5))).astype(np.float32)
    bof = BagOfFrames(6, epochs=3, batch_size=500, seed=1)
    bof.adapt(tf.data.Dataset.from_tensor_slices(x).batch(1000))
    found = bof.centers.numpy()
    dist = np.linalg.norm(found[:, None] - true_centers[None], axis=-1)
    assert sorted(dist.argmin(1)) == list(range(6)), dist.round(1)  # one centre per true cluster
    assert dist.min(1).max() < 0.5
    # assignments match the true partition up to renaming
    assigned = bof.assign(tf.constant(x)).numpy()
    mapping = dist.argmin(1)
    assert (mapping[assigned] == labels).mean() > 0.999


def test_kmeans_reseeds_empty_clusters():
    # 500 copies of one point and a few distinct points: k-means++ may pick duplicates; none may stay empty
    x = np.concatenate([np.zeros((500, 2)), np.arange(20).reshape(10, 2) * 10.0]).astype(np.float32)
    bof = BagOfFrames(8, epochs=4, batch_size=64, seed=0)
    bof.adapt(x)
    assigned = bof.assign(tf.constant(x)).numpy()
    assert len(set(assigned)) == 8


def test_kmeans_plus_plus_picks_distinct_points():
    x = tf.constant(np.repeat(np.eye(4, dtype=np.float32) * 10, 50, axis=0))
    c = kmeans_plus_plus(x, 4, tf.constant([3, 0]))
    assert len({tuple(r) for r in c.numpy().round(3)}) == 4


def test_bof_histogram_is_normalised_and_masked():
    bof = BagOfFrames(4)
    bof.build((None, 2))
    bof.centers.assign(np.array([[0, 0], [10, 0], [0, 10], [10, 10]], np.float32))
    x = tf.constant([[[0.1, 0], [9, 1], [9, 9], [100, 100]]], tf.float32)
    h = bof(x, tf.constant([[True, True, True, False]])).numpy()
    np.testing.assert_allclose(h, [[1 / 3, 1 / 3, 0, 1 / 3]])


def test_chunked_assignment_equals_direct_assignment():
    rng = np.random.default_rng(1)
    bof = BagOfFrames(7)
    bof.build((None, 3))
    bof.centers.assign(rng.normal(size=(7, 3)).astype(np.float32))
    x = tf.constant(rng.normal(size=(2, 1000, 3)).astype(np.float32))
    direct = np.argmin(((x.numpy()[..., None, :] - bof.centers.numpy()) ** 2).sum(-1), -1)
    for chunk in (1, 64, 999, 5000):
        np.testing.assert_array_equal(bof.assign(x, chunk=chunk).numpy(), direct)


@pytest.mark.parametrize("stats", [("mean", "std"), ("mean", "std", "max")])
def test_stats_pooling_is_the_masked_mean_std_and_max(stats):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 5, 4)).astype("float32") - 3.0  # all negative: padding must not win the max
    mask = np.ones((2, 3, 5), bool)
    mask[1, 2, 2:] = False
    mask[1, 1] = False
    x[1, 1] = 10.0  # masked out
    out = StatsPooling(stats)(tf.constant(x), tf.constant(mask)).numpy()
    for b in range(2):
        rows = x[b][mask[b]]
        want = {"mean": rows.mean(0), "std": rows.std(0), "max": rows.max(0)}
        np.testing.assert_allclose(out[b], np.concatenate([want[k] for k in stats]), atol=1e-5)
    empty = StatsPooling(stats)(tf.constant(x), tf.zeros((2, 3, 5), bool)).numpy()
    np.testing.assert_array_equal(empty, 0)
    with pytest.raises(errors.ParameterError, match="stats=.*must be one of"):
        StatsPooling(("max", "mean"))


def test_lstm_inputs_are_standardised_with_training_statistics():
    """MFCCs are unscaled (means of 10-40): the LSTMs standardise their input with statistics fitted
    on the training features, and the output is the plain LSTM's on standardised features."""
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(2, 2, 30, 5)) * [20, 5, 1, 0.1, 3] + [30, -10, 0, 2, 1]).astype("float32")
    mask = np.ones((2, 2, 30), bool)
    mask[1, 1, 10:] = False
    x[1, 1, 10:] = 1e4  # padding: never seen by the statistics nor the output
    for make in (lambda s: HierarchicalLSTM(4, 0.0, standardize=s), lambda s: LSTMStack(4, 0.0, 2, standardize=s)):
        std, plain = make(True), make(False)
        std.build(x.shape)
        plain.build(x.shape)
        assert std.needs_fitting() and not plain.needs_fitting()
        summary = std.adapt(tf.data.Dataset.from_tensors((x, mask)))
        assert summary["vectors"] == int(mask.sum()) and not std.needs_fitting()
        rows = x[mask]
        np.testing.assert_allclose(std.mean.numpy(), rows.mean(0), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(std.scale.numpy(), 1 / rows.std(0), rtol=1e-4)
        lstm_weights = [w for w in std.weights if w.trainable]
        for a, b in zip([w for w in plain.weights if w.trainable], lstm_weights):
            a.assign(b)
        z = np.where(mask[..., None], (x - rows.mean(0)) / rows.std(0), x).astype("float32")
        np.testing.assert_allclose(std(tf.constant(x), tf.constant(mask)).numpy(),
                                   plain(tf.constant(z), tf.constant(mask)).numpy(), atol=1e-5)
