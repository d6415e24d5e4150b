"""tfmusictag.variants: every variant of the thesis's tables built, shaped, masked, saved, configured
and trained a few steps."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmusictag import errors
from tfmusictag.tagger import TaggerConfig, TrackTagger
from tfmusictag.temporal import BagOfFrames
from tfmusictag.variants import THESIS_VARIANTS, build_variant, variant_config
from tiny_models import ALL, SMALL, SR, TAGS, fit_unsupervised, signal, small


def test_thesis_defaults():
    cfg = variant_config("finetuned_cnn_finetuned_lstm", TAGS)
    assert cfg.temporal.lstm.units == 1024 and cfg.temporal.lstm.dropout == 0.3
    assert cfg.classifier.hidden == 1024 and variant_config("mfcc_bof", TAGS).temporal.bof.num_clusters == 1024
    assert cfg.reduction.cnn.filters == (32, 128, 128, 192, 256)
    assert len(THESIS_VARIANTS) == 7 and set(THESIS_VARIANTS) <= set(ALL)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("seconds,segments", [(1.0, 1), (29.12, 1), (600.0, 21)])
def test_shapes(models, name, seconds, segments):
    model = models[name]
    fn = tf.function(model.analyze, reduce_retracing=True)
    out = fn(signal(seconds)[None])
    assert out["tags"].shape == (1, 3)
    assert out["segment_tags"].shape == (1, segments, 3)
    assert out["segment_mask"].shape == (1, segments) and bool(tf.reduce_all(out["segment_mask"]))
    probs = out["tags"].numpy()
    assert ((probs >= 0) & (probs <= 1)).all()
    dim = {"bof": 4, "lstm": 6, "hierarchical_lstm": 6, "mean": 8, "max": 8,
           "mean_std": 2, "mean_std_max": 3}[model.tagger_config.temporal.type]
    if model.tagger_config.temporal.type.startswith("mean_std"):
        dim *= model.reduction.output_dim(model.front_end.config.n_mels, model.segmenter.segment_frames)
    assert out["embedding"].shape == (1, dim)


@pytest.mark.parametrize("name", ALL)
def test_padding_never_changes_the_output(models, name):
    model = models[name]
    lengths = [int(SR * 40), int(SR * 12.5), int(SR * 31)]
    tracks = [signal(n / SR, seed=i + 5) for i, n in enumerate(lengths)]
    batch = np.zeros((3, max(lengths)), np.float32)
    for i, t in enumerate(tracks):
        batch[i, : len(t)] = t
    analyze = tf.function(model.analyze, reduce_retracing=True)
    together = analyze({"waveform": batch, "length": np.array(lengths)})
    for i, t in enumerate(tracks):
        alone = analyze(t[None])
        np.testing.assert_allclose(together["tags"][i].numpy(), alone["tags"][0].numpy(), atol=1e-5)
        np.testing.assert_allclose(together["embedding"][i].numpy(), alone["embedding"][0].numpy(), atol=1e-5,
                                   rtol=1e-4)  # float32 rounding of embeddings of size ~10 (mean + std)
        s = alone["segment_tags"].shape[1]
        np.testing.assert_allclose(together["segment_tags"][i, :s].numpy(), alone["segment_tags"][0].numpy(),
                                   atol=1e-5)
        assert not together["segment_mask"][i, s:].numpy().any()


@pytest.mark.parametrize("name", ALL)
def test_log_mel_input_equals_waveform_input(models, name):
    model = models[name]
    y = signal(31.0, 3)[None]
    log_mel = model.front_end(y)
    run = tf.function(model.call, reduce_retracing=True)
    np.testing.assert_allclose(run({"log_mel": log_mel}).numpy(), run(y).numpy(), atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_keras_save_load_round_trip(models, name, tmp_path):
    model = models[name]
    y = signal(35.0, 4)[None]
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, TrackTagger) and loaded.tags == TAGS
    assert loaded.tagger_config == model.tagger_config
    np.testing.assert_allclose(tf.function(loaded.call)(y).numpy(), tf.function(model.call)(y).numpy(), atol=1e-6)


def test_config_json_round_trip():
    for name in ALL:
        cfg = variant_config(name, TAGS, small(name))
        assert TaggerConfig.from_dict(__import__("json").loads(cfg.to_json())) == cfg


def test_bad_parameters():
    with pytest.raises(errors.ParameterError, match="temporal='hierarchical_lstm'"):
        build_variant("cnn_mean", TAGS, {"temporal.type": "hierarchical_lstm"})
    with pytest.raises(errors.ParameterError, match="variant='cnn_lstm'"):
        build_variant("cnn_lstm", TAGS)
    with pytest.raises(errors.ParameterError, match="freeze"):
        variant_config("mfcc_bof", TAGS, {"freeze": ["lstm"]})
    with pytest.raises(errors.ParameterError, match="unknown config field 'temporl'"):
        variant_config("mfcc_bof", TAGS, {"temporl.type": "bof"})
    with pytest.raises(errors.ParameterError, match="num_clusters=8"):
        BagOfFrames(8).adapt(np.zeros((5, 2), np.float32))
    with pytest.raises(errors.ParameterError, match="tags must be unique"):
        variant_config("mfcc_bof", ["a", "a"])


@pytest.mark.parametrize("name", ALL)
def test_a_few_training_steps_reduce_the_loss(name):
    keras.utils.set_random_seed(0)
    model = build_variant(name, TAGS, small(name))
    rng = np.random.default_rng(0)
    x = np.stack([signal(6.0, seed=s) for s in range(6)])
    y = rng.integers(0, 2, size=(6, 3)).astype(np.float32)
    fit_unsupervised(model, x)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=6, epochs=15, verbose=0, shuffle=False)
    after = model.evaluate(x, y, verbose=0)
    assert after < before - 0.02, (before, after)


def test_lstm_variants_fit_their_input_standardisation_before_training():
    model = build_variant("mfcc_finetuned_lstm", TAGS, SMALL)
    assert model.tagger_config.temporal.lstm.standardize and model.needs_fitting()
    fit_unsupervised(model, np.stack([signal(40, 1), signal(40, 2)]))
    assert not model.needs_fitting()
    assert float(tf.reduce_max(tf.abs(model.temporal.mean))) > 1.0  # MFCCs are far from zero-mean


def test_a_model_config_saved_before_lstm_standardisation_loads_as_it_was():
    """Runs and exports made before ``temporal.lstm.standardize`` existed have no such key: they keep
    an LSTM without standardisation (and its weights), while every variant built now has it."""
    saved = variant_config("mfcc_finetuned_lstm", TAGS, SMALL).to_dict()
    del saved["temporal"]["lstm"]["standardize"]
    old = TrackTagger(TaggerConfig.from_dict(saved))
    assert not old.temporal.standardize and not any("mean" in w.path for w in old.temporal.weights)
    assert build_variant("mfcc_finetuned_lstm", TAGS, SMALL).temporal.standardize
