"""Pretrained source models: musicnn's layers, conversion, parity with the original, serving.

Parity fixtures (``tests/fixtures/musicnn_reference*.npz``) were produced by the ORIGINAL musicnn
in its own environment with ``tests/reference/musicnn_reference.py``. Tests that need the
musicnn checkpoints skip when they have not been downloaded; ``make test`` downloads them first
(``python -m tfmusictag.pretrained download musicnn``).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfmusictag import audio, pretrained
from tfmusictag.errors import ParameterError
from tfmusictag.reduction.musicnn import MusicnnCNN, MusicnnVGG
from tfmusictag.reduction.musicnn_inference import conv_bn_max, front_bounds, front_infer, front_plan
from tfmusictag.pretrained import musicnn as mn

from support import ENV

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
EXCERPT = os.path.join(FIXTURES, "demo_excerpt_22k.flac")
SHARED_AUDIO = os.path.join(HERE, "..", "..", "shared", "pretrained", "choi2016", "audio")
PARITY_MODELS = ("MTT_musicnn", "MTT_vgg", "MSD_musicnn")

# Tolerances, stated: the log-mel differs from musicnn's by its float16 rounding of the mel power
# (relative 2^-11 → ≤ 2.2e-4 in log10(1 + 10000·x)); the taggram by ≤ 1e-3 (observed ≤ 1.3e-4);
# on musicnn's own log-mel the networks agree to float rounding (observed ≤ 2e-6).
LOG_MEL_ATOL, TAGGRAM_ATOL, NETWORK_ATOL = 1e-3, 1e-3, 1e-5


def _have_musicnn():
    try:
        mn.weights_dir("MTT_musicnn")
        return True
    except FileNotFoundError:
        return False


needs_musicnn = pytest.mark.skipif(not _have_musicnn(), reason="musicnn checkpoints not downloaded; run "
                                   "`python -m tfmusictag.pretrained download musicnn` (make test does)")


@pytest.fixture(scope="module")
def reference():
    return np.load(os.path.join(FIXTURES, "musicnn_reference.npz"))


@pytest.fixture(scope="module")
def models():
    return {name: pretrained.load_model(name) for name in PARITY_MODELS}


# -- layers (no weights needed) -------------------------------------------------------------------

def _random_bn(layer, rng, negative=True):
    for norm in [l for l in layer._flatten_layers() if isinstance(l, tf.keras.layers.BatchNormalization)
                 or type(l).__name__ == "BatchNormalization"]:
        n = norm.gamma.shape[0]
        gamma = rng.uniform(0.5, 2.0, n) * (np.where(rng.rand(n) < 0.5, -1, 1) if negative else 1)
        norm.set_weights([gamma, rng.normal(0, 1, n), rng.normal(0, 1, n), rng.uniform(0.5, 2, n)])


def test_fast_inference_block_equals_the_direct_form():
    """max_f BN(ReLU(conv)) computed through max/min of the convolution equals the direct form,
    for filters whose batch-norm scale is positive and negative."""
    rng = np.random.RandomState(0)
    layer = MusicnnCNN()
    layer.build((None, None, 187, 96))
    _random_bn(layer, rng)
    x = tf.constant(rng.normal(0, 1, (2, 193, 96, 1)), tf.float32)
    for conv, norm in layer.timbral + layer.temporal:
        direct = tf.reduce_max(norm(conv(x), training=False), axis=2)
        np.testing.assert_allclose(conv_bn_max(conv, norm, x), direct, atol=1e-4, rtol=1e-5)


@pytest.mark.onednn
def test_inference_front_end_equals_the_direct_form_with_dead_filters_folded():
    """The inference front end (temporal filters as a Toeplitz product or a 1-D convolution, dead
    filters as constants, every filter's extreme by one max pooling of the sign-flipped
    convolution) equals the direct form filter by filter, and folding finds exactly the
    filters whose kernels were zeroed."""
    rng = np.random.RandomState(2)
    layer = MusicnnCNN()
    layer.build((None, None, 187, 96))
    _random_bn(layer, rng)
    signs = [np.sign(front_plan(layer, 187)[i]["sign"].numpy()) for i in range(5)]
    assert all({-1.0, 1.0} == set(s) for s in signs)  # both a maximum and a minimum in every convolution
    dead = {}
    for conv, _ in layer.timbral + layer.temporal:
        kernel, bias = conv.get_weights()
        dead[conv.name] = sorted(rng.choice(conv.filters, conv.filters // 3, replace=False).tolist())
        kernel[..., dead[conv.name]] = 1e-31  # as in musicnn's checkpoints
        conv.set_weights([kernel, bias])
    x = tf.constant(rng.normal(0, 1, (3, 187, 96, 1)), tf.float32)
    padded = tf.pad(layer.input_norm(x, training=False), [[0, 0], [3, 3], [0, 0], [0, 0]])
    unpadded = layer.input_norm(x, training=False)
    direct = ([conv_bn_max(c, n, padded) for c, n in layer.timbral]
              + [conv_bn_max(c, n, unpadded) for c, n in layer.temporal])
    plain = front_infer(layer, x, front_plan(layer, 187))
    report = layer.fold()
    assert {k: v for k, v in report.items() if k != "midend_1"} == {
        c.name: (c.filters - len(dead[c.name]), c.filters) for c, _ in layer.timbral + layer.temporal}
    assert all(sorted(set(range(c.filters)) - set(layer.live[c.name])) == dead[c.name]
               for c, _ in layer.timbral + layer.temporal)
    folded = front_infer(layer, x, front_plan(layer, 187))
    for d, p, f in zip(direct, plain, folded):
        np.testing.assert_allclose(p, d, atol=1e-4, rtol=1e-5)
        np.testing.assert_allclose(f, d, atol=1e-4, rtol=1e-5)
    mask = tf.ones((1, 3, 187), bool)
    layer.unfold()
    np.testing.assert_allclose(layer(x[None, ..., 0], mask)[0], (layer.fold(), layer(x[None, ..., 0], mask))[1][0],
                               atol=1e-5)
    layer.unfold()
    assert layer.live is None


@pytest.mark.onednn
def test_mid_end_dead_filters_are_found_by_their_bounds_and_folded_exactly_borders_included():
    """Mid-end filters made dead (a bias far below what their inputs can reach) are exactly the
    ones :meth:`MusicnnCNN.fold` finds, a filter that only the zero padding would switch on is
    not, and the folded network gives the direct form's 1506 values for every patch — the first
    and last three frames (where layer 2 sees the padding) included — on inputs at the ends of
    the allowed range as well as typical ones."""
    rng = np.random.RandomState(5)
    layer = MusicnnCNN()
    layer.build((None, None, 187, 96))
    _random_bn(layer, rng)
    conv = layer.midend[0][0]
    kernel, bias = conv.get_weights()
    assert not layer.fold()["midend_1"][0] < conv.filters  # random weights: none dead
    lo, hi = (np.minimum(v, 0) if i == 0 else np.maximum(v, 0) for i, v in enumerate(front_bounds(layer)))
    top = np.maximum(kernel * lo[None, :, None], kernel * hi[None, :, None]).sum((0, 1))
    dead = sorted(rng.choice(conv.filters, 40, replace=False).tolist())
    bias[dead] = -top[dead] - 0.5  # at most -0.5 before ReLU for every input the front end gives
    bias[dead[0]] = -top[dead[0]] + 1e-3  # only just reachable: it must stay live
    conv.set_weights([kernel, bias])
    report = layer.fold()
    assert report["midend_1"] == (conv.filters - 39, conv.filters)
    assert sorted(set(range(conv.filters)) - set(layer.live["midend_1"])) == dead[1:]
    batches = [np.log10(1 + 1e4 * rng.exponential(0.01, (1, 4, 187, 96))),  # typical log-mel values
               np.zeros((1, 2, 187, 96)), np.full((1, 2, 187, 96), 10.0),  # the ends of the range
               rng.uniform(0, 10, (1, 3, 187, 96))]
    for x in batches:
        x = tf.constant(x, tf.float32)
        mask = tf.ones(x.shape[:3], bool)
        folded = layer(x, mask)[0].numpy()
        live = layer.live
        layer.live = {k: v for k, v in live.items() if k != "midend_1"}
        direct = layer(x, mask)[0].numpy()
        layer.live = live
        np.testing.assert_allclose(folded, direct, atol=2e-4 * max(1.0, np.abs(direct).max()), rtol=1e-5)
        # the mid end's maps: 753 channels, max and mean over time interleaved; layer 1's dead maps are their shift
        mid1 = folded.reshape(x.shape[0], x.shape[1], 753, 2)[..., 561:625, :]
        shift = (layer.midend[0][1].beta - layer.midend[0][1].moving_mean * layer.midend[0][1].gamma
                 * tf.math.rsqrt(layer.midend[0][1].moving_variance + layer.midend[0][1].epsilon)).numpy()
        np.testing.assert_allclose(mid1[..., dead[1:], :], np.broadcast_to(shift[dead[1:], None], mid1[..., dead[1:], :].shape),
                                   atol=1e-5)


@pytest.mark.parametrize("layer_cls,dim", [(MusicnnCNN, 1506), (MusicnnVGG, 256)])
def test_layers_shapes_masks_chunks_and_round_trip(layer_cls, dim, tmp_path):
    rng = np.random.RandomState(1)
    layer = layer_cls()
    layer.build((None, None, 187, 96))
    _random_bn(layer, rng, negative=False)
    x = tf.constant(rng.normal(0, 1, (2, 11, 187, 96)), tf.float32)  # 22 patches: 3 chunks of 8
    mask = tf.constant(np.arange(11)[None, :, None] < np.array([11, 4])[:, None, None]) & tf.ones((2, 11, 187), bool)
    y, seg_mask = layer(x, mask)
    assert y.shape == (2, 11, dim) and seg_mask.numpy()[1].tolist() == [True] * 4 + [False] * 7
    # chunking is invisible: each patch alone gives the same vector
    single, _ = layer(x[:1, 5:6], mask[:1, 5:6])
    np.testing.assert_allclose(single[0, 0], y[0, 5], atol=1e-4, rtol=1e-5)
    clone = layer_cls.from_config(layer.get_config())
    clone.build((None, None, 187, 96))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x, mask)[0], y, atol=1e-5)


@pytest.mark.onednn
def test_training_front_end_equals_autodiff_of_the_direct_form():
    """The training front end's rewrite (the input norm moved past the convolutions, so no gradient
    flows into the spectrogram) gives the direct form's values and, through autodiff, its gradients
    for every trainable weight (the input norm's γ and β included)."""
    from tfmusictag.reduction.musicnn_inference import TIME_PAD as _TIME_PAD

    tf.keras.utils.set_random_seed(4)  # the layer's initial weights too: the same case whatever ran before
    rng = np.random.RandomState(3)
    layer = MusicnnCNN()
    layer.build((None, None, 187, 96))
    _random_bn(layer, rng, negative=False)
    x = tf.constant(rng.normal(0, 1, (2, 187, 96, 1)) * 2 + 1, tf.float32)

    def direct(x):
        bn = layer.input_norm
        mean, var = tf.nn.moments(x, axes=[0, 1, 2, 3])
        h = (x - mean) * tf.math.rsqrt(var + bn.epsilon) * bn.gamma + bn.beta  # the normalised spectrogram
        out = []
        for convs, pad in ((layer.timbral, _TIME_PAD), (layer.temporal, None)):
            src = tf.pad(h, pad) if pad else h
            for conv, norm in convs:
                out.append(tf.reduce_max(norm(tf.nn.relu(conv.convolution_op(src, conv.kernel) + conv.bias),
                                              training=True), axis=2))
        return out

    weights = layer.trainable_weights
    with tf.GradientTape(persistent=True) as tape:
        fast, slow = layer._front_train(x), direct(x)
        probes = [tf.constant(rng.normal(0, 1, f.shape), tf.float32) for f in fast]
        loss_fast = tf.add_n([tf.reduce_sum(f * p) for f, p in zip(fast, probes)])
        loss_slow = tf.add_n([tf.reduce_sum(f * p) for f, p in zip(slow, probes)])
    for f, d in zip(fast, slow):
        np.testing.assert_allclose(f, d, atol=2e-4, rtol=1e-4)
    grads_fast, grads_slow = tape.gradient(loss_fast, weights), tape.gradient(loss_slow, weights)
    front = [(w, a, b) for w, a, b in zip(weights, grads_fast, grads_slow) if b is not None]  # not the mid end
    assert len(front) == 2 + 4 * (len(layer.timbral) + len(layer.temporal))  # input norm; kernel, bias, γ, β each
    for w, a, b in front:
        assert a is not None, w.path
        scale = float(tf.reduce_max(tf.abs(b))) + 1e-6
        assert float(tf.reduce_max(tf.abs(a - b))) <= 2e-3 * scale, w.path


def test_tag_mean_tags_are_the_mean_of_the_timeline_and_ignore_padding():
    cfg = mn.tagger_config("MTT_vgg")
    from tfmusictag.tagger import TrackTagger

    model = TrackTagger(cfg)
    log_mel = tf.random.uniform((1, 187 * 5 + 50, 96)) * 3
    out = model.analyze({"log_mel": log_mel})
    assert out["segment_tags"].shape == (1, 5, 50)  # the 50-frame tail is dropped, as musicnn does
    np.testing.assert_allclose(out["tags"][0], tf.reduce_mean(out["segment_tags"][0], 0), atol=1e-6)
    padded = tf.pad(log_mel, [[0, 0], [0, 400], [0, 0]])
    again = model({"log_mel": padded, "num_frames": np.array([log_mel.shape[1]])})
    np.testing.assert_allclose(again, out["tags"], atol=1e-6)


def test_classifier_options_validate_and_round_trip():
    from tfmusictag.classifier import TagClassifier

    with pytest.raises(ParameterError, match="hidden_norm=True needs a hidden layer"):
        TagClassifier(5, hidden=0, hidden_norm=True)
    with pytest.raises(ParameterError, match="input_dropout=1.5"):
        TagClassifier(5, input_dropout=1.5)
    layer = TagClassifier(5, hidden=7, input_norm=True, hidden_norm=True, input_dropout=0.5, dropout=0.5)
    layer.build((None, 3))
    assert len(layer.weights) == 4 + 2 + 4 + 2
    clone = TagClassifier.from_config(layer.get_config())
    clone.build((None, 3))
    clone.set_weights(layer.get_weights())
    f = np.random.RandomState(0).normal(size=(4, 3)).astype("float32")
    np.testing.assert_allclose(clone(f), layer(f), atol=1e-6)
    single = TagClassifier(5, hidden=0)
    single.build((None, 3))
    assert [w.shape for w in single.weights] == [(3, 5), (5,)]


# -- obtaining the weights ------------------------------------------------------------------------

def test_download_rejects_a_wrong_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TFMUSICTAG_HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        mn.download(from_path=str(tmp_path / "missing.tar.gz"))
    fake = tmp_path / "musicnn-0.1.0.tar.gz"
    fake.write_bytes(b"not the sdist")
    with pytest.raises(ValueError, match="SHA-256"):
        mn.download(from_path=str(fake))
    with pytest.raises(FileNotFoundError, match="python -m tfmusictag.pretrained download musicnn"):
        mn.weights_dir("MTT_musicnn")
    with pytest.raises(ParameterError, match="choose one of"):
        pretrained.convert("MTT_nonexistent")


# -- parity with the original musicnn ----------------------------------------------------------------

@needs_musicnn
def test_front_end_matches_musicnn_log_mel(reference):
    from tfmusictag.frontend import LogMelSpectrogram

    y = audio.load(EXCERPT, 16000)
    ours = LogMelSpectrogram("musicnn")(y[None])[0].numpy()
    ref = reference["demo_excerpt_22k/log_mel"]
    assert ours.shape[0] == 1 + len(y) // 256
    np.testing.assert_allclose(ours[:len(ref)], ref, atol=LOG_MEL_ATOL, rtol=0)


@needs_musicnn
@pytest.mark.onednn
@pytest.mark.parametrize("name", PARITY_MODELS)
def test_converted_models_reproduce_musicnn_taggrams(name, models, reference):
    model = models[name]
    ref = reference[f"demo_excerpt_22k/{name}/taggram"]
    out = model.analyze(audio.load(EXCERPT, 16000)[None])
    taggram = out["segment_tags"][0].numpy()
    assert taggram.shape == ref.shape == (4, 50)
    np.testing.assert_allclose(taggram, ref, atol=TAGGRAM_ATOL, rtol=0)
    np.testing.assert_allclose(out["tags"][0], ref.mean(0), atol=TAGGRAM_ATOL, rtol=0)
    # the network alone, on musicnn's own log-mel
    log_mel = reference["demo_excerpt_22k/log_mel"][None, :374]
    net = model.analyze({"log_mel": log_mel})["segment_tags"][0].numpy()
    np.testing.assert_allclose(net, ref[:2], atol=NETWORK_ATOL, rtol=0)


@needs_musicnn
@pytest.mark.onednn
@pytest.mark.skipif(not os.path.isdir(SHARED_AUDIO), reason="../shared/pretrained/choi2016/audio absent")
@pytest.mark.parametrize("clip", ["bensound-cute", "bensound-dubstep"])
def test_parity_on_real_mp3s(clip, models):
    """44.1 kHz MP3s: decoding and resampling to 16 kHz included."""
    ref = np.load(os.path.join(FIXTURES, "musicnn_reference_bensound.npz"))
    y = audio.load(os.path.join(SHARED_AUDIO, clip + ".mp3"), 16000)
    for name in PARITY_MODELS:
        taggram = models[name].analyze(y[None])["segment_tags"][0].numpy()
        np.testing.assert_allclose(taggram, ref[f"{clip}/{name}/taggram"], atol=TAGGRAM_ATOL, rtol=0)


#: Filters convolved at inference after folding (tolerance 1e-5 on each filter's output): read from
#: the released checkpoints, so a change here is a change of the folding rule.
FOLDED = {"MTT_musicnn": {"timbral_74": (109, 204), "timbral_77": (77, 204), "temporal_128": (35, 51),
                          "temporal_64": (34, 51), "temporal_32": (46, 51), "midend_1": (21, 64)},
          "MSD_musicnn": {"timbral_74": (23, 204), "timbral_77": (14, 204), "temporal_128": (3, 51),
                          "temporal_64": (7, 51), "temporal_32": (17, 51), "midend_1": (20, 64)},
          "MTT_vgg": {"conv1": (85, 128)}, "MSD_vgg": {"conv1": (49, 128)}}


@needs_musicnn
@pytest.mark.onednn
@pytest.mark.parametrize("name", sorted(FOLDED))
def test_folded_models_tag_music_as_the_unfolded_conversion(name, models):
    """The loaded model convolves only the live filters and tags real music as the unfolded
    conversion does, to 1e-5 over the taggram; the conversion records what it folded."""
    from tfmusictag.datasets.demo_catalog import compose

    folded = models[name] if name in models else pretrained.load_model(name)
    assert {k: tuple(v) for k, v in folded.reduction.fold().items()} == FOLDED[name]
    with open(os.path.join(pretrained.convert(name), "source.json")) as f:
        assert json.load(f)["folded"] == {k: f"{live} of {total} filters live" for k, (live, total) in FOLDED[name].items()}
    unfolded = mn.convert(name)
    assert unfolded.reduction.live is None
    tracks = [audio.load(EXCERPT, 16000)]
    for style in ("house", "jazzy"):
        t = compose.make_track(seed=31, seconds=40.0, style=style)
        tracks.append(audio.decode(compose.encode(t.audio, t.sample_rate, "flac"), "t.flac", 16000))
    if os.path.isdir(SHARED_AUDIO):
        tracks.append(audio.load(os.path.join(SHARED_AUDIO, "bensound-dubstep.mp3"), 16000))
    for y in tracks:
        a = folded.analyze(y[None])["segment_tags"][0].numpy()
        b = unfolded.analyze(y[None])["segment_tags"][0].numpy()
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


@needs_musicnn
@pytest.mark.onednn
def test_a_folded_vgg_reads_out_every_layer_as_the_unfolded_one():
    """With the 'all_layers' readout (the small-catalog recipe's), the first block's statistics of a
    folded filter are its constant; every value as the unfolded network's, to float32 rounding."""
    source = pretrained.load_model("MTT_vgg")
    layer = MusicnnVGG(readout="last_and_all_layers")
    layer.build((None, None, 187, 96))
    layer.set_weights(source.reduction.get_weights())
    segments = tf.random.stateless_uniform([2, 3, 187, 96], [1, 2], 0, 3)
    mask = tf.ones([2, 3, 187], bool)
    unfolded = layer(segments, mask)[0].numpy()
    assert layer.fold() == {"conv1": (85, 128)}
    np.testing.assert_allclose(layer(segments, mask)[0], unfolded, atol=1e-4, rtol=1e-4)


@needs_musicnn
def test_converted_model_directory_round_trip(models):
    from tfmusictag.pretrained import load_model as load_trained

    path = pretrained.convert("MTT_musicnn")
    assert sorted(os.listdir(path)) == ["model.keras", "model_config.json", "source.json", "tags.txt"]
    with open(os.path.join(path, "source.json")) as f:
        assert "0.9066" in json.load(f)["published_result"]
    again = load_trained("MTT_musicnn")
    x = tf.random.uniform((1, 16000 * 7), -0.3, 0.3)
    np.testing.assert_allclose(again(x), models["MTT_musicnn"](x), atol=1e-6)
    assert tuple(again.tags) == mn.MTT_LABELS


@needs_musicnn
@pytest.mark.slow
def test_saved_model_serves_musicnn_taggram_in_a_tensorflow_only_process(tmp_path, reference):
    from tfmusictag.serving import export_saved_model

    path = export_saved_model(pretrained.load_model("MTT_musicnn"), str(tmp_path), "mtt_musicnn")
    wave = audio.load(EXCERPT, 16000)
    np.save(tmp_path / "wave.npy", wave)
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "w = tf.constant(np.load(sys.argv[2])[None])\n"
        "out = m.signatures['timeline'](waveform=w)\n"
        "np.save(sys.argv[3], out['segment_probabilities'][0].numpy())\n"
        "d = m.signatures['decided'](waveform=w)\n"
        "np.save(sys.argv[3] + '.decided.npy', np.stack([d['probabilities'][0].numpy(), d['decided'][0].numpy()]))\n"
        "assert not [k for k in sys.modules if k.split('.')[0] == 'tfmusictag']\n")
    subprocess.run([sys.executable, "-c", script, path, str(tmp_path / "wave.npy"), str(tmp_path / "out.npy")],
                   check=True, env=ENV)
    served = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(served, reference["demo_excerpt_22k/MTT_musicnn/taggram"], atol=TAGGRAM_ATOL)
    # a pretrained model decides by the expected-F1 rule in the SavedModel too (no labels, no thresholds)
    from tfmusictag.thresholds import decide_expected_f1

    probs, decided = np.load(str(tmp_path / "out.npy") + ".decided.npy")
    assert decided.astype(bool).tolist() == decide_expected_f1(probs).tolist() and 0 < decided.sum() < 10

    # predict's way: chunks of whole 3 s patches (here 2 patches a chunk, then a tail shorter than a
    # patch, which musicnn drops), tags and taggram as the whole excerpt gives them, through the
    # SavedModel and through the converted model alike
    from tfmusictag.serving import InferenceModel

    for model in (path, "MTT_musicnn"):
        default, InferenceModel.CHUNK_FRAMES = InferenceModel.CHUNK_FRAMES, 2 * 187
        try:
            tagger = InferenceModel(model)
        finally:
            InferenceModel.CHUNK_FRAMES = default
        assert tagger.chunk_frames == 2 * 187 and tagger.chunking.late_fusion
        whole_tags, whole_tl = tagger.tag(tagger.log_mel(wave[None])[0], timeline=True)
        tags, tl, frames = tagger.tag_chunks(tagger.log_mel_chunks(lambda: [wave]), timeline=True)
        np.testing.assert_allclose(tags, whole_tags, atol=1e-5)
        mask = np.asarray(tl["segment_mask"][0])
        np.testing.assert_allclose(np.asarray(tl["segment_probabilities"][0])[mask],
                                   np.asarray(whole_tl["segment_probabilities"][0]), atol=1e-5)
        np.testing.assert_allclose(np.asarray(tl["segment_start_seconds"])[mask],
                                   np.asarray(whole_tl["segment_start_seconds"]), atol=1e-4)


