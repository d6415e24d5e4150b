"""tfmusictag.tagger: the assembled model — its variable groups, one graph for any length, tagging in
chunks equal to tagging whole, cached embeddings and their views, timelines."""

import numpy as np
import pytest
import tensorflow as tf

from tfmusictag import errors
from tfmusictag.tagger import TaggerConfig, TrackTagger
from tfmusictag.variants import build_variant
from tiny_models import TAGS, signal, small


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
