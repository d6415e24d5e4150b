"""The classifier stage ``ζ = C(f)`` (:mod:`tfmusictag.classifier`): the two-layer perceptron of
Eq. 2.14, its linear form for small catalogs (standardised inputs, L2), and per-readout heads."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmusictag import errors
from tfmusictag.classifier import TagClassifier, head_ranges
from tfmusictag.variants import VARIANTS, build_variant, variant_config

TAGS = ("piano", "drums", "strings")
# Small sizes so that every variant trains in seconds on 2 cores.
SMALL = {"temporal.bof.num_clusters": 4, "temporal.bof.epochs": 2, "temporal.lstm.units": 6,
         "classifier.hidden": 8, "reduction.mfcc.n_mfcc": 13, "reduction.pca.n_components": 6,
         "reduction.cnn.filters": [4, 6, 6, 8, 8]}


def small(name):
    """SMALL for variant ``name`` (per-readout heads are linear: no hidden layer)."""
    return {**SMALL, "classifier.hidden": 0} if VARIANTS.get(name)().classifier.heads != "one" else SMALL


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def test_the_perceptron_is_eq_2_14_and_hidden_0_is_logistic_regression():
    """``ζ = σ(W_L2 · ReLU(W_L1 · f + b_1) + b_2)`` (Eq. 2.14), one sigmoid per tag, by hand; with
    ``hidden=0`` it is ``σ(W·f + b)``; with ``standardize`` the input is ``(f − mean)·scale`` first.
    Dropout is off at inference."""
    rng = np.random.default_rng(3)
    f = rng.normal(size=(5, 7)).astype("float32")
    mlp = TagClassifier(3, 4, dropout=0.5)
    mlp.build((None, 7))
    (w1, b1), (w2, b2) = mlp.hidden_layer.get_weights(), mlp.output_layer.get_weights()
    b1, b2 = rng.normal(size=b1.shape).astype("float32"), rng.normal(size=b2.shape).astype("float32")
    mlp.hidden_layer.set_weights([w1, b1])
    mlp.output_layer.set_weights([w2, b2])
    expected = _sigmoid(np.maximum(f @ w1 + b1, 0) @ w2 + b2)
    np.testing.assert_allclose(mlp(f, training=False), expected, rtol=1e-5, atol=1e-6)
    assert mlp.compute_output_shape((None, 7)) == (None, 3)

    linear = TagClassifier(3, 0, standardize=True)
    linear.build((None, 7))
    assert linear.hidden_layer is None
    linear.adapt([f])
    w, b = linear.output_layer.get_weights()
    z = (f - f.mean(0)) / f.std(0)
    np.testing.assert_allclose(linear(f), _sigmoid(z @ w + b), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    ({"num_tags": 0}, "num_tags=0 must be a positive integer"),
    ({"num_tags": 3, "hidden": -1}, "hidden=-1 must be a non-negative integer"),
    ({"num_tags": 3, "dropout": 1.0}, r"dropout=1.0 must be in \[0, 1\)"),
    ({"num_tags": 3, "l2": -0.1}, "l2=-0.1 must be a number >= 0"),
    ({"num_tags": 3, "hidden": 0, "hidden_norm": True}, "hidden_norm=True needs a hidden layer"),
    ({"num_tags": 3, "hidden": 8, "head_ranges": [[[0, 2]], [[2, 2]]]}, "per-readout heads are linear")])
def test_bad_classifier_settings_are_one_line_each(kwargs, match):
    with pytest.raises(errors.ParameterError, match=match):
        TagClassifier(**kwargs)


def test_head_ranges_read_each_group_of_every_statistic():
    """Groups (3, 2) pooled by two statistics (a 10-d embedding ``[mean(3, 2), std(3, 2)]``): head 0
    reads features 0–2 and 5–7, head 1 features 3–4 and 8–9; one group or a layout that does not
    repeat gives no heads."""
    assert head_ranges((3, 2), 10) == [[[0, 3], [5, 3]], [[3, 2], [8, 2]]]
    assert head_ranges((5,), 10) is None and head_ranges((3, 2), 11) is None
    layer = TagClassifier(2, 0, head_ranges=head_ranges((3, 2), 10))
    layer.build((None, 10))
    f = tf.random.stateless_normal([4, 10], [1, 2])
    heads = layer.head_probabilities(f).numpy()
    w0, b0 = layer.output_layer.get_weights()
    w1, b1 = layer.head_layers[0].get_weights()
    np.testing.assert_allclose(heads[:, 0], _sigmoid(tf.gather(f, [0, 1, 2, 5, 6, 7], axis=1).numpy() @ w0 + b0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(heads[:, 1], _sigmoid(tf.gather(f, [3, 4, 8, 9], axis=1).numpy() @ w1 + b1),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer(f), heads.mean(1), atol=1e-6)  # late fusion: the mean of the heads
    with pytest.raises(errors.ParameterError, match="head_ranges reach feature 10 of an embedding of 8"):
        TagClassifier(2, 0, head_ranges=head_ranges((3, 2), 10)).build((None, 8))


def test_standardisation_is_fitted_on_the_training_embeddings():
    rng = np.random.default_rng(1)
    f = (rng.normal(size=(50, 6)) * [1, 10, 100, 0.1, 1, 1] + [5, -3, 0, 1, 2, 0]).astype("float32")
    f[:, 5] = 7.0  # constant: left unscaled
    head = TagClassifier(2, 0, standardize=True)
    head.build((None, 6))
    assert head.needs_fitting()
    head.adapt([f[:20], f[20:]])
    assert not head.needs_fitting()
    z = ((f - head.mean.numpy()) * head.scale.numpy())
    np.testing.assert_allclose(z[:, :5].mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z[:, :5].std(0), 1, atol=1e-4)
    np.testing.assert_allclose(z[:, 5], 0, atol=1e-5)


def test_the_l2_penalty_and_class_weights_enter_the_loss():
    """The loss is the mean over the classifier's heads of each head's (class-weighted) binary
    cross-entropy, plus l2·Σw² over every head's kernel."""
    from tfmusictag.training import LearningRates, Trainer

    model = build_variant("transfer_stats", TAGS, {**small("transfer_stats"), "classifier.l2": 0.5})
    assert len(model.classifier.head_ranges) == 2
    log_mel = tf.random.stateless_normal([2, 1500, 96], [7, 8])
    labels = tf.constant([[1.0, 0, 0], [0, 1, 0]])
    inputs = {"log_mel": log_mel, "num_frames": tf.constant([1500, 1500])}
    heads = model.head_probabilities(inputs)
    assert heads.shape == (2, 2, 3)
    np.testing.assert_allclose(model(inputs), tf.reduce_mean(heads, 1), atol=1e-6)
    bce = np.mean([float(keras.losses.BinaryCrossentropy()(labels, heads[:, k])) for k in range(2)])
    kernels = [model.classifier.output_layer.kernel] + [h.kernel for h in model.classifier.head_layers]
    penalty = 0.5 * sum(float(tf.reduce_sum(tf.square(k))) for k in kernels)
    assert penalty > 0
    lr = LearningRates()
    plain = Trainer(model, lr)
    loss = plain.train_step(inputs, labels)
    np.testing.assert_allclose(loss, bce + penalty, rtol=1e-4)
    weighted = Trainer(build_variant("transfer_stats", TAGS, {**small("transfer_stats"), "classifier.l2": 0.0}), lr,
                       tag_weights=(np.array([2.0, 2.0, 2.0]), np.array([0.0, 0.0, 0.0])))
    # Keras's cross-entropy clips probabilities to [ε, 1 − ε] (a saturated random head reaches 0)
    eps = keras.config.epsilon()
    heads = tf.clip_by_value(weighted.model.head_probabilities(inputs), eps, 1 - eps)
    positives_only = -float(tf.reduce_mean(tf.reduce_sum(labels[:, None] * tf.math.log(heads), [1, 2]) * 2.0 / 6))
    np.testing.assert_allclose(weighted.train_step(inputs, labels), positives_only, rtol=1e-4)