@needs_musicnn
def test_predict_takes_a_pretrained_name_and_reports_a_broken_file(tmp_path, capsys):
    import io

    from tfmusictag.cli.predict import predict_files

    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"ID3" + b"\0" * 100)
    out, err = io.StringIO(), io.StringIO()
    ok, failed = predict_files([EXCERPT, str(broken)], "MTT_musicnn", out, top_k=5, timeline=True, err=err)
    assert (ok, failed) == (1, 1)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    good = next(r for r in rows if "tags" in r)
    assert len(good["tags"]) == 5 and [s["start_seconds"] for s in good["timeline"]] == [0.0, 2.99, 5.98, 8.98]
    assert "broken.mp3" in err.getvalue()


# -- transfer learning (Sec. 3.2, 4.3.4) ---------------------------------------------------------------

def test_transfer_config_adopts_the_source_input_and_reduction():
    from tfmusictag.training import transfer_config
    from tfmusictag.variants import variant_config

    source = mn.tagger_config("MTT_musicnn")
    target = transfer_config(variant_config("blackbox_cnn_bof", ["a", "b"]), source)
    assert target.front_end == "musicnn" and target.segments.segment_frames == 187
    assert target.reduction.type == "musicnn" and target.temporal.type == "bof"
    assert target.tags == ("a", "b") and target.freeze == ("cnn_low", "cnn_high")
    assert not target.classifier.input_norm  # the variant's classifier, not musicnn's back end
    with pytest.raises(ParameterError, match="the variant's reduction is 'mfcc' but the source model's is 'musicnn'"):
        transfer_config(variant_config("mfcc_bof", ["a"]), source)


