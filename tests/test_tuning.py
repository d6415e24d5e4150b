"""KerasTuner: the thesis's searches run with the GridSearch oracle on the tiny demo catalog."""

import pytest
from conftest import require_musicnn_weights
from support import ENV

from tfmusictag import data
from tfmusictag.errors import ParameterError
from tfmusictag.training import TrainConfig
from tfmusictag.tuning.hypermodels import SEARCHES, ThesisHyperModel, grid_search


def batches(data_dir, split, names):
    ds, _ = data.load_split("demo_catalog/tiny", split, data_dir)
    return data.track_pipeline(ds, names, config=data.PipelineConfig(batch_size=3, shuffle_buffer=0, cache=""))


def test_classifier_search_tries_every_z_h_pair(demo_tiny, tmp_path, monkeypatch):
    """Every grid point is one trial, and a trial is ``train`` with the trial's config: its run
    directory is a training run whose report is the trial's score. The search opens each split
    once, whatever the number of trials."""
    import json

    from tfmusictag.training import train
    from tfmusictag.tuning.hypermodels import trial_key

    data_dir, builder = demo_tiny
    names = data.tag_names(builder)
    opened, load_split = [], data.load_split
    monkeypatch.setattr(data, "load_split", lambda *a, **k: opened.append(a[1]) or load_split(*a, **k))
    splits = data.Splits("demo_catalog/tiny", data_dir)
    hm = ThesisHyperModel("classifier", names, grid={"Z": [8, 16], "H": [8]}, steps=3,
                          overrides={"temporal.bof.epochs": 1}, save_dir=str(tmp_path / "runs"),
                          config=TrainConfig(batch_size=3, shuffle_buffer=0))
    tuner = grid_search(hm, splits, str(tmp_path / "tuner"))
    trials = tuner.oracle.get_best_trials(num_trials=10)
    assert sorted((t.hyperparameters.get("Z"), t.hyperparameters.get("H")) for t in trials) == [(8, 8), (16, 8)]
    assert sorted(opened) == ["train", "validation"]
    assert all(0 <= t.score <= 1 for t in trials)
    best = tuner.get_best_hyperparameters()[0]
    top = max(trials, key=lambda t: t.score)
    assert (best.get("Z"), best.get("H")) == (top.hyperparameters.get("Z"), top.hyperparameters.get("H"))
    # KerasTuner's own callback kept the trained weights: its best model scores what its trial scored
    from tfmusictag.evaluation import evaluate_model

    model = tuner.get_best_models(1)[0]
    assert model.tagger_config.temporal.bof.num_clusters == best.get("Z")
    report = evaluate_model(model, batches(data_dir, "validation", names), model.tags)[0]
    assert report["weighted_roc_auc"] == pytest.approx(top.score, abs=1e-6)
    # the same trial run by train() itself, in its own process state, scores the same
    values = top.hyperparameters.values
    kept = json.loads((tmp_path / "runs" / trial_key(values) / "metrics.json").read_text())
    assert kept["step"] == 3 and kept["weighted_roc_auc"] == pytest.approx(top.score, abs=1e-9)
    again = train(hm.trial_config(values, data.Splits("demo_catalog/tiny", data_dir)), str(tmp_path / "again"),
                  progress=False)
    assert again["weighted_roc_auc"] == pytest.approx(top.score, abs=1e-6)


def test_a_trial_refuses_search_arguments_it_would_not_use(demo_tiny):
    _, builder = demo_tiny
    hm = ThesisHyperModel("classifier", data.tag_names(builder), grid={"Z": [8], "H": [8]}, steps=1)
    with pytest.raises(ParameterError, match="epochs"):
        hm.fit(None, None, None, epochs=3)


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


def test_learning_rate_search_fine_tunes_a_pretrained_source(demo_tiny, tmp_path):
    """Tables 4.7-4.8 on a source CNN: every trial starts from the converted MagnaTagATune model."""
    import numpy as np

    require_musicnn_weights()
    data_dir, builder = demo_tiny
    names = data.tag_names(builder)
    hm = ThesisHyperModel("learning_rate", names, steps=1, init_from="MTT_vgg",
                          grid={"cnn_low_lr": [0.0], "cnn_low_step": [10], "cnn_high_lr": [1e-4], "cnn_high_step": [10]},
                          overrides={"temporal.lstm.units": 8, "classifier.hidden": 8},
                          save_dir=str(tmp_path / "models"), config=TrainConfig(batch_size=2, max_seconds=7.0))
    assert hm.front_end.sample_rate == 16000
    import keras_tuner as kt

    model = hm.build(kt.HyperParameters())
    np.testing.assert_array_equal(model.reduction.convs[0].kernel.numpy(), hm.source.reduction.convs[0].kernel.numpy())

    tuner = grid_search(hm, data.Splits("demo_catalog/tiny", data_dir), str(tmp_path / "search"))
    trials = tuner.oracle.get_best_trials(num_trials=5)
    assert len(trials) == 1 and 0 < trials[0].score <= 1
    # the trial trained what its learning rates say: layers 1-2 at η = 0 kept the source's weights,
    # layers 3-5 at η = 1e-4 moved away from them
    from tfmusictag.rundir import load_model
    from tfmusictag.tuning.hypermodels import trial_key

    trained = load_model(str(tmp_path / "models" / trial_key(trials[0].hyperparameters.values)))
    source = hm.source.reduction.convs
    for i, conv in enumerate(trained.reduction.convs):
        same = np.array_equal(conv.kernel.numpy(), source[i].kernel.numpy())
        assert same == (i < 2), (i, same)


