"""Run directories (:mod:`tfmusictag.rundir`): the files of a run, written whole or not at all, and
models read back exactly as they were saved."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfmusictag import errors
from tfmusictag.rundir import RunDir, atomic_write, load_model, write_model_dir
from tfmusictag.tagger import TrackTagger
from tfmusictag.variants import build_variant, variant_config

TAGS = ("piano", "drums", "strings")


def _tiny_ensemble_config(**kw):
    return variant_config("transfer_stats", TAGS, {
        "front_end": "musicnn", "segments.segment_frames": 187, "reduction.type": "ensemble",
        "reduction.members": ["vgg", "musicnn"], "reduction.vgg.filters": 4, "reduction.musicnn.frontend_filters": 0.1,
        "reduction.musicnn.midend_filters": 4, **kw})


def _inputs(seconds=7.0, sample_rate=16000):
    wave = tf.random.stateless_normal([1, int(seconds * sample_rate)], [3, 4]) * 0.1
    return wave


def test_a_model_directory_loads_as_the_model_that_was_written(tmp_path):
    """:func:`write_model_dir` then :func:`load_model` (the folder, or its ``.keras`` file): the same
    config, tags and outputs; a model directory is a model but not a training run."""
    model = TrackTagger(_tiny_ensemble_config())
    for v in model.weights:  # weights unlike the initial ones, batch-norm variances positive
        if "moving_variance" in v.path:
            v.assign(tf.random.stateless_uniform(v.shape, [5, len(v.path)], 0.5, 1.5))
        elif "float" in str(v.dtype):
            v.assign(tf.random.stateless_normal(v.shape, [5, len(v.path)]) * 0.1)
    wave = _inputs()
    expected = model(wave).numpy()
    assert np.isfinite(expected).all() and expected.std() > 0
    target = write_model_dir(model, str(tmp_path / "m"), source={"from": "a test"})
    run = RunDir(target)
    assert run.is_model() and not run.has_run()
    assert run.read_model_config() == model.tagger_config and run.read_source() == {"from": "a test"}
    assert open(run.file("tags.txt")).read().split() == list(TAGS)
    for loaded in (load_model(target), load_model(run.file("model.keras"))):
        np.testing.assert_allclose(loaded(wave).numpy(), expected, atol=1e-5)
    assert sorted(os.listdir(tmp_path)) == ["m"]  # no temporary folder left beside it


def test_a_model_directory_is_replaced_whole(tmp_path):
    target = str(tmp_path / "m")
    first = build_variant("mfcc_bof", TAGS, {"temporal.bof.num_clusters": 4})
    write_model_dir(first, target)
    second = build_variant("mfcc_bof", ("a", "b"), {"temporal.bof.num_clusters": 4})
    write_model_dir(second, target)
    assert list(load_model(target).tags) == ["a", "b"] and sorted(os.listdir(tmp_path)) == ["m"]


def test_what_is_not_a_model_or_not_a_run_is_one_line(tmp_path):
    with pytest.raises(errors.ParameterError, match=r"is not a trained model: expected a model directory or a \.keras"):
        load_model(str(tmp_path / "missing"))
    run = RunDir(str(tmp_path / "run"))
    with pytest.raises(errors.ParameterError, match=r"run holds no training run \(train_config.json\)$"):
        run.read_train_config()
    with pytest.raises(errors.ParameterError, match=r"run holds no model \(model_config.json\)$"):
        run.read_model_config()
    os.makedirs(run.path)
    open(run.file("metrics.json"), "w").write("{not json")
    with pytest.raises(errors.ParameterError, match=r"metrics.json is not valid JSON: "):
        run.read_metrics()
    with pytest.raises(errors.ParameterError, match="holds neither model.keras nor model_config.json"):
        run.load_model()
    with pytest.raises(errors.ParameterError, match="has no decision_data.npz: the run ended before its decisions"):
        run.read_decision_data()
    assert run.read_best() == {} and run.read_eval_report("test") is None and not run.is_model()


def test_atomic_write_leaves_the_old_file_or_the_new_one(tmp_path, monkeypatch):
    path = str(tmp_path / "metrics.json")
    atomic_write(path, json.dumps({"step": 1}))
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, json.dumps({"step": 2}))
    assert json.load(open(path)) == {"step": 1} and os.listdir(tmp_path) == ["metrics.json"]


def test_partial_writes_are_removed_and_nothing_else(tmp_path):
    run = RunDir(str(tmp_path))
    for name in (".metrics.json.abc.tmp", ".model-x1.keras", "model.keras", ".hidden", "train_config.json"):
        open(run.file(name), "w").write("x")
    assert sorted(run.remove_partial_writes()) == [".metrics.json.abc.tmp", ".model-x1.keras"]
    assert sorted(os.listdir(tmp_path)) == [".hidden", "model.keras", "train_config.json"]
    assert RunDir(str(tmp_path / "none")).remove_partial_writes() == []


def test_results_round_trip(tmp_path):
    run = RunDir(str(tmp_path / "run"))
    os.makedirs(run.path)
    run.write_metrics({"step": 3, "weighted_roc_auc": 0.75})
    run.write_best(2, {"weighted_roc_auc": 0.8})
    run.write_thresholds({"thresholds": [0.5, 0.25], "source": "validation"})
    labels, scores = np.array([[1, 0], [0, 1]], np.float32), np.array([[0.9, 0.2], [0.1, 0.7]], np.float32)
    run.write_decision_data(labels, scores)
    assert run.read_metrics() == {"step": 3, "weighted_roc_auc": 0.75}
    assert run.read_best()["step"] == 2 and run.read_best()["report"] == {"weighted_roc_auc": 0.8}
    assert run.read_thresholds()["thresholds"] == [0.5, 0.25]
    got = run.read_decision_data()
    np.testing.assert_array_equal(got[0], labels)
    np.testing.assert_array_equal(got[1], scores)


def test_a_checkpoint_holds_every_weight_of_the_model(tmp_path):
    """Layers held in lists (a CNN's blocks, an ensemble's members) are in the model's checkpoint:
    a model built from the same config and restored has every weight of the saved one (a resumed
    run keeps its frozen source CNNs)."""
    config = _tiny_ensemble_config()
    saved, fresh = TrackTagger(config), TrackTagger(config)
    for v in saved.weights:
        if "float" in str(v.dtype):
            v.assign(tf.random.stateless_normal(v.shape, [7, len(v.path)]))
    path = saved.checkpoint().save(str(tmp_path / "c"))
    fresh.checkpoint().restore(path).assert_existing_objects_matched()
    assert len(saved.weights) > 40
    for a, b in zip(saved.weights, fresh.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_a_checkpoint_without_every_weight_is_refused_with_one_line(tmp_path):
    """A checkpoint written before every weight was tracked (here: the model alone, as Keras 3 shows
    it to TensorFlow, without the list-held CNN blocks) is refused when a run directory is loaded
    from it — not restored with random frozen CNN weights."""
    from tfmusictag.rundir import RunDir

    config = _tiny_ensemble_config()
    run = RunDir(str(tmp_path / "run"))
    run.write_configs(None, config)
    os.makedirs(run.checkpoints, exist_ok=True)
    tf.train.Checkpoint(model=TrackTagger(config)).save(os.path.join(run.checkpoints, "ckpt"))
    with pytest.raises(errors.ParameterError, match=r"ckpt-1 does not hold every weight of the model .*train again"):
        run.load_model()
    TrackTagger(config).checkpoint().save(os.path.join(run.checkpoints, "full"))  # every weight
    assert run.latest_checkpoint().endswith("full-1")
    assert len(run.load_model().weights) == len(TrackTagger(config).weights)
