"""tfmusictag.stages: every reduction and temporal stage of every variant keeps the stage contract,
and every layer of the package serializes."""

import json

import keras
import pytest

import numpy as np
import tensorflow as tf

from tfmusictag.classifier import TagClassifier
from tfmusictag.frontend import LogMelSpectrogram, SegmentFrames
from tfmusictag.reduction import (MFCC, REDUCTIONS, ChoiCNN, EnsembleReduction, FrameReduction, MusicnnCNN,
                                  MusicnnVGG, PCAWhitening)
from tfmusictag.stages import LEVELS, ReductionStage, TemporalStage
from tfmusictag.temporal import (CHUNK_COMBINES, TEMPORALS, BagOfFrames, HierarchicalLSTM, LSTMStack, Pooling,
                                 StatsPooling)
from tfmusictag.variants import VARIANTS, build_variant
from tiny_models import ALL, TAGS, signal, small


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
    lambda: TagClassifier(4, 9, 0.5),
    lambda: TagClassifier(4, 0, standardize=True, l2=0.01),
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


#: Reductions no variant uses by default (the pretrained and transfer-learning networks), tiny,
#: on a segment-level variant.
OTHER_REDUCTIONS = {
    "musicnn": {"front_end": "musicnn", "segments.segment_frames": 187, "reduction.type": "musicnn",
                "reduction.musicnn.frontend_filters": 0.1, "reduction.musicnn.midend_filters": 4},
    "vgg": {"front_end": "musicnn", "segments.segment_frames": 187, "reduction.type": "vgg", "reduction.vgg.filters": 4},
    "crnn": {"reduction.type": "crnn", "reduction.readout": "last", "classifier.heads": "one",
             "reduction.crnn.filters": [4, 4, 4, 4], "reduction.crnn.gru_units": [4, 4]},
    "ensemble": {"front_end": "musicnn", "segments.segment_frames": 187, "reduction.type": "ensemble",
                 "reduction.members": ["vgg", "musicnn"], "reduction.vgg.filters": 4,
                 "reduction.musicnn.frontend_filters": 0.1, "reduction.musicnn.midend_filters": 4},
}


#: Temporal stages no variant uses by default, on the CNN + mean pooling baseline.
OTHER_TEMPORALS = ("mean_std", "tag_mean")


@pytest.mark.parametrize("name", ALL)
def test_every_variants_stages_keep_the_stage_contract(models, name):
    _check_contract(models[name])


@pytest.mark.parametrize("reduction", sorted(OTHER_REDUCTIONS))
def test_the_other_reductions_keep_the_stage_contract(reduction):
    _check_contract(build_variant("transfer_stats", TAGS, {**small("transfer_stats"), **OTHER_REDUCTIONS[reduction]}))


@pytest.mark.parametrize("temporal", OTHER_TEMPORALS)
def test_the_other_temporal_stages_keep_the_stage_contract(temporal):
    _check_contract(build_variant("cnn_mean", TAGS, {**small("cnn_mean"), "temporal.type": temporal}))


def _check_contract(model):
    """What training and tagging rely on, for a model's stages, called as the model calls
    them: a reduction gives ``output_dim`` features per frame or per segment (its ``level``) with a
    mask of the same leading shape, made of its ``feature_groups``; the temporal stage accepts that
    level and gives ``compute_output_shape``'s one vector per track (the tags' shape when it fuses
    tags); a stage that still needs fitting says so only until ``adapt``; ``groups`` are sub-layers."""
    reduction, temporal = model.reduction, model.temporal
    assert isinstance(reduction, ReductionStage) and isinstance(temporal, TemporalStage)
    assert reduction.level in LEVELS and set(temporal.accepts) <= set(LEVELS) and reduction.level in temporal.accepts
    assert not reduction.needs_fitting() and not temporal.needs_fitting()  # fitted by the fixture
    assert temporal.chunk_combine is None or temporal.chunk_combine in CHUNK_COMBINES
    for layers in reduction.groups().values():
        assert all(isinstance(layer, keras.layers.Layer) for layer in layers)

    long, short = signal(40, 3), signal(20, 4)  # two tracks of different lengths in one batch
    waveform = np.stack([long, np.pad(short, (0, len(long) - len(short)))])
    log_mel, n = model._features({"waveform": waveform, "length": [len(long), len(short)]})
    segments, frame_mask = model.segmenter(log_mel, n)
    n_frames, n_mels = model.segmenter.segment_frames, model.front_end.config.n_mels
    y, mask = reduction(segments, frame_mask, training=False)
    dim = reduction.output_dim(n_mels, n_frames)
    assert y.shape[-1] == dim == sum(reduction.feature_groups(n_mels, n_frames))
    lead = segments.shape[:2] if reduction.level == "segment" else frame_mask.shape
    assert tuple(y.shape[:-1]) == tuple(mask.shape) == tuple(lead)
    assert mask.dtype == tf.bool and bool(tf.reduce_all(tf.reduce_any(tf.reshape(mask, [2, -1]), axis=1)))
    if temporal.late_fusion:
        tags = tf.random.uniform(tuple(mask.shape[:2]) + (len(model.tags),))
        assert temporal.pool_tags(tags, mask).shape == (2, len(model.tags))
    else:
        f = temporal(y, mask, training=False)
        assert tuple(f.shape) == (2, temporal.compute_output_shape(tuple(y.shape))[-1])
        assert np.isfinite(f.numpy()).all()


def test_every_registered_stage_is_covered():
    """The contract tests above cover every registered stage."""
    configs = [VARIANTS.get(name)() for name in ALL]
    covered = {c.reduction.type for c in configs} | set(OTHER_REDUCTIONS)
    assert set(REDUCTIONS) - covered <= {"identity"}  # 'identity': cached features (test_training)
    assert set(TEMPORALS) == {c.temporal.type for c in configs} | set(OTHER_TEMPORALS)
