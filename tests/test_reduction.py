"""tfmusictag.reduction: the block CNNs' shapes and published weights, their readouts, and ensembles
(musicnn's networks against the original: ``test_pretrained.py``; MFCC and PCA: ``test_frontend.py``)."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfmusictag import errors
from tfmusictag.reduction import MFCC, ChoiCNN, EnsembleReduction, FrameReduction, MusicnnCNN, MusicnnVGG
from tfmusictag.tagger import TrackTagger
from tfmusictag.variants import variant_config
from tiny_models import TAGS


def test_choi_cnn_gives_256_per_segment():
    cnn = ChoiCNN()
    segs = tf.random.normal([2, 3, 1366, 96])
    y, m = cnn(segs, tf.ones([2, 3, 1366], tf.bool))
    assert y.shape == (2, 3, 256) and m.shape == (2, 3)
    assert [c.filters for c in cnn.convs] == [32, 128, 128, 192, 256]


CHOI = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "pretrained", "choi2016",
                    "music_tagger_cnn_weights_tensorflow.h5")


@pytest.mark.skipif(not os.path.exists(CHOI), reason="Choi et al.'s MSD weights are not available here")
def test_published_msd_weights_fit_the_cnn_exactly():
    import h5py

    cnn = ChoiCNN(input_norm_axis="time")
    cnn.build((None, None, 1366, 96))
    with h5py.File(CHOI, "r") as h5:
        beta = h5["bn_0_freq/bn_0_freq_beta:0"][()]
        assert cnn.input_norm.beta.shape == beta.shape  # 1366: Choi's weights normalise time steps
        for i, conv in enumerate(cnn.convs, start=1):
            w = h5[f"conv{i}/conv{i}_W:0"][()]  # Theano order (out, in, rows, cols)
            conv.kernel.assign(np.transpose(w, (2, 3, 1, 0)))
            conv.bias.assign(h5[f"conv{i}/conv{i}_b:0"][()])
            assert cnn.norms[i - 1].gamma.shape == h5[f"bn{i}/bn{i}_gamma:0"].shape
        assert h5["output/output_W:0"].shape[0] == cnn.output_dim(96)


def test_all_layers_readout_is_each_blocks_mean_and_max():
    vgg = MusicnnVGG(4, readout="all_layers")
    last = MusicnnVGG(4)
    segments = tf.random.stateless_normal([1, 2, 187, 96], [1, 2])
    mask = tf.ones([1, 2, 187], bool)
    vgg.build(segments.shape)
    last.build(segments.shape)
    for a, b in zip(last.weights, vgg.weights):  # the same weights: a source transfers whatever the readout
        assert a.shape == b.shape
        b.assign(a)
    y, m = vgg(segments, mask)
    assert y.shape == (1, 2, 2 * 5 * 4) and bool(tf.reduce_all(m))
    x = vgg.input_norm(tf.reshape(segments, [-1, 187, 96])[..., None])
    x = vgg.pooling[0](vgg.norms[0](vgg.convs[0](x)))
    np.testing.assert_allclose(y[0, :, :4], tf.reduce_mean(x, [1, 2]), atol=1e-5)
    np.testing.assert_allclose(y[0, :, 4:8], tf.reduce_max(x, [1, 2]), atol=1e-5)
    # the last block's maximum is the 'last' readout's maximum (its 2×1 map, flattened)
    np.testing.assert_allclose(y[0, :, -4:], tf.reduce_max(tf.reshape(last(segments, mask)[0], [2, 2, 4]), 1),
                               atol=1e-5)


def test_readout_needs_a_cnn():
    with pytest.raises(errors.ParameterError, match="readout"):
        variant_config("mfcc_bof", TAGS, {"reduction.readout": "all_layers"})
    with pytest.raises(errors.ParameterError, match="readout"):
        variant_config("cnn_mean", TAGS, {"reduction.readout": "every"})


def test_last_and_all_layers_readout_is_both_readouts():
    """``'last_and_all_layers'``: the 'last' vector then the 'all_layers' one, from the same weights,
    for both block CNNs; its two feature groups say where each starts."""
    for frames, make in ((187, lambda r: MusicnnVGG(4, readout=r)),
                         (1366, lambda r: ChoiCNN(filters=(4, 4, 4, 4, 4), readout=r))):
        segments = tf.random.stateless_normal([1, 2, frames, 96], [3, 4])
        mask = tf.ones([1, 2, frames], bool)
        both, last, every = make("last_and_all_layers"), make("last"), make("all_layers")
        for layer in (both, last, every):
            layer.build(segments.shape)
        last.set_weights(both.get_weights())
        every.set_weights(both.get_weights())
        y = both(segments, mask)[0].numpy()
        a, b = both.feature_groups(96, frames)
        assert (a, b) == (last.output_dim(96, frames), every.output_dim(96, frames)) and y.shape[-1] == a + b
        np.testing.assert_allclose(y[..., :a], last(segments, mask)[0], atol=1e-5)
        np.testing.assert_allclose(y[..., a:], every(segments, mask)[0], atol=1e-5)


def _tiny_ensemble_config(**kw):
    return variant_config("transfer_stats", TAGS, {
        "front_end": "musicnn", "segments.segment_frames": 187, "reduction.type": "ensemble",
        "reduction.members": ["vgg", "musicnn"], "reduction.vgg.filters": 4, "reduction.musicnn.frontend_filters": 0.1,
        "reduction.musicnn.midend_filters": 4, **kw})


def test_ensemble_is_its_members_side_by_side():
    """An 'ensemble' reduction: each member's segment vectors, in order, from the same segments; its
    feature groups are the members' groups (VGG's two readouts, musicnn's one), so the recipe's
    classifier gets one head per network and readout; its layer groups are the members' together."""
    model = TrackTagger(_tiny_ensemble_config())
    vgg, mus = model.reduction.members
    assert (type(vgg), type(mus), vgg.readout) == (MusicnnVGG, MusicnnCNN, "last_and_all_layers")
    log_mel = tf.random.stateless_uniform([2, 187 * 3 + 40, 96], [5, 6]) * 3
    n = tf.constant([187 * 3 + 40, 187 * 2])
    y, mask = model.reduce(log_mel, n)
    segments, frame_mask = model.segmenter(log_mel, n)
    a, ma = vgg(segments, frame_mask)
    b, mb = mus(segments, frame_mask)
    np.testing.assert_allclose(y, tf.concat([a, b], -1), atol=1e-6)
    np.testing.assert_array_equal(mask, ma)
    np.testing.assert_array_equal(mask, mb)
    groups = model.reduction.feature_groups(96, 187)
    assert groups == vgg.feature_groups(96, 187) + (mus.output_dim(),) and len(groups) == 3
    assert len(model.classifier.head_ranges) == 3 and model.head_probabilities(
        {"log_mel": log_mel, "num_frames": n}).shape == (2, 3, len(TAGS))
    # freezing 'cnn_low' freezes the low layers of every member
    low = {id(layer) for layer in model.layer_groups()["cnn_low"]}
    assert {id(vgg.input_norm), id(mus.input_norm)} <= low
    assert not model.reduction.trainable_weights  # transfer_stats freezes the whole reduction


def test_ensemble_config_errors_are_one_line():
    with pytest.raises(errors.ParameterError, match="needs reduction.members"):
        TrackTagger(_tiny_ensemble_config(**{"reduction.members": []}))
    with pytest.raises(errors.ParameterError, match=r"\['mfcc'\] are not segment CNNs"):
        TrackTagger(_tiny_ensemble_config(**{"reduction.members": ["vgg", "mfcc"]}))
    with pytest.raises(errors.ParameterError, match="is for reduction.type='ensemble'"):
        variant_config("cnn_mean", TAGS, {"reduction.members": ["vgg"]})
    with pytest.raises(errors.ParameterError, match="must be segment-level"):
        EnsembleReduction([FrameReduction(MFCC(13))])
