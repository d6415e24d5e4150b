"""Models: every stage and every variant — shapes, masking, serialisation, k-means, training."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmusictag import errors
from tfmusictag.classifier import TwoLayerPerceptron
from tfmusictag.reduction import ChoiCNN, EnsembleReduction, FrameReduction, MusicnnCNN, MusicnnVGG
from tfmusictag.frontend import LogMelSpectrogram, SegmentFrames
from tfmusictag.reduction import MFCC, PCAWhitening
from tfmusictag.tagger import TaggerConfig, TrackTagger
from tfmusictag.temporal import BagOfFrames, HierarchicalLSTM, LSTMStack, Pooling, StatsPooling
from tfmusictag.variants import THESIS_VARIANTS, VARIANTS, build_variant, variant_config

SR = 12000
TAGS = ("piano", "drums", "strings")
# Small sizes so that every variant trains in seconds on 2 cores.
SMALL = {"temporal.bof.num_clusters": 4, "temporal.bof.epochs": 2, "temporal.lstm.units": 6,
         "classifier.hidden": 8, "reduction.mfcc.n_mfcc": 13, "reduction.pca.n_components": 6,
         "reduction.cnn.filters": [4, 6, 6, 8, 8]}
ALL = VARIANTS.names()


def small(name):
    """SMALL for variant ``name`` (per-readout heads are linear: no hidden layer)."""
    return {**SMALL, "classifier.hidden": 0} if VARIANTS.get(name)().classifier.heads != "one" else SMALL


def signal(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(100, 1000)
    return (0.3 * np.sin(2 * np.pi * f0 * t) + 0.05 * rng.normal(size=t.shape)).astype(np.float32)


def fit_unsupervised(model, waveforms):
    """Fit the PCA / k-means parts of a model on the given tracks, as training does first
    (:meth:`TrackTagger.fit_unsupervised`, through the stage contract)."""
    log_mel, n = model._features(tf.constant(waveforms))
    labels = tf.zeros([len(waveforms), len(model.tags)])
    model.fit_unsupervised(tf.data.Dataset.from_tensors(({"log_mel": log_mel, "num_frames": n}, labels)))


@pytest.fixture(scope="module")
def models():
    out = {}
    for name in ALL:
        m = build_variant(name, TAGS, small(name))
        fit_unsupervised(m, np.stack([signal(40, 1), signal(40, 2)]))
        out[name] = m
    return out


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


#: Every serializable layer of the package: the front end's (features), then the model stages'.
LAYERS = [
    lambda: LogMelSpectrogram(),
    lambda: LogMelSpectrogram("choi2016", fmax=5000.0),
    lambda: LogMelSpectrogram("musicnn"),
    lambda: MFCC(20),
    lambda: PCAWhitening(n_components=3, whiten=False, epsilon=1e-3),
    lambda: SegmentFrames(segment_frames=100, hop_frames=50, tail="drop", pad_value=-1.5),
    lambda: ChoiCNN(filters=(4, 4, 4, 4, 4), input_norm_axis="time", dropout=0.1),
    lambda: FrameReduction(MFCC(13)),
    lambda: FrameReduction(None),
    lambda: BagOfFrames(16, epochs=3, batch_size=100, seed=4),
    lambda: Pooling("max"),
    lambda: LSTMStack(5, 0.2, 3),
    lambda: HierarchicalLSTM(7, 0.1),
    lambda: TwoLayerPerceptron(4, 9, 0.5),
    lambda: TwoLayerPerceptron(4, 0, standardize=True, l2=0.01),
    lambda: ChoiCNN(filters=(4, 4, 4, 4, 4), readout="all_layers"),
    lambda: MusicnnVGG(8, readout="all_layers"),
    lambda: StatsPooling(),
    lambda: StatsPooling(("mean", "std", "max")),
    lambda: LSTMStack(5, 0.2, 2, standardize=True),
    lambda: HierarchicalLSTM(7, 0.1, standardize=True),
    lambda: EnsembleReduction([MusicnnVGG(4, readout="last_and_all_layers"), MusicnnCNN(96, 0.1, 4)]),
]


@pytest.mark.parametrize("make", LAYERS)
def test_layer_config_round_trip(make):
    """Config → JSON → layer gives the same config, directly and through Keras's registry."""
    layer = make()
    config = layer.get_config()
    json.dumps(config)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is type(layer) and revived.get_config() == config


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


