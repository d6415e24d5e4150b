"""KerasTuner: the thesis's searches run with the GridSearch oracle on the tiny demo catalog."""

import pytest

from tfmusictag import data
from tfmusictag.errors import ParameterError
from tfmusictag.tuning.hypermodels import SEARCHES, ThesisHyperModel, grid_search


def batches(data_dir, split, names):
    ds, _ = data.load_split("demo_catalog/tiny", split, data_dir)
    return data.track_pipeline(ds, names, config=data.PipelineConfig(batch_size=3, shuffle_buffer=0, cache=""))


def test_classifier_search_tries_every_z_h_pair(demo_tiny, tmp_path):
    data_dir, builder = demo_tiny
    names = data.tag_names(builder)
    hm = ThesisHyperModel("classifier", names, grid={"Z": [8, 16], "H": [8]}, steps=3,
                          overrides={"temporal.bof.epochs": 1})
    tuner = grid_search(hm, batches(data_dir, "train", names), batches(data_dir, "validation", names),
                        str(tmp_path))
    trials = tuner.oracle.get_best_trials(num_trials=10)
    assert sorted((t.hyperparameters.get("Z"), t.hyperparameters.get("H")) for t in trials) == [(8, 8), (16, 8)]
    assert all(0 <= t.score <= 1 for t in trials)
    best = tuner.get_best_hyperparameters()[0]
    assert best.get("Z") in (8, 16)


def test_learning_rate_search_maps_onto_group_schedules(demo_tiny):
    _, builder = demo_tiny
    hm = ThesisHyperModel("learning_rate", data.tag_names(builder), steps=1)
    import keras_tuner as kt

    hp = kt.HyperParameters()
    model = hm.build(hp)
    lr = hm._learning_rates(hp)
    assert lr.cnn_low.learning_rate == SEARCHES["learning_rate"][1]["cnn_low_lr"][0]
    assert model.tagger_config.reduction.type == "cnn"


def test_bad_search_names():
    with pytest.raises(ParameterError, match="search='depth'"):
        ThesisHyperModel("depth", ["a"])
    with pytest.raises(ParameterError, match="grid names"):
        ThesisHyperModel("lstm", ["a"], grid={"Z": [1]})
