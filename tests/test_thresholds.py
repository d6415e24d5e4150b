"""tfmusictag.thresholds: per-tag decision thresholds (F1 per tag, shrunk toward a prior) and the
precision / recall / F1 of decided tags — by hand, and against scikit-learn."""

import os

import numpy as np
import pytest

from tfmusictag.errors import ParameterError
from tfmusictag.decisions import fit_decisions
from tfmusictag.thresholds import decide, decision_report, fit_thresholds


def test_each_tag_gets_the_cut_that_maximises_its_f1():
    # tag a: positives score .9 .7 .4, negatives .8 .3 .2: cutting below .7 (keep .9 .8 .7) gives
    # P=2/3 R=2/3; below .4 (keep 4) P=3/4 R=1 → F1 .857, the best; the cut is midway to .3
    y = np.array([[1], [0], [1], [1], [0], [0]])
    s = np.array([[.9], [.8], [.7], [.4], [.3], [.2]])
    fitted = fit_thresholds(y, s, ["a"], min_positives=1, rule="per_tag")
    assert fitted["thresholds"]["a"] == pytest.approx(0.35)
    assert decide(s, [0.35])[:, 0].tolist() == [True, True, True, True, False, False]
    assert fitted["fallback"] == [] and fitted["criterion"] == "f1" and fitted["tracks"] == 6


def test_rare_and_unseen_tags_take_their_prior_and_fitting_is_pure():
    rng = np.random.default_rng(0)
    y = (rng.random((40, 4)) < [0.5, 0.4, 0.05, 0.0]).astype(int)  # tag c: 2 positives, d: none
    y[:2, 2], y[2:, 2] = 1, 0
    s = np.clip(0.6 * y + rng.normal(0.2, 0.15, y.shape), 0, 1)
    prior = [0.3, 0.4, 0.2, 0.45]
    a = fit_thresholds(y, s, ["a", "b", "c", "d"], prior=prior)
    assert a == fit_thresholds(y.copy(), s.copy(), ["a", "b", "c", "d"], prior=prior)  # a pure function of the data
    assert a["fallback"] == ["c", "d"] and (a["thresholds"]["c"], a["thresholds"]["d"]) == (0.2, 0.45)
    assert a["thresholds"]["a"] != 0.3 and a["prior"] == dict(zip("abcd", prior))
    assert fit_thresholds(y, s, list("abcd"), min_positives=2)["fallback"] == ["d"]


def test_a_cut_is_shrunk_toward_its_prior_by_the_tags_evidence_within_the_f1_bounds():
    """``logit t = (n·logit c + m·logit t⁰) / (n + m)``: with few positives the cut stays near the
    prior, with many it follows the data; then it is held within [π / (1 + π), 0.5], where the
    F1-optimal threshold of calibrated probabilities lies."""
    from tfmusictag.thresholds import BOUNDS, _smoothed_cut, bounds

    rng = np.random.default_rng(5)
    logit = lambda t: np.log(t / (1 - t))  # noqa: E731
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for n in (4, 40):
        y = np.zeros((200, 1))
        y[:n] = 1
        s = np.where(y > 0, 0.15, 0.02) + rng.uniform(0, 0.01, y.shape)  # a gap between 0.03 and 0.15
        c = _smoothed_cut(y[:, 0], s[:, 0], 1.0)
        t = fit_thresholds(y, s, ["a"], prior=[0.5], rule="smoothed_1_shrunk_10")["thresholds"]["a"]
        shrunk = sigmoid((n * logit(c) + 10 * logit(0.5)) / (n + 10))
        pi = n / 200
        assert t == pytest.approx(min(max(shrunk, pi / (1 + pi)), 0.5), abs=1e-5)
        assert bounds(y)[0][0] == pytest.approx(max(BOUNDS[0], pi / (1 + pi)))
    assert t == pytest.approx(0.2 / 1.2, abs=1e-5)  # n = 40: the data's cut (≈ 0.11) is below the F1 bound
    # a tag every track has: any cut at the bottom decides it always; the bounds keep it at 0.5
    y = np.ones((50, 1))
    assert fit_thresholds(y, rng.random((50, 1)), ["a"], prior=[0.5], rule="smoothed_1_shrunk_10")["thresholds"]["a"] == 0.5
    assert fit_thresholds(y, rng.random((50, 1)), ["a"], rule="per_tag")["thresholds"]["a"] == 0.5
    # a prior above 0.5 (a network's 0.5 mapped high) is held at 0.5 too
    assert fit_thresholds(np.eye(20)[:, :2], rng.random((20, 2)), ["a", "b"], prior=[0.9, 0.9],
                          rule="prior")["thresholds"] == {"a": 0.5, "b": 0.5}