def test_frozen_groups_and_variable_partition(models):
    m = models["blackbox_cnn_blackbox_lstm"]
    groups = m.group_variables()
    assert groups["cnn_low"] == groups["cnn_high"] == groups["temporal"] == []
    assert len(groups["classifier"]) == 4
    full = models["finetuned_cnn_finetuned_lstm"].group_variables()
    assert len(full["cnn_low"]) == 10  # gamma+beta of bn_0_freq, bn1, bn2; kernel+bias of conv1, conv2
    flat = [id(v) for vs in full.values() for v in vs]
    assert len(flat) == len(set(flat)) == len(models["finetuned_cnn_finetuned_lstm"].trainable_weights)


def test_no_retracing_over_track_length(models):
    model = models["finetuned_cnn_finetuned_lstm"]
    fn = tf.function(model.call, input_signature=[tf.TensorSpec([None, None], tf.float32)])
    for seconds in (5.0, 70.0, 130.0):  # 1, 3 and 5 segments: one graph, no loop unrolled in Python
        fn(signal(seconds)[None])
    assert fn.experimental_get_tracing_count() == 1


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


@pytest.mark.parametrize("variant,overrides", [
    ("mfcc_bof", {"temporal.bof.num_clusters": 8, "classifier.hidden": 8}),
    ("cnn_mean", {"reduction.cnn.filters": [2, 2, 2, 2, 4], "classifier.hidden": 8}),
    ("cnn_max", {"reduction.cnn.filters": [2, 2, 2, 2, 4], "classifier.hidden": 8}),
    ("mfcc_finetuned_lstm", {"temporal.lstm.units": 4, "classifier.hidden": 8}),
    ("transfer_stats", {"reduction.cnn.filters": [2, 2, 2, 2, 4]}),
    ("transfer_stats", {"reduction.cnn.filters": [2, 2, 2, 2, 4], "temporal.type": "mean_std"}),
])
def test_tagging_in_chunks_of_whole_segments_equals_tagging_the_whole_track(variant, overrides):
    """A track of any length is tagged chunk by chunk (bounded memory): the chunks' partials combine
    to exactly the whole track's tags — or, for a sequence model, the model says it cannot."""
    from tfmusictag.tagger import combine_partials

    model = build_variant(variant, ("a", "b", "c"), overrides)
    if variant == "mfcc_bof":
        model.temporal.adapt(tf.random.stateless_normal([4000, 90], [3, 4]))
    frames = 3 * 1366 + 500  # three whole segments and a padded tail
    log_mel = tf.random.stateless_normal([1, frames, 96], [5, 6]) - 5.0
    whole = model({"log_mel": log_mel}).numpy()[0]
    if model.chunk_combine is None:
        assert variant == "mfcc_finetuned_lstm"
        return
    chunks = [log_mel[:, i:i + 2 * 1366] for i in range(0, frames, 2 * 1366)]
    partials = [{k: v.numpy()[0] for k, v in model.partial({"log_mel": c}).items()} for c in chunks]
    embedding, tags = combine_partials(partials, model.chunk_combine, model.temporal.late_fusion)
    tags = model.tags_from_embedding(embedding[None]).numpy()[0] if tags is None else tags
    np.testing.assert_allclose(tags, whole, atol=1e-5)
    np.testing.assert_allclose(sum(p["weight"] for p in partials),
                               frames if model.reduction.level == "frame" else 4)


