"""tfmusictag.decisions: calibration first, then thresholds on the calibrated probabilities, each
tag's prior the network's own cut (0.5) mapped by its calibration; the same data and seed give the
same decisions (the run's ``thresholds.json`` and a refit of its kept predictions agree:
``test_thresholds.py``)."""

import numpy as np
import pytest

from tfmusictag.calibration import calibrate
from tfmusictag.decisions import fit_decisions
from tfmusictag.thresholds import BOUNDS


def _overconfident(n, k, seed=0, scale=4.0, shift=-1.0):
    """Labels drawn from σ(z − 0.8) and a network that says σ(4z − 1): right order, far too sure."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1, (n, k))
    y = (rng.random((n, k)) < 1 / (1 + np.exp(-(z - 0.8)))).astype(float)
    return y, 1 / (1 + np.exp(-(scale * z + shift)))


def test_fit_decisions_calibrates_then_thresholds_within_bounds():
    y, p = _overconfident(200, 6, seed=7)
    fitted = fit_decisions(y, p, list("abcdef"))
    maps = [fitted["calibration"]["maps"][t] for t in "abcdef"]
    q = calibrate(p, maps)
    assert fitted["reliability_after"]["ece"] < fitted["reliability_before"]["ece"]
    assert all(BOUNDS[0] <= t <= BOUNDS[1] for t in fitted["thresholds"].values())
    # the prior is the network's own 0.5, mapped by each tag's calibration
    assert list(fitted["prior"].values()) == pytest.approx(calibrate(np.full((1, 6), 0.5), maps)[0], abs=1e-6)
    report = fitted["decisions_on_that_split"]
    d = q >= np.array([fitted["thresholds"][t] for t in "abcdef"])
    tp, fp, fn = (d & (y > 0)).sum(), (d & (y == 0)).sum(), (~d & (y > 0)).sum()
    assert report["micro"]["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-4)


def test_the_same_predictions_and_seed_give_the_same_decisions_in_any_tag_order():
    y, p = _overconfident(120, 4, seed=3)
    tags = ["w", "x", "y", "z"]
    first, again = fit_decisions(y, p, tags, seed=1), fit_decisions(y, p, tags, seed=1)
    assert first["thresholds"] == again["thresholds"] and first["calibration"] == again["calibration"]
    assert list(first["thresholds"]) == tags and list(first["calibration"]["maps"]) == tags
    # a tag's decision depends on its own column only: reordering the tags reorders the result
    order = [2, 0, 3, 1]
    swapped = fit_decisions(y[:, order], p[:, order], [tags[i] for i in order], seed=1)
    assert swapped["calibration"]["method"] == first["calibration"]["method"]
    for t in tags:
        np.testing.assert_allclose(swapped["calibration"]["maps"][t], first["calibration"]["maps"][t], atol=1e-9)
        assert swapped["thresholds"][t] == pytest.approx(first["thresholds"][t], abs=1e-9)