def test_decision_report_matches_scikit_learn():
    from sklearn.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(1)
    y = (rng.random((30, 5)) < 0.4).astype(int)
    y[:, 4] = 0  # a tag without positives: left out of the macro average
    s = np.clip(0.5 * y + rng.random(y.shape) * 0.6, 0, 1)
    t = [0.3, 0.5, 0.6, 0.4, 0.5]
    r = decision_report(y, s, t, list("abcde"))
    d = decide(s, t).astype(int)
    assert r["micro"]["f1"] == pytest.approx(f1_score(y.ravel(), d.ravel()), abs=1e-4)
    assert r["micro"]["precision"] == pytest.approx(precision_score(y.ravel(), d.ravel()), abs=1e-4)
    for j, tag in enumerate("abcd"):
        assert r["per_tag"][tag]["recall"] == pytest.approx(recall_score(y[:, j], d[:, j]), abs=1e-4)
        assert r["per_tag"][tag]["f1"] == pytest.approx(f1_score(y[:, j], d[:, j]), abs=1e-4)
    assert r["macro"]["f1"] == pytest.approx(np.mean([f1_score(y[:, j], d[:, j]) for j in range(4)]), abs=1e-4)
    assert r["per_tag"]["e"]["positives"] == 0


def test_bad_inputs_are_one_clear_error():
    with pytest.raises(ParameterError, match=r"must both be \(tracks, 2 tags\)"):
        fit_thresholds(np.zeros((3, 2)), np.zeros((3, 3)), ["a", "b"])
    with pytest.raises(ParameterError, match="at least one labelled track"):
        fit_thresholds(np.zeros((0, 1)), np.zeros((0, 1)), ["a"])


def _stats_run(data_dir, run_dir, **kw):
    """A tiny run of the recipe's model (frozen CNN under mean/std/max pooling, linear heads), no
    pretrained weights: its heads train on cached track embeddings, as the recipe's do."""
    from tfmusictag.training import TrainConfig, train

    config = TrainConfig(dataset="demo_catalog/tiny", data_dir=data_dir, variant="transfer_stats", steps=6,
                         batch_size=2, checkpoint_every=100, max_seconds=20.0, class_weight="balanced",
                         **kw).with_overrides({"model.reduction.cnn.filters": [2, 2, 2, 2, 4],
                                               "model.classifier.hidden": 0})
    said = []
    train(config, run_dir, progress=False, log=said.append)
    return config, said


def test_out_of_fold_thresholds_come_from_the_training_tracks_alone(demo_tiny, tmp_path):
    """A model that caches track embeddings gets its calibration and thresholds fitted on
    out-of-fold predictions over its training tracks: the same seed gives the same ones, whichever
    split is evaluated; the run keeps those predictions (``decision_data.npz``), they equal the
    out-of-fold scores computed afresh, and refitting them gives the model's own decisions."""
    from tfmusictag import data
    from tfmusictag.rundir import RunDir, load_model
    from tfmusictag.training.out_of_fold import out_of_fold_scores
    from tfmusictag.training.trainer import segment_features

    data_dir, _ = demo_tiny
    config, said = _stats_run(data_dir, str(tmp_path / "a"), embedding_views=1)
    _, _ = _stats_run(data_dir, str(tmp_path / "b"), embedding_views=1, eval_split="test")
    a, b = RunDir(str(tmp_path / "a")).read_thresholds(), RunDir(str(tmp_path / "b")).read_thresholds()
    assert a["split"] == "train" and a["method"].startswith("out of fold") and a["tracks"] == b["tracks"]
    assert a["thresholds"] == b["thresholds"]  # the evaluated split never enters
    assert a["calibration"] == b["calibration"]
    assert any(line.startswith("calibration (") and "decision thresholds fitted on train, out of fold" in line
               for line in said)
    model = load_model(str(tmp_path / "a"))
    assert model.tagger_config.thresholds == tuple(a["thresholds"][t] for t in model.tags)
    assert model.tagger_config.calibration == tuple(tuple(a["calibration"]["maps"][t]) for t in model.tags)
    assert model.tagger_config.decision == "thresholds"
    # afresh, from the training split alone
    ds, tags = data.load_split("demo_catalog/tiny", "train", data_dir)
    pipe = data.PipelineConfig(batch_size=2, shuffle_buffer=0, cache=None, max_seconds=20.0)
    features = segment_features(model, data.track_features(ds, tags, model.tags, model.front_end_config, pipe),
                                views=1, seed=config.seed)
    y, p = out_of_fold_scores(model, features, config, views=1)
    assert y.shape == p.shape == (a["tracks"], len(model.tags))
    kept_y, kept_p = RunDir(str(tmp_path / "a")).read_decision_data()
    np.testing.assert_array_equal(kept_y, y)
    np.testing.assert_allclose(kept_p, p, atol=1e-6)
    refit = fit_decisions(kept_y, kept_p, model.tags)
    assert refit["thresholds"] == a["thresholds"] and refit["calibration"] == a["calibration"]