def test_a_db_front_end_with_top_db_is_tagged_in_chunks_exactly(tmp_path):
    """Choi's front end clips every track to 80 dB below *its* loudest frame: predict finds that
    peak in a first pass and computes clipped chunks in a second — the whole track's values,
    here with the loudest passage in the last chunk."""
    from tfmusictag.rundir import write_model_dir
    from tfmusictag.serving import InferenceModel
    from tfmusictag.tagger import SegmentConfig
    from tfmusictag.reduction import ReductionConfig
    from tfmusictag.temporal import TemporalConfig

    config = TaggerConfig(tags=("a", "b"), front_end="choi2016", segments=SegmentConfig(1366, None, "drop"),
                          reduction=ReductionConfig(type="mfcc"), temporal=TemporalConfig(type="mean"))
    path = write_model_dir(TrackTagger(config), str(tmp_path / "m"))
    t = np.arange(12000 * 100) / 12000
    wave = (1e-4 * np.sin(2 * np.pi * 440 * t) * (1 + 999 * (t > 90))).astype(np.float32)  # loud at the end
    default, InferenceModel.CHUNK_FRAMES = InferenceModel.CHUNK_FRAMES, 1366
    try:
        tagger = InferenceModel(path)
    finally:
        InferenceModel.CHUNK_FRAMES = default
    assert tagger.chunk_frames == 1366 and tagger.streamable()
    whole, _ = tagger.tag(tagger.log_mel(wave[None])[0])
    blocks = lambda: [wave[i:i + 100000] for i in range(0, len(wave), 100000)]  # noqa: E731
    chunks = list(tagger.log_mel_chunks(blocks))
    np.testing.assert_allclose(np.concatenate(chunks), tagger.log_mel(wave[None])[0], atol=1e-3)
    tags, _, frames = tagger.tag_chunks(iter(chunks))
    assert frames == sum(len(c) for c in chunks)
    np.testing.assert_allclose(tags, whole, atol=1e-5)


# -- the small-catalog recipe's parts (transfer_stats) --------------------------------------------


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


def test_a_cached_track_embedding_is_the_same_model():
    """Training the recipe caches one embedding per track (frozen CNN, weightless mean + std): the
    model on that embedding is the model on the log-mel, every head included; a model that pools
    tags or has temporal weights caches segment vectors instead."""
    from tfmusictag.training.trainer import frozen_embedding, frozen_outputs

    model = build_variant("transfer_stats", TAGS, small("transfer_stats"))
    x = {"log_mel": tf.random.stateless_normal([2, 1500, 96], [4, 4]), "num_frames": tf.constant([1500, 900])}
    cached = frozen_outputs(model, x)
    assert frozen_embedding(model) and list(cached) == ["embedding"]
    np.testing.assert_allclose(cached["embedding"], model.analyze(x)["embedding"], atol=1e-6)
    np.testing.assert_allclose(model(cached), model(x), atol=1e-6)
    np.testing.assert_allclose(model.head_probabilities(cached), model.head_probabilities(x), atol=1e-6)
    for name in ("blackbox_cnn_bof", "blackbox_cnn_blackbox_lstm"):
        other = build_variant(name, TAGS, small(name))
        assert not frozen_embedding(other) and "segments" in frozen_outputs(other, x)
    late = build_variant("cnn_mean", TAGS, {**small("cnn_mean"), "temporal.type": "tag_mean"})
    with pytest.raises(errors.ParameterError, match="'embedding' inputs need a temporal stage that pools features"):
        late({"embedding": tf.zeros([1, 4])})


