"""tfmusictag.frontend and tfmusictag.reduction.frame: agreement with librosa, frame counts, PCA whitening, segments, serialisation.

Tolerances (float32 TensorFlow against librosa's float32/float64 reference, signals that stay
well above the log floor): natural-log mel |Δ| <= 1e-3, dB |Δ| <= 1e-2 dB, log10(1+C·x) |Δ| <= 1e-3,
MFCC |Δ| <= 1e-3, filter bank |Δ| <= 1e-6.
"""

import subprocess
import sys
import textwrap

import keras
import librosa
import numpy as np
import pytest
import tensorflow as tf

from tfmusictag import constants, errors
from tfmusictag.reduction import MFCC, PCAWhitening
from tfmusictag.frontend import (FRONT_ENDS, LogMelSpectrogram, SegmentFrames,
                                 hz_to_mel, mel_filterbank, mel_to_hz)


#: numerics against references: run with oneDNN on and off (``make test``)
pytestmark = pytest.mark.onednn

SR = 12000


def music_like(seconds=6.0, sr=SR, seed=0):
    """A chirp, two tones and noise: energy in every band, nothing near the log floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * (100 + 400 * t) * t) + 0.2 * np.sin(2 * np.pi * 1500 * t)
    y += 0.1 * np.sin(2 * np.pi * 4200 * t) + 0.05 * rng.normal(size=t.shape)
    return y.astype(np.float32)


@pytest.mark.parametrize("scale", ["htk", "slaney"])
def test_hz_mel_round_trip_and_librosa(scale):
    f = np.array([0.0, 100.0, 999.0, 1000.0, 1001.0, 4000.0, 6000.0, 22050.0])
    np.testing.assert_allclose(hz_to_mel(f, scale), librosa.hz_to_mel(f, htk=scale == "htk"), rtol=1e-12)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f, scale), scale), f, atol=1e-9)
    if scale == "htk":  # the thesis's Eq. 2.8
        np.testing.assert_allclose(hz_to_mel(f, "htk"), 2595 * np.log10(1 + f / 700))


@pytest.mark.parametrize("sr,n_fft,n_mels,fmin,fmax,scale,norm", [
    (12000, 512, 96, 0.0, None, "htk", None),
    (12000, 512, 96, 0.0, None, "slaney", "slaney"),
    (16000, 512, 96, 0.0, None, "slaney", "slaney"),
    (22050, 1024, 128, 30.0, 8000.0, "htk", "slaney"),
])
def test_mel_filterbank_matches_librosa(sr, n_fft, n_mels, fmin, fmax, scale, norm):
    ours = mel_filterbank(sr, n_fft, n_mels, fmin, fmax, scale, norm)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                              htk=scale == "htk", norm=norm).T
    assert ours.shape == (1 + n_fft // 2, n_mels)
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def librosa_mel(y, sr=SR, **kw):
    p = dict(n_fft=512, hop_length=256, win_length=512, window="hamming", center=True, pad_mode="constant",
             power=2.0, n_mels=96, htk=True, norm=None)
    p.update(kw)
    return librosa.feature.melspectrogram(y=y, sr=sr, **p).T


@pytest.mark.parametrize("overrides,librosa_kw", [
    ({}, {}),
    ({"center": False}, {"center": False}),
    ({"window": "hann", "mel_scale": "slaney", "mel_norm": "slaney"}, {"window": "hann", "htk": False, "norm": "slaney"}),
    ({"pad_mode": "reflect", "fmin": 50.0, "fmax": 5000.0}, {"pad_mode": "reflect", "fmin": 50.0, "fmax": 5000.0}),
    ({"frame_length": 400, "fft_length": 512}, {"win_length": 400}),
    ({"power": 1.0, "n_mels": 64}, {"power": 1.0, "n_mels": 64}),
])
def test_thesis_log_mel_matches_librosa(overrides, librosa_kw):
    y = music_like()
    ours = LogMelSpectrogram(**overrides)(y[None])[0].numpy()
    ref = np.log(np.maximum(librosa_mel(y, **librosa_kw), constants.LOG_FLOOR))
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_choi2016_front_end_matches_librosa_db_of_squared_mel():
    y = music_like()
    ours = LogMelSpectrogram("choi2016")(y[None])[0].numpy()
    mel = librosa_mel(y, window="hann", pad_mode="reflect", htk=False, norm="slaney")
    ref = librosa.power_to_db(mel ** 2, ref=1.0, amin=1e-10, top_db=80.0)
    np.testing.assert_allclose(ours, ref, atol=1e-2)


def test_musicnn_front_end_matches_librosa():
    y = music_like(sr=16000)
    ours = LogMelSpectrogram("musicnn")(y[None])[0].numpy()
    ref = np.log10(10000 * librosa_mel(y, sr=16000, window="hann", pad_mode="constant", htk=False, norm="slaney") + 1)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_mfcc_matches_librosa():
    log_mel = LogMelSpectrogram()(music_like()[None])[0].numpy()
    ours = MFCC()(log_mel[None])[0].numpy()
    ref = librosa.feature.mfcc(S=log_mel.T, n_mfcc=90, dct_type=2, norm="ortho").T
    assert ours.shape == (log_mel.shape[0], 90)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


@pytest.mark.parametrize("samples,center,frames", [(349440, True, 1366), (349440, False, 1364),
                                                   (349200, True, 1365), (12000, True, 47), (100, True, 1),
                                                   (512, False, 1), (511, False, 0)])
def test_frame_counts(samples, center, frames):
    layer = LogMelSpectrogram(center=center)
    assert layer.config.num_frames(samples) == frames
    assert layer.num_frames(tf.constant(samples)).numpy() == frames
    assert layer(np.zeros((1, samples), np.float32)).shape == (1, frames, 96)
    assert layer.compute_output_shape((1, samples)) == (1, frames, 96)


def test_silence_is_finite_and_equals_the_floor():
    out = LogMelSpectrogram()(np.zeros((2, 24000), np.float32)).numpy()
    np.testing.assert_allclose(out, np.log(constants.LOG_FLOOR), rtol=1e-6)
    assert np.isfinite(LogMelSpectrogram("choi2016")(np.zeros((1, 24000), np.float32))).all()


def test_batch_rows_are_independent():
    y = np.stack([music_like(3.0, seed=1), music_like(3.0, seed=2)])
    layer = LogMelSpectrogram("choi2016")  # top_db clipping is per example, not per batch
    both = layer(y).numpy()
    np.testing.assert_allclose(both[1], layer(y[1:])[0].numpy(), atol=1e-5)


# ---- PCA whitening -------------------------------------------------------------------------

def correlated_frames(n=4000, d=12, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) * np.linspace(3, 0.1, d)
    return (rng.normal(size=(n, d)) @ mixing.T + 5.0).astype(np.float32)


def test_pca_whitening_gives_identity_covariance():
    x = correlated_frames()
    pca = PCAWhitening(epsilon=0.0)
    pca.adapt(x)
    y = pca(x).numpy().astype(np.float64)
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.cov(y.T, bias=True), np.eye(12), atol=2e-3)


def test_pca_without_whitening_matches_numpy_eigendecomposition():
    x = correlated_frames().astype(np.float64)
    pca = PCAWhitening(n_components=5, whiten=False)
    pca.adapt(x.astype(np.float32))
    values, vectors = np.linalg.eigh(np.cov(x.T, bias=True))
    np.testing.assert_allclose(pca.eigenvalues.numpy(), values[::-1][:5], rtol=1e-4)
    y = pca(x.astype(np.float32)).numpy()
    np.testing.assert_allclose(np.var(y, axis=0), values[::-1][:5], rtol=1e-3)
    # the same subspace, whatever the signs
    np.testing.assert_allclose(np.abs(pca.components.numpy().T @ vectors[:, ::-1][:, :5]), np.eye(5), atol=1e-4)


def test_pca_adapt_streams_batches_and_ignores_masked_padding():
    x = correlated_frames(3000, 8)
    whole = PCAWhitening(n_components=4)
    whole.adapt(x)
    # three "tracks" padded to 1500 frames with garbage, masks marking the real frames
    tracks, masks = [], []
    for part in np.split(x, [1000, 2200]):
        pad = np.full((1500 - len(part), 8), 1e4, np.float32)
        tracks.append(np.concatenate([part, pad]))
        masks.append(np.arange(1500) < len(part))
    ds = tf.data.Dataset.from_tensor_slices((np.stack(tracks), np.stack(masks))).batch(2)
    streamed = PCAWhitening(n_components=4)
    streamed.adapt(ds)
    np.testing.assert_allclose(streamed.mean.numpy(), whole.mean.numpy(), atol=1e-4)
    np.testing.assert_allclose(streamed.eigenvalues.numpy(), whole.eigenvalues.numpy(), rtol=1e-4)
    np.testing.assert_allclose(streamed(x).numpy(), whole(x).numpy(), atol=1e-3)


# ---- segments ------------------------------------------------------------------------------

def test_segments_pad_tail():
    frames = np.arange(1366 * 2 + 100, dtype=np.float32)[None, :, None] * np.ones((1, 1, 3), np.float32)
    seg, mask = SegmentFrames()(frames)
    assert seg.shape == (1, 3, 1366, 3) and mask.shape == (1, 3, 1366)
    assert mask.numpy().sum() == 1366 * 2 + 100
    np.testing.assert_array_equal(seg[0, 1, :, 0].numpy(), np.arange(1366, 2732))
    np.testing.assert_array_equal(seg[0, 2, :100, 0].numpy(), np.arange(2732, 2832))
    assert (seg[0, 2, 100:].numpy() == 0).all()


def test_segments_drop_tail_but_keep_short_tracks():
    layer = SegmentFrames(tail="drop", pad_value=-23.0)
    seg, mask = layer(np.ones((1, 1366 * 2 + 100, 4), np.float32))
    assert seg.shape[1] == 2 and mask.numpy().all()
    seg, mask = layer(np.ones((1, 500, 4), np.float32))
    assert seg.shape[1] == 1 and mask.numpy().sum() == 500
    assert (seg[0, 0, 500:].numpy() == -23.0).all()


@pytest.mark.parametrize("tail", ["pad", "drop"])
def test_segments_of_a_padded_batch_equal_those_of_each_track(tail):
    rng = np.random.default_rng(0)
    lengths = [3000, 1000, 4200]
    tracks = [rng.normal(size=(n, 5)).astype(np.float32) for n in lengths]
    batch = np.zeros((3, max(lengths), 5), np.float32)
    for i, t in enumerate(tracks):
        batch[i, : len(t)] = t
    layer = SegmentFrames(segment_frames=1366, tail=tail)
    seg, mask = layer(batch, lengths=tf.constant(lengths))
    for i, t in enumerate(tracks):
        s1, m1 = layer(t[None])
        n = s1.shape[1]
        np.testing.assert_array_equal(seg[i, :n].numpy(), s1[0].numpy())
        np.testing.assert_array_equal(mask[i, :n].numpy(), m1[0].numpy())
        assert not mask[i, n:].numpy().any()
        assert layer.num_segments(len(t)) == n


def test_overlapping_segments():
    seg, mask = SegmentFrames(segment_frames=10, hop_frames=5)(np.arange(22, dtype=np.float32)[None, :, None])
    assert seg.shape == (1, 4, 10, 1)
    np.testing.assert_array_equal(seg[0, 1, :, 0].numpy(), np.arange(5, 15))


# ---- serialisation, graphs, SavedModel -----------------------------------------------------

def front_end_model(pca_data=None):
    inp = keras.Input(shape=(None,), name="waveform")
    x = LogMelSpectrogram()(inp)
    pca = PCAWhitening(n_components=10)
    if pca_data is not None:
        pca.adapt(LogMelSpectrogram()(pca_data))
    return keras.Model(inp, {"mfcc": MFCC(20)(x), "pca": pca(x)})


def test_keras_save_and_load(tmp_path):
    data = np.stack([music_like(2.0, seed=s) for s in range(3)])
    model = front_end_model(data)
    path = str(tmp_path / "front.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for k, v in model(data).items():
        np.testing.assert_allclose(loaded(data)[k].numpy(), v.numpy(), atol=1e-5)


def test_layers_run_in_tf_function_and_a_savedmodel_loaded_by_tensorflow_alone(tmp_path):
    data = np.stack([music_like(2.0, seed=s) for s in range(3)])
    model = front_end_model(data)
    seg = SegmentFrames(segment_frames=40)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def serve(waveform):
        out = model(waveform)
        segments, mask = seg(out["mfcc"])
        return {"mfcc": out["mfcc"], "pca": out["pca"], "segments": segments, "mask": tf.cast(mask, tf.int32)}

    module = tf.Module()
    module.model, module.seg, module.serve = model, seg, serve
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": serve})
    expected = {k: v.numpy() for k, v in serve(tf.constant(data[:, :20000])).items()}
    np.save(tmp_path / "input.npy", data[:, :20000])
    code = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        before = set(sys.modules)
        m = tf.saved_model.load({str(tmp_path / 'sm')!r})
        out = m.signatures["serving_default"](waveform=tf.constant(np.load({str(tmp_path / 'input.npy')!r})))
        np.savez({str(tmp_path / 'out.npz')!r}, **{{k: v.numpy() for k, v in out.items()}})
        new = [k for k in set(sys.modules) - before if k.startswith(("tfmusictag", "keras"))]
        assert not new and "tfmusictag" not in sys.modules, f"loading imported more than TensorFlow: {{new}}"
    """)
    subprocess.run([sys.executable, "-c", code], check=True, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    got = np.load(tmp_path / "out.npz")
    for k, v in expected.items():
        np.testing.assert_allclose(got[k], v, atol=1e-5)


@pytest.mark.parametrize("make,echo", [
    (lambda: LogMelSpectrogram(hop_length=0), "hop_length=0"),
    (lambda: LogMelSpectrogram(window="kaiser"), "window='kaiser'"),
    (lambda: LogMelSpectrogram(mel_scale="bark"), "mel_scale='bark'"),
    (lambda: LogMelSpectrogram(compression="cuberoot"), "compression='cuberoot'"),
    (lambda: LogMelSpectrogram(frame_length=1024), "frame_length=1024"),
    (lambda: LogMelSpectrogram(fmax=7000.0), "fmax=7000.0"),
    (lambda: LogMelSpectrogram("nonexistent"), "front_end='nonexistent'"),
    (lambda: MFCC(0), "n_mfcc=0"),
    (lambda: MFCC(100)(np.zeros((1, 5, 96), np.float32)), "n_mfcc=100"),
    (lambda: PCAWhitening(n_components=-2), "n_components=-2"),
    (lambda: SegmentFrames(tail="loop"), "tail='loop'"),
])
def test_bad_parameters_raise_parameter_error(make, echo):
    with pytest.raises(errors.ParameterError) as e:
        make()
    assert echo in str(e.value)


def test_pca_adapt_needs_data():
    with pytest.raises(errors.ParameterError, match="at least 2"):
        PCAWhitening().adapt(np.zeros((1, 4), np.float32))


def test_registered_front_ends_validate_and_bad_ones_do_not():
    import dataclasses

    for name, config in FRONT_ENDS.items():
        config.validate()
    thesis = FRONT_ENDS["thesis"]
    for bad in ({"n_mels": 0}, {"fmax": thesis.sample_rate}, {"hop_length": 0}):
        with pytest.raises(errors.ParameterError):
            dataclasses.replace(thesis, **bad).validate()


@pytest.mark.parametrize("front_end", ["thesis", "choi2016"])
@pytest.mark.parametrize("samples", [100, 256 * 7, 256 * 7 + 1, 256 * 30 + 77])
def test_chunked_stft_equals_one_stft(front_end, samples):
    y = np.stack([music_like(1.0, seed=3)[:samples], music_like(1.0, seed=4)[:samples]])
    whole = LogMelSpectrogram(front_end, chunk_frames=None)(y).numpy()
    for chunk in (1, 3, 7, 1000):
        np.testing.assert_allclose(LogMelSpectrogram(front_end, chunk_frames=chunk)(y).numpy(), whole, atol=1e-4)


def test_chunked_stft_without_centring_handles_too_short_input():
    assert LogMelSpectrogram(center=False, chunk_frames=4)(np.zeros((2, 300), np.float32)).shape == (2, 0, 96)
    assert LogMelSpectrogram(chunk_frames=4)(np.zeros((300,), np.float32)).shape == (2, 96)


@pytest.mark.parametrize("front_end", ["thesis", "musicnn"])
@pytest.mark.parametrize("seconds,block,chunk", [(0.01, 1000, 7), (3.0, 777, 5), (7.3, 5000, 64), (7.3, 100000, 16)])
def test_log_mel_in_chunks_equals_one_call(front_end, seconds, block, chunk):
    from tfmusictag.frontend import iter_log_mel

    layer = LogMelSpectrogram(front_end)
    sr = layer.config.sample_rate
    y = music_like(seconds, sr=sr, seed=9)
    blocks = [y[i:i + block] for i in range(0, len(y), block)]
    whole = layer(y[None])[0].numpy()
    chunks = list(iter_log_mel(blocks, lambda w: layer(w), front_end, chunk_frames=chunk))
    assert all(len(c) == chunk for c in chunks[:-1]) and 0 < len(chunks[-1]) <= chunk
    streamed = np.concatenate(chunks)
    assert streamed.shape == whole.shape == (layer.num_frames(len(y)), layer.config.n_mels)
    np.testing.assert_allclose(streamed, whole, atol=2e-4)


def test_log_mel_in_chunks_refuses_top_db():
    from tfmusictag.frontend import iter_log_mel

    with pytest.raises(errors.ParameterError, match="top_db"):
        next(iter_log_mel([np.zeros(100, np.float32)], lambda w: w, "choi2016"))