def test_per_readout_heads_train_as_the_two_probes_alone():
    """Late fusion, not one model: after some Adam steps each head equals a linear model trained on
    its readout alone (the heads' loss is their mean loss, so each gets half its own gradient, and
    Adam does not see a gradient's scale; the lone models take twice the l2 for the same reason)."""
    from tfmusictag.training import LearningRates, Trainer

    over = {**small("transfer_stats"), "classifier.standardize": False, "classifier.l2": 0.01}
    fused = build_variant("transfer_stats", TAGS, over)
    alone = [build_variant("transfer_stats", TAGS, {**over, "reduction.readout": r, "classifier.heads": "one",
                                                    "classifier.l2": 0.02}) for r in ("last", "all_layers")]
    start = []
    for model, head in zip(alone, [fused.classifier.output_layer] + fused.classifier.head_layers):
        model.reduction.set_weights(fused.reduction.get_weights())
        model.classifier.output_layer.set_weights(head.get_weights())
        start.append(head.kernel.numpy())
    inputs = {"log_mel": tf.random.stateless_normal([4, 1500, 96], [5, 6]), "num_frames": tf.constant([1500] * 4)}
    labels = tf.constant([[1.0, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    lr = LearningRates()
    trainers = [Trainer(m, lr) for m in [fused] + alone]
    for _ in range(5):
        for t in trainers:
            t.train_step(inputs, labels)
    for model, head, w0 in zip(alone, [fused.classifier.output_layer] + fused.classifier.head_layers, start):
        moved, moved_alone = head.kernel.numpy() - w0, model.classifier.output_layer.kernel.numpy() - w0
        # equal up to Adam's epsilon (1e-7 beside gradients of ~1e-4 here)
        assert np.linalg.norm(moved - moved_alone) < 0.05 * np.linalg.norm(moved_alone)


def test_per_readout_heads_need_readouts_pooled_feature_by_feature():
    # one readout: one head
    one = build_variant("cnn_mean", TAGS, {**SMALL, "classifier.hidden": 0, "classifier.heads": "per_readout"})
    assert one.classifier.head_ranges is None
    with pytest.raises(errors.ParameterError, match="temporal mean, max, mean_std or mean_std_max"):
        build_variant("blackbox_cnn_bof", TAGS, {**SMALL, "classifier.hidden": 0, "classifier.heads": "per_readout",
                                                 "reduction.readout": "last_and_all_layers"})
    with pytest.raises(errors.ParameterError, match="hidden=0"):
        build_variant("transfer_stats", TAGS, {**SMALL, "classifier.hidden": 8})
    with pytest.raises(errors.ParameterError, match="classifier.heads='two'"):
        variant_config("transfer_stats", TAGS, {"classifier.heads": "two"})


def test_a_layer_saved_under_its_former_registered_name_still_loads():
    """Models saved when the classifier was registered as ``TwoLayerPerceptron`` load as
    :class:`TagClassifier` with the same config."""
    import keras

    from tfmusictag.classifier import LEGACY_REGISTERED_NAME

    layer = TagClassifier(3, 4, dropout=0.5)
    saved = keras.saving.serialize_keras_object(layer)
    assert saved["registered_name"] == "tfmusictag>TagClassifier"
    old = {**saved, "class_name": "TwoLayerPerceptron", "registered_name": LEGACY_REGISTERED_NAME}
    revived = keras.saving.deserialize_keras_object(old)
    assert type(revived) is TagClassifier and revived.get_config() == layer.get_config()