@pytest.mark.slow
def test_tune_command_runs_a_grid_and_writes_the_best(demo_tiny, tmp_path):
    import json
    import os
    import subprocess
    import sys

    data_dir, _ = demo_tiny
    out = subprocess.run(
        [sys.executable, "-m", "tfmusictag.tune", "--search=classifier", "--dataset=demo_catalog/tiny",
         f"--data_dir={data_dir}", "--grid=Z=8,16", "--grid=H=8", "--set=model.temporal.bof.epochs=1", "--steps=2",
         "--batch_size=3", f"--directory={tmp_path}"],
        capture_output=True, text=True, check=True, env=ENV)
    assert out.stdout.count("| 8 |") == 2  # both trials listed (Z=8 and Z=16, each with H=8)
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["trials"] == 2 and 0 <= best["weighted_roc_auc"] <= 1
    # best.json names the trial with the highest score of the table printed
    table = [[c.strip() for c in line.strip("|").split("|")] for line in out.stdout.splitlines()
             if line.startswith("| ")]
    header, rows = table[0], table[1:]
    assert header == ["H", "Z", "weighted ROC-AUC"]
    scores = {int(r[1]): float(r[2]) for r in rows}
    assert best["best"]["Z"] == max(scores, key=scores.get)
    assert best["weighted_roc_auc"] == pytest.approx(scores[best["best"]["Z"]], abs=1e-4)


def test_grid_flag_parsing():
    from tfmusictag.cli.tune import parse_grid

    assert parse_grid(["Z=64,128", "p=0,0.3", "cnn_low_lr=0,1e-5"]) == {"Z": [64, 128], "p": [0, 0.3],
                                                                        "cnn_low_lr": [0, 1e-5]}


@pytest.mark.slow
def test_distributed_search_runs_every_trial_once_and_equals_one_process(demo_tiny, tmp_path):
    """KerasTuner's distributed mode: a chief (the oracle) and two workers on loopback run a 4-trial
    grid; every trial runs exactly once, idle workers wait instead of busy-polling (#915), and
    ``best.json`` is the one a one-process search writes."""
    import json
    import os
    import socket
    import subprocess
    import sys

    data_dir, _ = demo_tiny
    cmd = [sys.executable, "-m", "tfmusictag.tune", "--search=classifier", "--dataset=demo_catalog/tiny",
           f"--data_dir={data_dir}", "--grid=Z=4,8", "--grid=H=4,8", "--set=model.temporal.bof.epochs=1",
           "--steps=2", "--batch_size=3"]
    env = dict(ENV)
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    kt_env = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port)}
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    procs = [subprocess.Popen([*cmd, f"--directory={shared}"], env={**env, **kt_env, "KERASTUNER_TUNER_ID": tid},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tid in ("chief", "tuner0", "tuner1")]
    procs.append(subprocess.Popen([*cmd, f"--directory={alone}"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True))
    outs = [subprocess.CompletedProcess(p.args, p.wait(timeout=900), *p.communicate()) for p in procs]
    for out in outs:
        assert out.returncode == 0, out.stderr
    chief, w0, w1, one = outs
    assert "chief: serving the search's oracle on 127.0.0.1" in chief.stderr
    ran = [json.loads(w.stdout.splitlines()[-1]) for w in (w0, w1)]
    assert [r["tuner_id"] for r in ran] == ["tuner0", "tuner1"]
    # a worker with no trial left waits 2 s between asks; KerasTuner alone asks thousands of times
    assert all(r["idle_answers"] < 60 for r in ran), ran
    records = [json.loads(p.read_text()) for p in sorted(shared.glob("thesis_classifier/trial_*/trial.json"))]
    assert len(records) == 4 and all(r["status"] == "COMPLETED" for r in records)
    trial_ids = ran[0]["trials"] + ran[1]["trials"]  # each trial ran once, by one worker
    assert sorted(trial_ids) == sorted(r["trial_id"] for r in records), ran
    assert len({json.dumps(r["hyperparameters"]["values"], sort_keys=True) for r in records}) == 4
    best, best_alone = (json.loads((d / "best.json").read_text()) for d in (shared, alone))
    assert best == best_alone and best["trials"] == 4
    assert chief.stdout.count("| 0.") == 4  # the chief prints the table of the 4 trials


def test_small_catalog_search_chooses_the_recipes_l2_on_cached_cnn_features(demo_tiny, tmp_path):
    """The recipe's l2 chosen on the validation split: every trial starts from the recipe's MTT_vgg and
    MSD_musicnn (frozen, side by side), with the class-balanced loss, and the CNNs run once per track."""
    import numpy as np

    require_musicnn_weights()
    data_dir, builder = demo_tiny
    names = data.tag_names(builder)
    hm = ThesisHyperModel("small_catalog", names, grid={"l2": [1e-3, 1e-1]}, steps=15,
                          config=TrainConfig(batch_size=3, max_seconds=15.0))
    assert hm.class_weight == "balanced" and hm.source is not None
    tuner = grid_search(hm, data.Splits("demo_catalog/tiny", data_dir), str(tmp_path))
    trials = tuner.oracle.get_best_trials(num_trials=10)
    assert sorted(t.hyperparameters.get("l2") for t in trials) == [1e-3, 1e-1]
    model = hm.build(trials[0].hyperparameters)
    cfg = model.tagger_config
    assert (cfg.reduction.type, cfg.reduction.members, cfg.reduction.readout, cfg.temporal.type) == (
        "ensemble", ("vgg", "musicnn"), "last_and_all_layers", "mean_std_max")
    assert cfg.classifier.l2 == trials[0].hyperparameters.get("l2") and cfg.classifier.standardize
    np.testing.assert_array_equal([v.trainable for v in model.reduction.weights], False)
