"""Choi et al. (2016) MSD weights: loading the CNN (thesis Alg. 20) and the CRNN, and how close the
converted CRNN gets to the tags published upstream.

Reads ``../shared/pretrained/choi2016/`` when present (never committed); skips otherwise.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfmusictag import audio
from tfmusictag.pretrained import choi2016
from tfmusictag.reduction import ChoiCRNN


#: numerics against references: run with oneDNN on and off (``make test``)
pytestmark = pytest.mark.onednn

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "pretrained", "choi2016")
needs_shared = pytest.mark.skipif(not os.path.isdir(SHARED), reason="../shared/pretrained/choi2016 absent")

#: Upstream README (Theano backend, MusicTaggerCRNN): top-10 tags with probabilities.
PUBLISHED = {
    "bensound-cute": "jazz .444, instrumental .151, folk .103, Hip-Hop .103, ambient .077, guitar .068, rock .058, "
                     "acoustic .054, experimental .051, electronic .042",
    "bensound-actionable": "jazz .416, instrumental .181, Hip-Hop .085, folk .085, rock .081, ambient .068, "
                           "guitar .062, Progressive rock .048, experimental .046, acoustic .046",
    "bensound-dubstep": "Hip-Hop .245, rock .183, alternative .081, electronic .076, alternative rock .053, "
                        "metal .051, indie .028, instrumental .027, electronica .024, hard rock .023",
    "bensound-thejazzpiano": "jazz .299, instrumental .174, electronic .089, ambient .061, chillout .052, rock .044, "
                             "guitar .044, funk .033, chill .032, Progressive rock .029",
}


def _published(clip):
    return {t.rsplit(" ", 1)[0]: float(t.rsplit(" ", 1)[1]) for t in PUBLISHED[clip].split(", ")}


def _middle(clip):
    """Choi's own preprocessing: the middle 29.12 s of the clip at 12 kHz."""
    y = audio.load(os.path.join(SHARED, "audio", clip + ".mp3"), 12000)
    n, want = len(y), int(29.12 * 12000)
    return y[(n - want) // 2:(n + want) // 2] if n >= want else np.pad(y, (0, want - n))


def _deviation(model, clips):
    """Per clip: (mean |Δp| over the published top 10, max |Δp|, published top-10 tags in ours, top-1 equal)."""
    out = {}
    for clip, y in clips.items():
        p, ref = model(y[None]).numpy()[0], _published(clip)
        diffs = [abs(p[model.tags.index(t)] - v) for t, v in ref.items()]
        ours = [model.tags[i] for i in np.argsort(-p)[:10]]
        out[clip] = (float(np.mean(diffs)), float(np.max(diffs)), len(set(ours) & set(ref)), ours[0] == next(iter(ref)))
    return out


@pytest.fixture(scope="module")
def clips():
    return {clip: _middle(clip) for clip in PUBLISHED}


def test_crnn_layer_shapes_and_round_trip():
    layer = ChoiCRNN()
    layer.build((None, None, 1366, 96))
    x = tf.random.normal((1, 2, 1366, 96))
    y, mask = layer(x, tf.ones((1, 2, 1366), bool))
    assert y.shape == (1, 2, 32) and mask.shape == (1, 2)
    clone = ChoiCRNN.from_config(layer.get_config())
    clone.build((None, None, 1366, 96))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x, tf.ones((1, 2, 1366), bool))[0], y, atol=1e-5)


def test_download_refuses_a_folder_without_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("TFMUSICTAG_HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError, match="expected Choi's music_tagger_cnn_weights_tensorflow.h5"):
        choi2016.download(from_path=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="download choi2016"):
        choi2016.weights_file("choi2016_cnn")


@needs_shared
def test_download_from_a_local_folder_checks_and_converts(tmp_path, monkeypatch):
    from tfmusictag import pretrained

    monkeypatch.setenv("TFMUSICTAG_HOME", str(tmp_path / "home"))
    folder = pretrained.download("choi2016", SHARED)
    assert sorted(os.listdir(folder)) == sorted(choi2016.FILES)
    model = pretrained.load_model("choi2016_cnn")  # converts on first use, from the cache
    probs = model(tf.random.uniform((1, 12000 * 40), -0.2, 0.2)).numpy()
    assert probs.shape == (1, 50) and np.all((probs >= 0) & (probs <= 1))


@needs_shared
def test_cnn_weights_fit_the_thesis_cnn_and_every_layer_is_loaded():
    import h5py

    model = choi2016.convert("choi2016_cnn", os.path.join(SHARED, choi2016.MODELS["choi2016_cnn"]))
    with h5py.File(os.path.join(SHARED, choi2016.MODELS["choi2016_cnn"])) as h5:
        stored = sum(len(h5[name].attrs["weight_names"]) for name in h5.attrs["layer_names"]
                     if len(h5[name].attrs["weight_names"]))
        kernel = np.asarray(h5["conv3"]["conv3_W:0"])
    assert stored == len(model.weights)
    np.testing.assert_array_equal(model.reduction.convs[2].kernel.numpy(), np.transpose(kernel, (2, 3, 1, 0)))
    assert model.reduction.output_dim(96, 1366) == 256


@needs_shared
def test_crnn_reproduces_the_published_tags_as_closely_as_documented(clips):
    """The exact port lands within mean |Δp| ≤ 0.05 of the published probabilities (observed 0.031;
    max ≤ 0.15, observed 0.126), ≥ 8 of each clip's published top 10 among its own top 10, the same top
    tag on 3 of 4 clips. The rest is the reference's own pipeline: librosa 0.4 decoding through
    audioread and its resampler, Theano arithmetic. The alternatives do worse: flipping the kernels
    (Theano convolution) or reading ``running_std`` as a standard deviation."""
    path = os.path.join(SHARED, choi2016.MODELS["choi2016_crnn"])
    model = choi2016.convert("choi2016_crnn", path)
    dev = _deviation(model, clips)
    assert np.mean([d[0] for d in dev.values()]) <= 0.05, dev
    assert max(d[1] for d in dev.values()) <= 0.15, dev
    assert min(d[2] for d in dev.values()) >= 8, dev
    assert sum(d[3] for d in dev.values()) >= 3, dev

    flipped = _deviation(choi2016.convert("choi2016_crnn", path, flip_kernels=True), clips)
    assert np.mean([d[0] for d in flipped.values()]) > 2 * np.mean([d[0] for d in dev.values()])
    for norm in [model.reduction.input_norm] + model.reduction.norms:
        gamma, beta, mean, var = norm.get_weights()
        norm.set_weights([gamma, beta, mean, var ** 2])  # as if running_std were a standard deviation
    as_std = _deviation(model, clips)
    assert np.mean([d[0] for d in as_std.values()]) > 1.5 * np.mean([d[0] for d in dev.values()])
