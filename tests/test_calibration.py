"""tfmusictag.calibration (Platt maps with shrinkage, reliability) and the decision rules of
tfmusictag.thresholds they feed (calibration then thresholds together: ``test_decisions.py``):
recovery of a known map, against scikit-learn's logistic regression, monotonicity, the graph form,
ECE and Brier by hand, the expected-F1 rule against brute force."""

import itertools

import numpy as np
import pytest

from tfmusictag.calibration import (MIN_SLOPE, calibrate, calibrate_tensor, candidates, fit_calibration,
                                    reliability)
from tfmusictag.errors import ParameterError
from tfmusictag.thresholds import decide_expected_f1, decide_expected_f1_tensor, decide_tags


def _overconfident(n, k, seed=0, scale=4.0, shift=-1.0):
    """Labels drawn from σ(z − 0.8) and a network that says σ(4z − 1): right order, far too sure."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1, (n, k))
    y = (rng.random((n, k)) < 1 / (1 + np.exp(-(z - 0.8)))).astype(float)
    return y, 1 / (1 + np.exp(-(scale * z + shift))), z


def test_a_known_platt_map_is_recovered_and_calibrates():
    # truth: logit q = z − 0.8 and logit p = 4z − 1, so q = σ(0.25·logit p − 0.55) for every tag
    y, p, _ = _overconfident(4000, 3)
    fitted = fit_calibration(y, p, ["a", "b", "c"])
    assert fitted["method"] in candidates() and fitted["method"] != "identity"
    for a, b in fitted["maps"].values():
        assert a == pytest.approx(0.25, abs=0.03) and b == pytest.approx(-0.55, abs=0.1)
    q = calibrate(p, list(fitted["maps"].values()))
    assert reliability(y, q)["ece"] < 0.03 < 0.15 < reliability(y, p)["ece"]
    assert reliability(y, q)["brier"] < reliability(y, p)["brier"]


def test_per_tag_platt_equals_scikit_learn_logistic_regression_on_the_logit():
    from sklearn.linear_model import LogisticRegression

    y, p, _ = _overconfident(300, 2, seed=1)
    maps = fit_calibration(y, p, ["a", "b"], method="per_tag_1")["maps"]
    shared = fit_calibration(y, p, ["a", "b"], method="shared")["maps"]["a"]
    # per-tag with weak shrinkage (λ = 1) is close to plain Platt scaling; shared equals it on pooled data
    logit = np.log(p) - np.log1p(-p)
    for j, tag in enumerate("ab"):
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(logit[:, j:j + 1], y[:, j])
        assert maps[tag][0] == pytest.approx(lr.coef_[0, 0], abs=0.02)
        assert maps[tag][1] == pytest.approx(lr.intercept_[0], abs=0.05)
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(logit.reshape(-1, 1), y.ravel())
    assert shared == pytest.approx([lr.coef_[0, 0], lr.intercept_[0]], abs=2e-3)


def test_a_tag_with_few_positives_keeps_near_the_shared_map_and_maps_never_reverse():
    y, p, _ = _overconfident(400, 4, seed=2)
    y[:, 3] = 0
    y[:2, 3] = 1  # two positives
    fitted = fit_calibration(y, p, list("abcd"), method="per_tag_64")
    shared = fit_calibration(y, p, list("abcd"), method="shared")["maps"]["a"]
    assert np.abs(np.subtract(fitted["maps"]["d"], shared)).max() < np.abs(
        np.subtract(fit_calibration(y, p, list("abcd"), method="per_tag_1")["maps"]["d"], shared)).max()
    # a tag the network ranks backwards gets the flattest increasing map: rankings never change
    y2 = y.copy()
    y2[:, 0] = (p[:, 0] < np.median(p[:, 0])).astype(float)
    m = fit_calibration(y2, p, list("abcd"), method="per_tag_1")["maps"]["a"]
    assert m[0] == pytest.approx(MIN_SLOPE)
    q = calibrate(p, list(fit_calibration(y2, p, list("abcd"))["maps"].values()))
    for j in range(4):
        order = np.argsort(p[:, j])
        assert np.all(np.diff(q[order, j]) >= 0)


def test_the_choice_is_by_held_out_likelihood_and_pure():
    y, p, _ = _overconfident(300, 5, seed=3)
    a = fit_calibration(y, p, list("abcde"))
    assert a == fit_calibration(y.copy(), p.copy(), list("abcde"))
    assert set(a["held_out_log_loss"]) == set(candidates())
    assert a["method"] == min(candidates(), key=lambda m: (a["held_out_log_loss"][m], candidates().index(m)))
    assert a["held_out_log_loss"]["identity"] > a["held_out_log_loss"][a["method"]]
    # already calibrated probabilities: the identity (or a map close to it) is kept
    rng = np.random.default_rng(4)
    q = rng.random((2000, 2))
    y = (rng.random(q.shape) < q).astype(float)
    for a_, b_ in fit_calibration(y, q, ["a", "b"])["maps"].values():
        assert a_ == pytest.approx(1, abs=0.1) and b_ == pytest.approx(0, abs=0.1)
    assert fit_calibration(y[:6], q[:6], ["a", "b"])["method"] == "shared"  # too few tracks for folds


def test_the_graph_map_equals_the_numpy_map_and_none_is_the_identity():
    y, p, _ = _overconfident(200, 3, seed=5)
    maps = list(fit_calibration(y, p, list("abc"))["maps"].values())
    x = np.concatenate([p[:20], [[0.0, 1.0, 0.5]]]).astype(np.float32)
    np.testing.assert_allclose(calibrate_tensor(x, maps).numpy(), calibrate(x, maps), atol=2e-6)
    np.testing.assert_array_equal(calibrate(x, ()), x.astype(np.float64))
    assert calibrate_tensor(x, ()) is x
    with pytest.raises(ParameterError, match="calibration maps"):
        calibrate(x, maps[:2])


def test_reliability_by_hand():
    # bin [0.1, 0.2): probabilities .1 .1 (mean .1), one positive of two (.5); bin [0.9, 1]: .9 .9, both positive
    y = np.array([0, 1, 1, 1])
    p = np.array([0.1, 0.1, 0.9, 0.9])
    r = reliability(y, p)
    assert r["ece"] == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    assert r["brier"] == pytest.approx((0.01 + 0.81 + 0.01 + 0.01) / 4)
    assert [b["count"] for b in r["bins"]] == [0, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert r["bins"][9]["frequency"] == 1.0 and r["bins"][1]["mean_probability"] == pytest.approx(0.1)
    assert reliability([[0, 1]], [[0.0, 1.0]])["bins"][9]["count"] == 1  # 1.0 falls in the last bin
    with pytest.raises(ParameterError, match="non-empty"):
        reliability([], [])


def test_the_expected_f1_rule_is_the_best_of_the_ranked_sets_and_the_graph_agrees():
    """Among the empty set and the k most probable tags, the set maximising 2·Σp_top / (k + Σp)
    (the empty set: Π(1 − p)); brute force over every subset of a few tags agrees that the best
    set is a top-k set."""
    rng = np.random.default_rng(6)
    p = rng.beta(0.6, 2.0, (300, 6))
    mask = decide_expected_f1(p)
    for row, m in zip(p, mask):
        total = row.sum()
        best, best_set = np.prod(1 - row), ()
        for size in range(1, 7):
            for subset in itertools.combinations(range(6), size):
                value = 2 * row[list(subset)].sum() / (size + total)
                if value > best + 1e-12:
                    best, best_set = value, subset
        assert set(np.flatnonzero(m)) == set(best_set)
    np.testing.assert_array_equal(decide_expected_f1_tensor(p.astype(np.float32)).numpy(), mask)
    assert decide_expected_f1([[0.01] * 10]).sum() == 0  # nothing likely: nothing decided
    assert decide_expected_f1([[0.9, 0.8, 0.05]]).tolist() == [[True, True, False]]
    assert decide_tags(p, "thresholds", None) is None
    assert decide_tags(p, "thresholds", None, threshold=0.3).tolist() == (p >= 0.3).tolist()
