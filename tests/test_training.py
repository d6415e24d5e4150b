"""Training's behaviour: the step decay, one optimizer per layer group, seeds, and a run directory
that *is* the run — resumed by ``--resume`` alone after a real SIGKILL at any point."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import require_musicnn_weights
import tensorflow as tf

from tfmusictag.errors import ParameterError
from tfmusictag.pretrained import load_model
from tfmusictag.rundir import RunDir
from tfmusictag.training import GroupSchedule, LearningRates, StepDecay, Trainer, TrainConfig, group_optimizers
from tfmusictag.training import resume_config, train
from tfmusictag.variants import build_variant
from support import ENV, HELPERS  # noqa: E402

KILL = os.path.join(HELPERS, "kill_train.py")
TAGS = ("a", "b", "c")


# ---- schedules and groups -------------------------------------------------------------------

def test_step_decay_values_and_floor():
    s = StepDecay(1e-3, decay_steps=100, decay_rate=0.1, minimum=1e-6)
    got = [float(s(step)) for step in (0, 99, 100, 199, 200, 300, 10_000)]
    np.testing.assert_allclose(got, [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-6, 1e-6], rtol=1e-6)
    assert float(StepDecay(1e-5, 10)(10**6)) == pytest.approx(1e-6)  # never below the floor
    assert StepDecay.from_config(s.get_config()).get_config() == s.get_config()
    with pytest.raises(ParameterError, match="decay_steps=0"):
        StepDecay(1e-3, 0)


def _small_cnn():
    return build_variant("finetuned_cnn_finetuned_lstm", TAGS, {
        "reduction.cnn.filters": [2, 2, 2, 2, 2], "temporal.lstm.units": 3, "temporal.lstm.num_layers": 1,
        "classifier.hidden": 4})


def test_each_layer_group_gets_its_own_rate_and_variables():
    model = _small_cnn()
    rates = LearningRates(cnn_low=GroupSchedule(1e-5, 10), cnn_high=GroupSchedule(1e-4, 20),
                          reduction=GroupSchedule(0.0, 1), temporal=GroupSchedule(1e-3, 30),
                          classifier=GroupSchedule(1e-2, 40))
    opts = {g: (opt, vs) for g, opt, vs in group_optimizers(model, rates)}
    assert set(opts) == {"cnn_low", "cnn_high", "temporal", "classifier"}  # no variables left for 'reduction'
    groups = model.group_variables()
    for g, (opt, vs) in opts.items():
        schedule = getattr(rates, g)
        assert [v.path for v in vs] == [v.path for v in groups[g]]
        assert float(opt.learning_rate) == pytest.approx(schedule.learning_rate)
        assert opt._learning_rate.decay_steps == schedule.decay_steps
    # every trainable variable is in exactly one group
    paths = [v.path for _, vs in opts.values() for v in vs]
    assert sorted(paths) == sorted(v.path for v in model.trainable_variables) and len(set(paths)) == len(paths)

    # One real step: Adam's first update moves each parameter by about its group's η (|m̂/√v̂| ≈ 1),
    # so the size of the change tells which rate reached which variables.
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    trainer = Trainer(model, rates)
    x = {"log_mel": tf.random.stateless_normal([2, 1366, 96], [1, 2]), "num_frames": tf.constant([1366, 1000])}
    trainer.train_step(x, tf.constant([[1.0, 0, 1], [0, 1, 0]]))
    for g, (_, vs) in opts.items():
        moved = max(float(np.max(np.abs(v.numpy() - before[v.path]))) for v in vs)
        assert getattr(rates, g).learning_rate * 0.5 < moved < getattr(rates, g).learning_rate * 1.5, (g, moved)
    assert int(trainer.step.numpy()) == 1


def test_a_frozen_group_has_no_optimizer_and_does_not_move():
    model = build_variant("blackbox_cnn_bof", TAGS, {"reduction.cnn.filters": [2, 2, 2, 2, 2],
                                                     "temporal.bof.num_clusters": 4, "classifier.hidden": 4})
    groups = [g for g, _, _ in group_optimizers(model, LearningRates())]
    assert groups == ["classifier"]  # the CNN is black-box; BoF has no trainable weights


# ---- whole runs -----------------------------------------------------------------------------

def _config(data_dir, **kw):
    base = dict(dataset="demo_catalog/tiny", data_dir=data_dir, variant="mfcc_bof", steps=3, batch_size=2,
                checkpoint_every=10, max_seconds=20.0)
    base.update(kw)
    return TrainConfig(**base).with_overrides({"model.temporal.bof.num_clusters": 8, "model.temporal.bof.epochs": 1,
                                               "model.classifier.hidden": 8})


def _weights(model):
    return {v.path: v.numpy() for v in model.weights}


def test_two_seeds_give_different_models_and_one_seed_the_same(demo_tiny, tmp_path):
    data_dir, _ = demo_tiny
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train(_config(data_dir, seed=seed), str(tmp_path / name), progress=False)
        runs[name] = _weights(load_model(str(tmp_path / name)))
    for path in runs["a"]:
        np.testing.assert_array_equal(runs["a"][path], runs["b"][path], err_msg=path)
    differ = [p for p in runs["a"] if not np.array_equal(runs["a"][p], runs["c"][p])]
    assert any("classifier" in p for p in differ) and any("centers" in p for p in differ)


def test_resume_rules(demo_tiny, tmp_path):
    data_dir, _ = demo_tiny
    run_dir = str(tmp_path / "run")
    saved = _config(data_dir)
    with pytest.raises(ParameterError, match="holds no training run"):
        train(saved, run_dir, resume=True, progress=False)
    train(saved, run_dir, progress=False)
    with pytest.raises(ParameterError, match="already holds a training run"):
        train(saved, run_dir, progress=False)
    model_config = RunDir(run_dir).read_model_config()
    # steps may grow; what a step computes may not change
    assert resume_config(saved, {"steps": 5}, model_config).steps == 5
    assert resume_config(saved, {"dataset": "demo_catalog/tiny", "model.classifier.hidden": 8}, model_config) == saved
    with pytest.raises(ParameterError) as e:
        resume_config(saved, {"variant": "pca_bof", "model.classifier.hidden": 64}, model_config,
                      {"variant": "--variant"})
    assert "--variant='pca_bof' (the run has 'mfcc_bof')" in str(e.value)
    assert "model.classifier.hidden=64 (the run has 8)" in str(e.value)
    with pytest.raises(ParameterError, match="batch_size"):
        train(_config(data_dir, batch_size=3), run_dir, resume=True, progress=False)
    with pytest.raises(ParameterError, match="below the step the run has reached"):
        train(_config(data_dir, steps=2), run_dir, resume=True, progress=False)
    report = train(_config(data_dir, steps=4), run_dir, resume=True, progress=False)  # train longer
    metrics = RunDir(run_dir).read_metrics()
    assert metrics["step"] == 4 and metrics["resumed_at_step"] == 3 and 0 <= report["weighted_roc_auc"] <= 1
    assert RunDir(run_dir).read_train_config()["steps"] == 4


# ---- SIGKILL at every point, then `--resume` alone ------------------------------------------

def _train_cmd(*args, kill=None):
    prefix = [sys.executable, KILL, kill] if kill else [sys.executable, "-m", "tfmusictag.train"]
    return subprocess.run([*prefix, "--noprogress", *args], env=ENV, capture_output=True, text=True, timeout=600)


LSTM_FLAGS = [  # dropout 0.3 (the default), a learning-rate decay boundary at step 5, 6 steps, init_from
    "--dataset=demo_catalog/tiny", "--variant=mfcc_finetuned_lstm", "--steps=6", "--batch_size=2",
    "--checkpoint_every=2", "--set=max_seconds=12", "--set=model.temporal.lstm.units=6",
    "--set=model.classifier.hidden=8", "--set=learning_rates.temporal.decay_steps=5",
    "--set=learning_rates.classifier.decay_steps=5"]


@pytest.fixture(scope="module")
def lstm_runs(demo_tiny, tmp_path_factory):
    """A source run to transfer from, and the uninterrupted reference run that starts from it."""
    data_dir, _ = demo_tiny
    root = tmp_path_factory.mktemp("resume")
    source = str(root / "source")
    out = _train_cmd(f"--data_dir={data_dir}", f"--model_dir={source}", *LSTM_FLAGS, "--steps=2")
    assert out.returncode == 0, out.stderr
    flags = [f"--data_dir={data_dir}", *LSTM_FLAGS, f"--init_from={source}"]
    reference = str(root / "reference")
    out = _train_cmd(f"--model_dir={reference}", *flags)
    assert out.returncode == 0, out.stderr
    return root, flags, _weights(load_model(reference))


def _assert_same_model(run_dir, reference):
    got = _weights(load_model(run_dir))
    assert set(got) == set(reference)
    for path, value in reference.items():
        np.testing.assert_allclose(got[path], value, atol=1e-6, err_msg=path)


def _train_procs(runs):
    """Run several ``(args, kill)`` trainings at once (each is mostly single-threaded start-up)."""
    procs = []
    for args, kill in runs:
        prefix = [sys.executable, KILL, kill] if kill else [sys.executable, "-m", "tfmusictag.train"]
        procs.append(subprocess.Popen([*prefix, "--noprogress", *args], env=ENV, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=600), *p.communicate()) for p in procs]


@pytest.mark.slow
def test_a_killed_run_continues_with_resume_alone(lstm_runs):
    """SIGKILL just after checkpoint 4, inside checkpoint 4's write, and inside the final save; then
    the README's command — ``--model_dir=... --resume``, nothing else — finishes each run exactly as
    the uninterrupted one (same weights: dropout, a decay boundary at step 5, after --init_from)."""
    root, flags, reference = lstm_runs
    cases = {"after_checkpoint:4": 4, "checkpoint_write:4": 2, "final_save": 6}
    dirs = {point: str(root / point.replace(":", "_")) for point in cases}
    for point, killed in zip(cases, _train_procs([([f"--model_dir={dirs[p]}", *flags], p) for p in cases])):
        assert killed.returncode == -9, (point, killed.stderr)  # a real SIGKILL
        assert not os.path.exists(os.path.join(dirs[point], "model.keras"))
    saved = {p: open(os.path.join(d, "train_config.json")).read() for p, d in dirs.items()}

    again = _train_cmd(f"--model_dir={dirs['final_save']}")  # no --resume: refuses to touch the run
    assert again.returncode == 2 and "--resume" in again.stderr and "Traceback" not in again.stderr
    resumed = _train_procs([([f"--model_dir={dirs[p]}", "--resume"], None) for p in cases])
    for (point, resumed_at), out in zip(cases.items(), resumed):
        run_dir = dirs[point]
        assert out.returncode == 0, (point, out.stderr)
        assert f"resumed {run_dir} at step {resumed_at}" in out.stderr
        metrics = RunDir(run_dir).read_metrics()
        assert metrics["step"] == 6 and metrics["resumed_at_step"] == resumed_at
        assert open(os.path.join(run_dir, "train_config.json")).read() == saved[point]  # the run is unchanged
        assert json.loads(saved[point])["init_from"].endswith("source")
        _assert_same_model(run_dir, reference)
        assert not [f for f in os.listdir(run_dir) if f.startswith(".")]  # no half-written leftovers


@pytest.mark.slow
def test_a_flag_that_contradicts_the_run_is_refused(lstm_runs):
    root, flags, _ = lstm_runs
    out = _train_cmd(f"--model_dir={root / 'reference'}", "--resume", "--variant=mfcc_bof", "--batch_size=2",
                     "--set=model.classifier.hidden=32")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "--variant='mfcc_bof' (the run has 'mfcc_finetuned_lstm')" in out.stderr
    assert "model.classifier.hidden=32 (the run has 8)" in out.stderr and "batch_size" not in out.stderr


@pytest.mark.slow
def test_a_run_killed_while_fitting_pca_is_completed_by_resume(demo_tiny, tmp_path):
    data_dir, _ = demo_tiny
    flags = [f"--data_dir={data_dir}", "--dataset=demo_catalog/tiny", "--variant=pca_bof", "--steps=2",
             "--batch_size=2", "--set=max_seconds=12", "--set=model.reduction.pca.n_components=8",
             "--set=model.temporal.bof.num_clusters=8", "--set=model.temporal.bof.epochs=1",
             "--set=model.classifier.hidden=8"]
    reference, run_dir = str(tmp_path / "reference"), str(tmp_path / "killed")
    ref, killed = _train_procs([([f"--model_dir={reference}", *flags], None),
                                ([f"--model_dir={run_dir}", *flags], "fitting")])
    assert ref.returncode == 0, ref.stderr
    assert killed.returncode == -9 and RunDir(run_dir).latest_checkpoint() is None  # before the first checkpoint
    resumed = _train_cmd(f"--model_dir={run_dir}", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" not in resumed.stderr and "fitted unsupervised stages" in resumed.stderr
    assert RunDir(run_dir).read_metrics()["resumed_at_step"] is None
    _assert_same_model(run_dir, _weights(load_model(reference)))


# ---- the small-catalog recipe, class balance, selection on the validation split --------------

def test_recipe_settings_follow_the_catalogs_size():
    from tfmusictag.training.recipe import apply_recipe, recipe_settings

    small, large = recipe_settings(48, 8, 22, 3), recipe_settings(2000, 8, 22, 3)
    assert small["variant"] == "transfer_stats" and small["init_from"] == "MTT_vgg,MSD_musicnn"
    # each head's penalty is scikit-learn's C = 0.1: l2 = 1 / (2·C·heads·tags·tracks)
    # (tracks × 5: each track and its 4 views are examples)
    assert small["class_weight"] == "balanced" and small["steps"] == 600 and small["embedding_views"] == 4
    assert small["model.classifier.l2"] == pytest.approx(1 / (2 * 0.1 * 3 * 22 * 48 * 5), rel=5e-3)
    assert large["steps"] == 5000 and large["model.classifier.l2"] == pytest.approx(1 / (0.6 * 22 * 2000 * 5), rel=5e-3)
    assert recipe_settings(5, 8, 2, 3)["steps"] == 300 and recipe_settings(5, 8, 2, 3)["model.classifier.l2"] == 0.01
    assert recipe_settings(48, 8, 22, 1)["model.classifier.l2"] == pytest.approx(1 / (0.2 * 22 * 48 * 5), rel=5e-3)
    # what the user gives wins; the heads are counted on the user's source (MTT_vgg: two readouts)
    require_musicnn_weights()
    config = apply_recipe(TrainConfig(steps=77), {"steps": 77, "model.classifier.l2": 0.3}, 48, 22)
    assert config.steps == 77 and config.variant == "transfer_stats" and "classifier.l2" not in config.model_overrides
    config = apply_recipe(TrainConfig(init_from="MTT_vgg"), {"init_from": "MTT_vgg"}, 48, 22)
    assert config.init_from == "MTT_vgg"
    assert config.model_overrides["classifier.l2"] == pytest.approx(1 / (0.4 * 22 * 48 * 5), rel=5e-3)


def test_selection_needs_evaluations_and_is_refused_on_bad_values():
    with pytest.raises(ParameterError, match="embedding_views=-1 must be >= 0"):
        TrainConfig(embedding_views=-1).validate()
    with pytest.raises(ParameterError, match="patience='abc' must be an integer"):
        TrainConfig().with_overrides({"patience": "abc"})
    with pytest.raises(ParameterError, match="learning_rates.classifier.learning_rate=True must be a number"):
        TrainConfig().with_overrides({"learning_rates.classifier.learning_rate": True})
    with pytest.raises(ParameterError, match="set eval_every"):
        TrainConfig(keep_best=True).validate()
    with pytest.raises(ParameterError, match="class_weight='inverse'"):
        TrainConfig(class_weight="inverse").validate()


def test_keep_best_and_patience_select_on_the_validation_split(demo_tiny, tmp_path):
    """Early stopping: evaluations every 2 steps, stop after 2 without improvement, end with the best
    weights — the saved model scores exactly the best evaluation, and best.json says which."""
    import json

    from tfmusictag.evaluation import evaluate_model
    from tfmusictag.training.trainer import _eval_dataset

    data_dir, _ = demo_tiny
    run_dir = str(tmp_path / "run")
    config = _config(data_dir, steps=40, eval_every=2, keep_best=True, patience=2, class_weight="balanced",
                     learning_rates=LearningRates(classifier=GroupSchedule(3e-2, 3000)), embedding_views=2)
    said = []
    report = train(config, run_dir, progress=False, log=said.append)
    # views need a cached track embedding; a model without one trains as it would and says so
    assert any(line.startswith(f"note: embedding_views=2 unused: {config.variant} does not cache") for line in said)
    metrics = RunDir(run_dir).read_metrics()
    best = json.load(open(os.path.join(run_dir, "best.json")))
    assert metrics["selected_step"] == best["step"] and best["step"] % 2 == 0
    # the kept step is the first with the highest of the scores logged at every evaluation
    scores = {int(m.group(1)): float(m.group(2)) for m in
              (re.match(r"step (\d+): weighted ROC-AUC ([0-9.]+)$", line) for line in said) if m}
    assert sorted(scores) == list(range(2, metrics["step"] + 1, 2))
    # and the run stopped exactly where patience says, from those scores: 2 evaluations (4 steps)
    # without a better one, before step 40 — or ran to step 40 when that never happened
    expected_stop, leader = None, None
    for step in range(2, 41, 2):
        if step not in scores:
            break
        leader = step if leader is None or scores[step] > scores[leader] else leader
        if step - leader >= 4 and step < 40:
            expected_stop = step
            break
    assert metrics["stopped_early_at_step"] == expected_stop
    assert metrics["step"] == (expected_stop or 40)
    assert best["step"] == min(s for s, v in scores.items() if v == max(scores.values()))
    assert report["weighted_roc_auc"] == pytest.approx(scores[best["step"]], abs=5e-5)
    model = load_model(run_dir)
    again = evaluate_model(model, _eval_dataset(config, model), model.tags)[0]
    assert again["weighted_roc_auc"] == pytest.approx(best["report"]["weighted_roc_auc"], abs=1e-6)


@pytest.mark.slow
def test_train_without_variant_uses_the_recipe_and_exports(demo_tiny, tmp_path):
    """No --variant: the small-catalog recipe sized to the catalog, trained, exported as a SavedModel
    that tags like the trained model."""
    require_musicnn_weights()
    data_dir, _ = demo_tiny
    out = _train_cmd(f"--data_dir={data_dir}", "--dataset=demo_catalog/tiny", f"--model_dir={tmp_path / 'run'}",
                     "--steps=30", "--set=max_seconds=15")
    assert out.returncode == 0, out.stderr[-2000:]
    assert ("recipe: transfer_stats from MTT_vgg,MSD_musicnn for 9 training tracks (30 steps, 22 tags, l2 0.00168)"
            in out.stderr)
    saved = RunDir(str(tmp_path / "run")).read_train_config()
    assert saved["variant"] == "transfer_stats" and saved["class_weight"] == "balanced" and saved["embedding_views"] == 4
    model = load_model(str(tmp_path / "run"))
    cfg = model.tagger_config
    assert (cfg.reduction.type, cfg.reduction.members, cfg.reduction.readout, cfg.temporal.type, cfg.classifier.hidden,
            cfg.classifier.heads) == ("ensemble", ("vgg", "musicnn"), "last_and_all_layers", "mean_std_max", 0, "per_readout")
    assert len(model.classifier.head_ranges) == 3
    assert not model.classifier.needs_fitting()

    # exported as a SavedModel that a TensorFlow-only process serves with the model's own tags
    import io
    import textwrap

    from tfmusictag import audio
    from tfmusictag.cli.predict import predict_files
    from tfmusictag.datasets.demo_catalog import compose

    out = subprocess.run([sys.executable, "-m", "tfmusictag.export", f"--model_dir={tmp_path / 'run'}", "--name=mine",
                          f"--base_dir={tmp_path / 'saved'}"], env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    exported = out.stdout.strip().splitlines()[-1]
    track = compose.make_track(seed=77, seconds=40.0, style="jazzy")
    wav = audio.decode(compose.encode(track.audio, track.sample_rate, "flac"), "t", sample_rate=model.sample_rate)
    np.save(tmp_path / "wave.npy", wav)
    code = textwrap.dedent(f"""
        import json, sys, numpy as np, tensorflow as tf
        before = set(sys.modules)
        m = tf.saved_model.load({exported!r})
        p = m.signatures["serving_default"](waveform=tf.constant(np.load({str(tmp_path / 'wave.npy')!r})[None]))
        assert not [k for k in set(sys.modules) - before if k.split(".")[0] in ("tfmusictag", "keras")]
        print(json.dumps(p["probabilities"].numpy().tolist()))
    """)
    served = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=600)
    assert served.returncode == 0, served.stderr[-2000:]
    from tfmusictag.calibration import calibrate

    shown = calibrate(model(wav[None]).numpy(), model.tagger_config.calibration)  # what the SavedModel answers
    assert len(model.tagger_config.calibration) == len(model.tags)
    np.testing.assert_allclose(json.loads(served.stdout.strip().splitlines()[-1]), shown, atol=1e-5)
    # a long file tagged chunk by chunk (bounded memory) gets the whole track's tags: mean + std combine exactly
    path = tmp_path / "long.ogg"
    path.write_bytes(compose.encode(track.audio, track.sample_rate, "ogg"))
    whole, streamed = io.StringIO(), io.StringIO()
    predict_files([str(path)], exported, whole, top_k=0, stream_above_minutes=60)
    predict_files([str(path)], exported, streamed, top_k=0, stream_above_minutes=0.2)
    a, b = json.loads(whole.getvalue()), json.loads(streamed.getvalue())
    for tag, p in a["tags"].items():
        assert b["tags"][tag] == pytest.approx(p, abs=2e-4), tag


def test_model_overrides_are_checked_before_any_data_is_read(tmp_path):
    """A misspelt or mistyped ``model.*`` override fails at once, naming it: no dataset is built or read."""
    data_dir = tmp_path / "tfds"
    for bad, message in (({"model.classifier.hiden": 8}, "hiden"),
                         ({"model.temporal.bof.num_clusters": "many"}, "must be an integer")):
        config = TrainConfig(dataset="demo_catalog/tiny", data_dir=str(data_dir), variant="mfcc_bof",
                             steps=2).with_overrides(bad)
        with pytest.raises(ParameterError, match=message):
            train(config, str(tmp_path / "run"), progress=False)
    assert not data_dir.exists() and not (tmp_path / "run").exists()


def test_a_run_s_seeds_and_determinism_end_with_it():
    """:func:`tfmusictag.training.determinism.seeded`: inside, every generator is seeded and only
    deterministic kernels run; after it, the caller's random streams go on where they were and op
    determinism is as it was."""
    import random

    from tfmusictag.training.determinism import op_determinism, seeded

    was = op_determinism()
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), float(np.random.random()))
    random.seed(5)
    np.random.seed(5)
    with seeded(123, deterministic=True):
        assert op_determinism()
        first = (random.random(), float(np.random.random()))
    with seeded(123, deterministic=True):
        assert (random.random(), float(np.random.random())) == first  # the run's draws: its seed alone
    assert (random.random(), float(np.random.random())) == expected  # the caller's stream, untouched
    assert op_determinism() == was


def test_balanced_tag_weights_are_scikit_learns():
    from sklearn.utils.class_weight import compute_class_weight

    from tfmusictag.training.steps import balanced_tag_weights

    y = (np.random.default_rng(2).random((40, 3)) < [0.1, 0.5, 0.8]).astype("float32")
    positive, negative = balanced_tag_weights(y)
    for j in range(3):
        neg, pos = compute_class_weight("balanced", classes=np.array([0.0, 1.0]), y=y[:, j])
        np.testing.assert_allclose([positive[j], negative[j]], [pos, neg], rtol=1e-6)
