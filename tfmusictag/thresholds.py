"""Decided tags: one probability threshold per tag, chosen on data the model did not train on.

A musician describes a track with a set of tags ("house, kick, female vocals, dark"), not with
fifty probabilities. A tagger's probabilities are not calibrated alike across tags — a rare tag
may be right at 0.2 and a frequent one wrong at 0.6 — so one global cut (0.5, or the ``k`` best)
decides badly; a threshold per tag does better. :func:`fit_thresholds` chooses each tag's threshold
to maximise its F1 (the harmonic mean of precision and recall: a tag said when it is there, not
said when it is not) on labelled predictions; training fits them on the validation split at the
end of every run (:func:`tfmusictag.training.train`), never on the test split, and stores them in
the model's config (``TaggerConfig.thresholds``), so they travel into ``model.keras`` and every
SavedModel.

**Fallback.** A tag with fewer than ``min_positives`` positive tracks in the fitting data (a rare
tag on a small validation split; a tag never seen) gets the *pooled* threshold instead: the one
cut that maximises F1 over all tags' predictions together (micro F1). One lucky or unlucky track
should not set a tag's threshold; the pooled cut is what the model's probabilities mean overall.

:func:`decision_report` scores decided tags against labels: precision, recall and F1 per tag, and
their micro and macro averages over tags.
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from tfmusictag.errors import ParameterError

__all__ = ["fit_thresholds", "decide", "decision_report", "MIN_POSITIVES"]

#: Positive tracks a tag needs in the fitting data to get a threshold of its own.
MIN_POSITIVES = 3


def _best_cut(y: np.ndarray, s: np.ndarray) -> float:
    """The threshold maximising F1 of ``s >= threshold`` against ``y`` (1-D arrays): midway between
    the lowest score kept and the next lower score, so that a new track's score between the two
    falls on the side the data put it on. Ties in F1 keep the higher threshold (fewer tags said)."""
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    positives = y.sum()
    if positives == 0:
        return 1.0
    last = np.r_[s[1:] != s[:-1], True]  # where a run of equal scores ends: possible cuts
    tp = np.cumsum(y)[last]
    kept = np.flatnonzero(last) + 1
    f1 = 2 * tp / (kept + positives)
    best = int(np.argmax(f1))  # first maximum: the highest threshold among ties
    at = kept[best] - 1
    below = s[at + 1] if at + 1 < len(s) else 0.0
    return float((s[at] + below) / 2)


def fit_thresholds(labels, scores, tags: Sequence[str], min_positives: int = MIN_POSITIVES) -> Dict:
    """Per-tag thresholds that maximise each tag's F1 on ``labels`` ``(tracks, tags)`` and ``scores``
    (the model's probabilities for the same tracks); see the module docstring.

    Args:
        labels: 0/1 ``(tracks, tags)``.
        scores: probabilities ``(tracks, tags)``.
        tags: the tag names, in column order.
        min_positives: positive tracks a tag needs for a threshold of its own; fewer: the pooled one.

    Returns:
        ``{"thresholds": {tag: float}, "pooled": float, "fallback": [tags given the pooled
        threshold], "criterion": "f1", "tracks": n}``; a pure function of its inputs.
    """
    y = np.asarray(labels, np.float64)
    s = np.asarray(scores, np.float64)
    if y.shape != s.shape or y.ndim != 2 or y.shape[1] != len(tags):
        raise ParameterError(f"labels {y.shape} and scores {s.shape} must both be (tracks, {len(tags)} tags)")
    if len(y) == 0:
        raise ParameterError("fitting thresholds needs at least one labelled track")
    if int(min_positives) < 1:
        raise ParameterError(f"min_positives={min_positives!r} must be a positive integer")
    pooled = _best_cut(y.ravel(), s.ravel())
    thresholds, fallback = {}, []
    for j, tag in enumerate(tags):
        if y[:, j].sum() >= min_positives:
            thresholds[tag] = round(_best_cut(y[:, j], s[:, j]), 6)
        else:
            thresholds[tag] = round(pooled, 6)
            fallback.append(tag)
    return {"thresholds": thresholds, "pooled": round(pooled, 6), "fallback": fallback, "criterion": "f1",
            "min_positives": int(min_positives), "tracks": int(len(y))}


def decide(scores, thresholds) -> np.ndarray:
    """``scores >= thresholds``: the decided tags as a boolean array of the scores' shape."""
    return np.asarray(scores) >= np.asarray(thresholds, np.float64)


def decision_report(labels, scores, thresholds, tags: Sequence[str]) -> Dict:
    """Precision, recall and F1 of decided tags (``scores >= thresholds``) against ``labels``.

    Returns:
        ``{"per_tag": {tag: {"precision", "recall", "f1", "positives", "decided"}}, "micro":
        {...}, "macro": {...}}``: micro pools every (track, tag) decision; macro averages the tags
        that have a positive track (precision of a tag never decided counts as 0).
    """
    y = np.asarray(labels, bool)
    d = decide(scores, thresholds)

    def prf(tp, fp, fn):
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": round(float(precision), 4), "recall": round(float(recall), 4), "f1": round(float(f1), 4)}

    per_tag = {}
    for j, tag in enumerate(tags):
        tp, fp, fn = int((d[:, j] & y[:, j]).sum()), int((d[:, j] & ~y[:, j]).sum()), int((~d[:, j] & y[:, j]).sum())
        per_tag[tag] = {**prf(tp, fp, fn), "positives": int(y[:, j].sum()), "decided": int(d[:, j].sum())}
    scored = [m for m in per_tag.values() if m["positives"]]
    macro = {k: round(float(np.mean([m[k] for m in scored])), 4) if scored else 0.0
             for k in ("precision", "recall", "f1")}
    micro = prf(int((d & y).sum()), int((d & ~y).sum()), int((~d & y).sum()))
    return {"per_tag": per_tag, "micro": micro, "macro": macro}
