"""The thesis's evaluation measure (:mod:`tfmusictag.metrics`): ROC-AUC per tag, weighted by the tag's
frequency (Sec. 4.2), checked by hand and against scikit-learn."""

import numpy as np
import pytest

from tfmusictag import metrics


def test_weighted_auc_by_hand():
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 0]])
    s = np.array([[0.9, 0.2, 0.5], [0.4, 0.8, 0.5], [0.5, 0.3, 0.5], [0.1, 0.1, 0.5]])
    r = metrics.tag_report(y, s, ["a", "b", "c"])
    # a: positives .9, .4 vs negatives .5, .1 → 3 of 4 pairs ordered → 0.75
    # b: positives .8, .3, .1 vs negative .2 → 2 of 3 → 0.667; weights 2 and 3 positives
    assert r["per_tag"]["a"]["roc_auc"] == pytest.approx(0.75)
    assert r["per_tag"]["b"]["roc_auc"] == pytest.approx(2 / 3)
    assert r["weighted_roc_auc"] == pytest.approx((0.75 * 2 + 2 / 3 * 3) / 5)
    assert r["macro_roc_auc"] == pytest.approx((0.75 + 2 / 3) / 2)
    assert r["excluded"] == {"c": "no positive track"}


def test_ties_count_half_and_metrics_match_sklearn():
    from sklearn.metrics import average_precision_score, roc_auc_score

    assert metrics.roc_auc([0, 1, 0, 1], [0.3, 0.3, 0.2, 0.8]) == pytest.approx(0.875)
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 2, 40)
        if y.min() == y.max():
            continue
        s = np.round(rng.random(40), 1)  # many ties
        assert metrics.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
        assert metrics.average_precision(y, s) == pytest.approx(average_precision_score(y, s))