def test_embedding_views_are_the_statistics_of_random_halves_of_a_track():
    """The recipe's extra training examples (``embedding_views``): per track its own embedding, then
    views that each pool a random half of its valid segments — drawn from the seed and the track id,
    so the same in every run, and never a padded segment."""
    from tfmusictag.training.trainer import random_halves, segment_features

    mask = tf.constant([[True] * 7 + [False] * 3])
    halves = random_halves(mask, 6, tf.constant([0, 5], tf.int64)).numpy()
    assert halves.shape == (6, 10) and (halves.sum(1) == 4).all() and not halves[:, 7:].any()
    assert len({tuple(h) for h in halves}) > 1
    # the draw depends on the seed and the track: another seed or track id draws other halves
    assert not np.array_equal(halves, random_halves(mask, 6, tf.constant([1, 5], tf.int64)).numpy())
    assert not np.array_equal(halves, random_halves(mask, 6, tf.constant([0, 6], tf.int64)).numpy())
    assert (random_halves(tf.constant([[True, False]]), 3, tf.constant([1, 1], tf.int64)).numpy().sum(1) == 1).all()
    assert (random_halves(tf.constant([[True, True, True]]), 2, tf.constant([1, 1], tf.int64)).numpy().sum(1) == 2).all()

    model = build_variant("transfer_stats", TAGS, small("transfer_stats"))
    tracks = tf.data.Dataset.from_tensor_slices(
        ({"log_mel": tf.random.stateless_normal([2, 8200, 96], [4, 4]), "num_frames": tf.constant([8200, 5000]),
          "track_id": tf.constant(["a.wav", "b.wav"])}, tf.constant([[1.0, 0.0], [0.0, 1.0]])))
    plain = list(segment_features(model, tracks).as_numpy_iterator())
    views = list(segment_features(model, tracks, views=3, seed=7).as_numpy_iterator())
    assert len(plain) == 2 and len(views) == 8
    for t in range(2):
        group = views[4 * t:4 * t + 4]
        np.testing.assert_allclose(group[0][0]["embedding"], plain[t][0]["embedding"], atol=1e-5)
        for x, y in group:
            np.testing.assert_array_equal(y, plain[t][1])
        v, m = model.reduce(tracks.skip(t).take(1).get_single_element()[0]["log_mel"][None],
                            [8200, 5000][t:t + 1])
        assert int(tf.reduce_sum(tf.cast(m, tf.int32))) == [7, 4][t]  # segments of 1366 frames, the last partial
        track = tf.strings.to_hash_bucket_fast(["a.wav", "b.wav"][t], 2 ** 31 - 1)
        halves = random_halves(m, 3, tf.stack([tf.constant(7, tf.int64), track]))
        expected = model.temporal(tf.repeat(v, 3, 0), halves)
        np.testing.assert_allclose(np.stack([x["embedding"] for x, _ in group[1:]]), expected, atol=1e-5)
        assert not np.allclose(group[1][0]["embedding"], group[0][0]["embedding"], atol=1e-3)
    other_seed = list(segment_features(model, tracks, views=3, seed=8).as_numpy_iterator())
    np.testing.assert_allclose(other_seed[0][0]["embedding"], views[0][0]["embedding"], atol=1e-5)  # the track itself
    assert not np.allclose(np.stack([x["embedding"] for x, _ in other_seed[1:4]]),
                           np.stack([x["embedding"] for x, _ in views[1:4]]), atol=1e-4)
    # a model that caches segment vectors (BoF) ignores views: it has no embedding to draw them from
    other = build_variant("blackbox_cnn_bof", TAGS, small("blackbox_cnn_bof"))
    assert len(list(segment_features(other, tracks, views=3).as_numpy_iterator())) == 2


def test_a_timeline_of_overlapping_segments_has_the_same_times_in_keras_and_the_savedmodel(tmp_path):
    """Segments 1366 frames long starting every 683 frames: the timeline's start times are
    ``s·683`` frames on the Keras path (a run directory) and from the exported SavedModel alike."""
    from tfmusictag.rundir import write_model_dir
    from tfmusictag.serving import InferenceModel, export_saved_model
    from tfmusictag.tagger import SegmentConfig
    from tfmusictag.reduction import ReductionConfig
    from tfmusictag.temporal import TemporalConfig

    config = TaggerConfig(tags=("a", "b"), segments=SegmentConfig(1366, 683, "pad"),
                          reduction=ReductionConfig(type="mfcc"), temporal=TemporalConfig(type="mean"))
    model = TrackTagger(config)
    run = write_model_dir(model, str(tmp_path / "m"))
    saved = export_saved_model(model, str(tmp_path / "saved"), "overlap")
    wave = np.random.default_rng(0).normal(scale=0.1, size=12000 * 70).astype(np.float32)
    hop_seconds = 683 * model.front_end_config.hop_length / model.sample_rate
    starts = {}
    for name, path in (("keras", run), ("savedmodel", saved)):
        tagger = InferenceModel(path)
        _, timeline = tagger.tag(tagger.log_mel(wave[None])[0], timeline=True)
        starts[name] = np.asarray(timeline["segment_start_seconds"])
    assert len(starts["keras"]) >= 4
    np.testing.assert_allclose(starts["keras"], np.arange(len(starts["keras"])) * hop_seconds, rtol=1e-6)
    np.testing.assert_allclose(starts["savedmodel"], starts["keras"], rtol=1e-6)
