"""tfmusictag.thresholds: per-tag decision thresholds (F1 per tag, pooled fallback) and the
precision / recall / F1 of decided tags — by hand, and against scikit-learn."""

import numpy as np
import pytest

from tfmusictag.errors import ParameterError
from tfmusictag.thresholds import decide, decision_report, fit_thresholds


def test_each_tag_gets_the_cut_that_maximises_its_f1():
    # tag a: positives score .9 .7 .4, negatives .8 .3 .2: cutting below .7 (keep .9 .8 .7) gives
    # P=2/3 R=2/3; below .4 (keep 4) P=3/4 R=1 → F1 .857, the best; the cut is midway to .3
    y = np.array([[1], [0], [1], [1], [0], [0]])
    s = np.array([[.9], [.8], [.7], [.4], [.3], [.2]])
    fitted = fit_thresholds(y, s, ["a"], min_positives=1)
    assert fitted["thresholds"]["a"] == pytest.approx(0.35)
    assert decide(s, [0.35])[:, 0].tolist() == [True, True, True, True, False, False]
    assert fitted["fallback"] == [] and fitted["criterion"] == "f1" and fitted["tracks"] == 6


def test_rare_and_unseen_tags_take_the_pooled_threshold_and_fitting_is_pure():
    rng = np.random.default_rng(0)
    y = (rng.random((40, 4)) < [0.5, 0.4, 0.05, 0.0]).astype(int)  # tag c: 2 positives, d: none
    y[:2, 2], y[2:, 2] = 1, 0
    s = np.clip(0.6 * y + rng.normal(0.2, 0.15, y.shape), 0, 1)
    a = fit_thresholds(y, s, ["a", "b", "c", "d"])
    assert a == fit_thresholds(y.copy(), s.copy(), ["a", "b", "c", "d"])  # a pure function of the data
    assert a["fallback"] == ["c", "d"] and a["thresholds"]["c"] == a["thresholds"]["d"] == a["pooled"]
    assert 0 < a["pooled"] < 1 and a["thresholds"]["a"] != a["pooled"]
    assert fit_thresholds(y, s, list("abcd"), min_positives=2)["fallback"] == ["d"]


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