@needs_musicnn
def test_several_sources_are_read_out_side_by_side():
    """``init_from='MTT_vgg,MSD_musicnn'``: the target's reduction is an ensemble of the two CNNs, each
    with its source's weights: its segment vectors are each source's own (VGG at the variant's readout)."""
    import dataclasses

    from tfmusictag.tagger import TrackTagger
    from tfmusictag.training import transfer_config, transfer_weights
    from tfmusictag.variants import variant_config

    sources = (pretrained.load_model("MTT_vgg"), pretrained.load_model("MSD_musicnn"))
    config = transfer_config(variant_config("transfer_stats", ["a", "b"]), sources)
    r = config.reduction
    assert (r.type, r.members, r.readout, config.front_end) == ("ensemble", ("vgg", "musicnn"),
                                                                "last_and_all_layers", "musicnn")
    model = TrackTagger(config)
    assert transfer_weights(sources, model) == {"reduction": len(model.reduction.weights), "temporal": 0}
    vgg_both = TrackTagger(dataclasses.replace(sources[0].tagger_config, reduction=dataclasses.replace(
        sources[0].tagger_config.reduction, readout="last_and_all_layers")))
    vgg_both.reduction.set_weights(sources[0].reduction.get_weights())
    log_mel = tf.random.stateless_uniform([1, 187 * 2 + 30, 96], [3, 9]) * 3
    y = model.reduce(log_mel)[0].numpy()
    a, b = vgg_both.reduce(log_mel)[0].numpy(), sources[1].reduce(log_mel)[0].numpy()
    # float32 sums in another order (the source is folded: its mid end sums 21 maps and a border term, not 64)
    np.testing.assert_allclose(y, np.concatenate([a, b], -1), atol=2e-4, rtol=1e-5)
    assert len(model.classifier.head_ranges) == 3  # VGG's last layer, VGG's every layer, musicnn


