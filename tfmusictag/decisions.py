"""Fitting how a trained model shows and decides its tags: calibration, then thresholds.

Both are fitted at the end of training (:func:`tfmusictag.training.train`) on predictions for
tracks the model did not train on — out-of-fold predictions over the training tracks, or the
validation split — never on the test split:

1. the Platt map of every tag (:func:`tfmusictag.calibration.fit_calibration`), so that the
   probabilities every output shows are calibrated;
2. the decision thresholds, on those calibrated probabilities
   (:func:`tfmusictag.thresholds.fit_thresholds`; the rule chosen by cross-validation on the same
   data), each tag's shrunk toward the network's own cut — 0.5 of its uncalibrated probability,
   mapped by the tag's calibration.

The result is stored with the run (``thresholds.json``) and in the model's config
(``TaggerConfig.calibration``, ``TaggerConfig.thresholds``), so it travels into ``model.keras``
and every SavedModel.
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from tfmusictag.calibration import calibrate, fit_calibration, reliability
from tfmusictag.thresholds import decision_report, fit_thresholds

__all__ = ["fit_decisions"]


def fit_decisions(labels, scores, tags: Sequence[str], seed: int = 0) -> Dict:
    """Calibration maps and per-tag thresholds for ``scores`` (the network's probabilities,
    ``(tracks, tags)``) against 0/1 ``labels``.

    Returns:
        :func:`~tfmusictag.thresholds.fit_thresholds`'s result on the calibrated probabilities,
        with ``calibration`` (:func:`~tfmusictag.calibration.fit_calibration`'s result),
        ``reliability_before``/``reliability_after`` (:func:`~tfmusictag.calibration.reliability`
        of the fitting data without and with the maps; its bins left out) and
        ``decisions_on_that_split`` (micro and macro F1 of the decided tags on the fitting data).
    """
    calibration = fit_calibration(labels, scores, tags, seed=seed)
    maps = [calibration["maps"][t] for t in tags]
    calibrated = calibrate(scores, maps)
    prior = calibrate(np.full((1, len(tags)), 0.5), maps)[0]  # the network's own cut, calibrated
    fitted = fit_thresholds(labels, calibrated, tags, prior=prior, seed=seed)
    report = decision_report(labels, calibrated, [fitted["thresholds"][t] for t in tags], tags)
    brief = lambda r: {k: v for k, v in r.items() if k != "bins"}  # noqa: E731
    return {**fitted, "calibration": calibration,
            "reliability_before": brief(reliability(labels, scores)),
            "reliability_after": brief(reliability(labels, calibrated)),
            "decisions_on_that_split": {"micro": report["micro"], "macro": report["macro"]}}
