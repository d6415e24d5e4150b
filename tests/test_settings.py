"""The one resolver of settings (:mod:`tfmusictag.training.settings`) that ``train`` and ``tune`` share."""

import json

import pytest

from tfmusictag.errors import ParameterError
from tfmusictag.training.settings import SEARCH_FIELDS, gather, read_config_file, search_config, train_config


def test_settings_come_from_the_file_then_flags_then_set(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"steps": 10, "batch_size": 4, "learning_rates": {"classifier": {"learning_rate": 0.01}},
                                "model_overrides": {"classifier.hidden": 32}}))
    given = gather(str(path), {"steps": 20, "seed": None}, {"batch_size": 2})
    assert given["steps"] == 20 and given["batch_size"] == 2 and "seed" not in given  # None: not given
    assert given["learning_rates.classifier.learning_rate"] == 0.01
    config = train_config({**given, "variant": "mfcc_bof"})
    assert (config.steps, config.batch_size, config.variant) == (20, 2, "mfcc_bof")
    assert config.learning_rates.classifier.learning_rate == 0.01


def test_a_bad_config_file_or_setting_is_one_clear_error(tmp_path):
    with pytest.raises(ParameterError, match="missing.json"):
        read_config_file(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{steps: 1")
    with pytest.raises(ParameterError, match="not valid JSON"):
        read_config_file(str(tmp_path / "bad.json"))
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ParameterError, match="a config is an object"):
        read_config_file(str(tmp_path / "list.json"))
    with pytest.raises(ParameterError, match="stpes"):
        train_config({"stpes": 3, "variant": "mfcc_bof"})


def test_a_search_takes_only_what_its_trials_use():
    config = search_config({"steps": 3, "max_seconds": 15, "model.classifier.hidden": 8})
    assert config.steps == 3 and config.max_seconds == 15
    with pytest.raises(ParameterError, match="checkpoint_every: a search does not use it"):
        search_config({"checkpoint_every": 5})
    assert "learning_rates" in SEARCH_FIELDS and "variant" not in SEARCH_FIELDS  # the search names its variant


def test_a_resumed_run_keeps_its_config_and_refuses_a_contradiction(tmp_path):
    from tfmusictag.rundir import RunDir
    from tfmusictag.training import TrainConfig
    from tfmusictag.variants import variant_config

    run = RunDir(str(tmp_path / "run"))
    saved = TrainConfig(variant="mfcc_bof", steps=10, batch_size=4)
    run.write_configs(saved.to_dict(), variant_config("mfcc_bof", ["a", "b"]))
    resumed = train_config({"steps": 30}, run=run, resume=True, names={"steps": "--steps"})
    assert (resumed.steps, resumed.batch_size, resumed.variant) == (30, 4, "mfcc_bof")  # steps may grow
    with pytest.raises(ParameterError, match="batch_size"):
        train_config({"batch_size": 8}, run=run, resume=True)


def test_best_json_is_written_whole(tmp_path):
    from tfmusictag.tuning.hypermodels import write_best

    path = write_best(str(tmp_path), {"best": {"Z": 64}, "weighted_roc_auc": 0.8})
    assert json.loads(open(path).read())["best"] == {"Z": 64}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.json"]  # no temporary file left