def test_several_sources_must_share_their_input():
    import dataclasses

    from tfmusictag.training import transfer_config
    from tfmusictag.training.transfer import source_names
    from tfmusictag.pretrained import choi2016
    from tfmusictag.variants import variant_config

    target = variant_config("transfer_stats", ["a"])
    with pytest.raises(ParameterError, match="source model 1 and source model 2 cannot be read out side by side"):
        transfer_config(target, [mn.tagger_config("MTT_vgg"), choi2016.tagger_config("choi2016_cnn")])
    with pytest.raises(ParameterError, match="several source models are joined by their CNNs"):
        transfer_config(variant_config("mfcc_bof", ["a"]), [mn.tagger_config("MTT_vgg")] * 2)
    wide = mn.tagger_config("MTT_vgg")
    wide = dataclasses.replace(wide, reduction=dataclasses.replace(wide.reduction, vgg=dataclasses.replace(
        wide.reduction.vgg, filters=64)))
    with pytest.raises(ParameterError, match="MTT_vgg and wide are both 'vgg' networks of different sizes"):
        transfer_config(target, [mn.tagger_config("MTT_vgg"), wide], ["MTT_vgg", "wide"])
    assert source_names(" MTT_vgg, MSD_musicnn ") == ["MTT_vgg", "MSD_musicnn"]
    with pytest.raises(ParameterError, match="names no source model"):
        source_names(" , ")