def test_out_of_fold_thresholds_need_cached_embeddings(demo_tiny, tmp_path):
    from tfmusictag.training import TrainConfig, train

    data_dir, _ = demo_tiny
    config = TrainConfig(dataset="demo_catalog/tiny", data_dir=data_dir, variant="mfcc_bof", steps=2, batch_size=3,
                         max_seconds=10.0, thresholds="out_of_fold").with_overrides(
        {"model.temporal.bof.num_clusters": 4, "model.temporal.bof.epochs": 1, "model.classifier.hidden": 4})
    with pytest.raises(ParameterError, match="thresholds='validation'"):
        train(config, str(tmp_path / "run"), progress=False)
    assert not os.path.exists(tmp_path / "run" / "train_config.json")  # refused before the run exists
    with pytest.raises(ParameterError, match="thresholds='median' must be one of"):
        TrainConfig(thresholds="median").validate()


def test_the_rule_is_chosen_on_held_out_folds_of_the_fitting_data():
    """Per-tag cuts win where each tag's probabilities have their own scale (the prior 0.5 decides
    nothing there); the choice is a pure function of the data."""
    from tfmusictag.thresholds import DEFAULT_RULE, RULES, choose_rule

    rng = np.random.default_rng(3)
    y = (rng.random((200, 4)) < 0.3).astype(int)
    # every tag's positives score around its own level (0.1, 0.2, 0.3, 0.4), far below 0.5
    level = np.array([0.1, 0.2, 0.3, 0.4])
    s = np.clip(np.where(y > 0, level, level / 4) + rng.normal(0, 0.02, y.shape), 0, 1)
    chosen = choose_rule(y, s)
    assert chosen["rule"] != "prior" and chosen["scores"][chosen["rule"]] > chosen["scores"]["prior"] + 0.3
    assert set(chosen["scores"]) == set(RULES) and chosen == choose_rule(y.copy(), s.copy())
    fitted = fit_thresholds(y, s, list("abcd"))
    assert fitted["rule"] == chosen["rule"] and all(0 < t < 0.5 for t in fitted["thresholds"].values())
    # where the prior is right (a class-balanced network's 0.5), shrinking toward it wins
    s = np.clip(np.where(y > 0, 0.7, 0.3) + rng.normal(0, 0.15, y.shape), 0, 1)
    assert choose_rule(y, s)["scores"]["prior"] >= max(choose_rule(y, s)["scores"].values()) - 0.02
    # fewer than 2 × RULE_FOLDS tracks: no folds to choose on, the default rule
    p = rng.random((60, 6))
    y = (rng.random((60, 6)) < p).astype(int)
    assert choose_rule(y[:9], p[:9]) == {"rule": DEFAULT_RULE, "scores": {}}
    with pytest.raises(ParameterError, match="rule="):
        fit_thresholds(y, p, list("abcdef"), rule="median")
    assert fit_thresholds(y, p, list("abcdef"), rule="prior")["thresholds"] == dict.fromkeys("abcdef", 0.5)