@needs_musicnn
def test_the_recipe_counts_one_head_per_network_and_readout():
    from tfmusictag.training.recipe import RECIPE_SOURCE, recipe_heads

    assert RECIPE_SOURCE == "MTT_vgg,MSD_musicnn"
    assert (recipe_heads(), recipe_heads("MTT_vgg"), recipe_heads("MTT_musicnn")) == (3, 2, 1)


def test_precomputed_segment_features_give_the_same_tags():
    """The input form training uses for a frozen CNN (its output, cached) is the same model."""
    from tfmusictag.tagger import TrackTagger
    from tfmusictag.training import transfer_config
    from tfmusictag.variants import variant_config

    model = TrackTagger(transfer_config(variant_config("blackbox_cnn_finetuned_lstm", ["a", "b", "c"],
                                                       {"temporal.lstm.units": 8, "classifier.hidden": 8}),
                                        mn.tagger_config("MTT_vgg")))
    log_mel = tf.random.uniform((2, 187 * 3 + 20, 96)) * 3
    n = tf.constant([187 * 3 + 20, 187 * 2])
    segments, mask = model.reduce(log_mel, n)
    direct = model({"log_mel": log_mel, "num_frames": n})
    cached = model({"segments": segments, "segment_mask": mask})
    np.testing.assert_allclose(cached, direct, atol=1e-6)


def _train(data_dir, model_dir, variant, steps, *extra):
    from tfmusictag.training import TrainConfig, train

    config = TrainConfig(dataset="demo_catalog/tiny", data_dir=data_dir, variant=variant, steps=steps, batch_size=2,
                         checkpoint_every=steps, init_from="MTT_vgg").with_overrides(dict(extra))
    return train(config, str(model_dir), progress=False)


@needs_musicnn
def test_blackbox_transfer_keeps_the_source_cnn_and_trains_the_rest(demo_tiny, tmp_path):
    from tfmusictag.pretrained import load_model as load_trained

    data_dir, _ = demo_tiny
    _train(data_dir, tmp_path / "bb", "blackbox_cnn_finetuned_lstm", 3, ("model.temporal.lstm.units", 8),
           ("model.classifier.hidden", 8))
    model, source = load_trained(str(tmp_path / "bb")), pretrained.load_model("MTT_vgg")
    assert model.tagger_config.front_end == "musicnn"
    for a, b in zip(model.reduction.weights, source.reduction.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@needs_musicnn
def test_finetuning_with_layers_1_2_frozen_changes_only_layers_3_5(demo_tiny, tmp_path):
    from tfmusictag.pretrained import load_model as load_trained

    data_dir, _ = demo_tiny
    _train(data_dir, tmp_path / "ft", "finetuned_cnn_finetuned_lstm", 2, ("model.temporal.lstm.units", 8),
           ("model.classifier.hidden", 8), ("max_seconds", 7.0), ("learning_rates.cnn_low.learning_rate", 0.0),
           ("learning_rates.cnn_high.learning_rate", 1e-3))
    model, source = load_trained(str(tmp_path / "ft")), pretrained.load_model("MTT_vgg")
    low, high = model.reduction.groups(), source.reduction.groups()
    for layer, ref in zip(low["cnn_low"], high["cnn_low"]):
        for a, b in zip(layer.trainable_weights, ref.trainable_weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    changed = [not np.array_equal(a.numpy(), b.numpy()) for layer, ref in zip(low["cnn_high"], high["cnn_high"])
               for a, b in zip(layer.trainable_weights, ref.trainable_weights)]
    assert any(changed)


@needs_musicnn
def test_a_blackbox_lstm_needs_a_source_with_an_lstm(demo_tiny, tmp_path):
    data_dir, _ = demo_tiny
    with pytest.raises(ParameterError, match="temporal weights to transfer"):
        _train(data_dir, tmp_path / "x", "blackbox_cnn_blackbox_lstm", 1)


def test_training_front_end_equals_the_direct_form_with_its_gradients():
    """conv(a·x + b) = a·conv(x) + b·conv(1): same outputs, input-norm gradients and moving
    averages as normalising the input first, without a gradient through the spectrogram."""
    from tfmusictag.reduction.musicnn_inference import TIME_PAD as _TIME_PAD

    tf.keras.utils.set_random_seed(3)  # the layer's initial weights too: the same case whatever ran before
    rng = np.random.RandomState(3)
    layer = MusicnnCNN(n_mels=24, frontend_filters=0.1, midend_filters=4)
    layer.build((None, None, 40, 24))
    _random_bn(layer, rng)
    x = tf.constant(rng.normal(1.0, 2.0, (3, 40, 24, 1)), tf.float32)
    bn = layer.input_norm
    weights = [w for l in layer.groups()["cnn_low"] for w in l.trainable_weights]
    start = [bn.moving_mean.numpy(), bn.moving_variance.numpy()]

    def direct():
        xx = bn(x, training=True)
        p = tf.pad(xx, _TIME_PAD)
        return ([tf.reduce_max(n(c(p), training=True), 2) for c, n in layer.timbral]
                + [tf.reduce_max(n(c(xx), training=True), 2) for c, n in layer.temporal])

    results = []
    for fn in (direct, lambda: layer._front_train(x)):
        bn.moving_mean.assign(start[0])
        bn.moving_variance.assign(start[1])
        with tf.GradientTape() as tape:
            out = fn()
            loss = tf.add_n([tf.reduce_sum(o * o) for o in out])
        results.append((out, tape.gradient(loss, weights), bn.moving_mean.numpy(), bn.moving_variance.numpy()))
    (o1, g1, m1, v1), (o2, g2, m2, v2) = results
    for a, b in zip(o1, o2):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-3 * float(tf.reduce_max(tf.abs(a))))
    np.testing.assert_allclose(m2, m1, rtol=1e-6)
    np.testing.assert_allclose(v2, v1, rtol=1e-5)


@pytest.mark.slow
def test_cli_lists_models_and_reports_errors_without_a_traceback(tmp_path):
    env = {**ENV, "TFMUSICTAG_HOME": str(tmp_path)}
    listed = subprocess.run([sys.executable, "-m", "tfmusictag.pretrained", "list"], env=env, capture_output=True,
                            text=True, check=True)
    assert all(name in listed.stdout for name in pretrained.names())
    bad = subprocess.run([sys.executable, "-m", "tfmusictag.pretrained", "download", "choi2016",
                          f"--from={tmp_path}"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "error:" in bad.stderr and "Traceback" not in bad.stderr


@needs_musicnn
def test_a_converted_model_from_another_conversion_version_is_converted_again(tmp_path, monkeypatch):
    weights = mn._root()
    monkeypatch.setenv("TFMUSICTAG_HOME", str(tmp_path))
    os.symlink(weights, tmp_path / "musicnn-0.1.0")
    path = pretrained.convert("MTT_vgg")
    info = os.path.join(path, "source.json")
    with open(info) as f:
        assert json.load(f)["conversion"] == pretrained.CONVERSION
    with open(info, "w") as f:
        json.dump({"conversion": pretrained.CONVERSION - 1}, f)  # as left by an older tfmusictag
    pretrained.convert("MTT_vgg")
    with open(info) as f:
        assert json.load(f)["conversion"] == pretrained.CONVERSION


@pytest.mark.slow
def test_predict_with_an_unknown_model_says_so_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tfmusictag.predict", "--model=no_such_model", EXCERPT],
                         env={**ENV, "TFMUSICTAG_HOME": str(tmp_path)},
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "'no_such_model' is not a trained model" in out.stderr and "MTT_musicnn" in out.stderr


def test_two_programs_converting_a_model_at_once_both_get_it(tmp_path):
    """The first use of a pretrained name converts it: two programs started at once (two ``predict``
    runs, two test workers) convert it once, one after the other, and both load the same model."""
    from conftest import require_musicnn_weights
    from tfmusictag.pretrained import store

    require_musicnn_weights("MTT_musicnn")
    home = tmp_path / "home"
    home.mkdir()
    for folder in ("downloads", "musicnn-0.1.0"):  # the weights, without their conversions
        os.symlink(os.path.join(store.home(), folder), home / folder)
    code = ("from tfmusictag import pretrained, rundir; p = pretrained.convert('MTT_musicnn'); "
            "print(p, len(rundir.load_model(p).tags))")
    env = dict(ENV, TFMUSICTAG_HOME=str(home))
    runs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outs = [run.communicate(timeout=600) + (run.returncode,) for run in runs]
    for out, err, returncode in outs:
        assert returncode == 0, err[-2000:]
        assert out.split() == [str(home / "pretrained" / "MTT_musicnn"), "50"]
    assert sorted(os.listdir(home / "pretrained")) == [".MTT_musicnn.lock", "MTT_musicnn"]  # nothing half-written
