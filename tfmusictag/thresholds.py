"""Decided tags: one probability threshold per tag, chosen on data the model did not train on.

A musician describes a track with a set of tags ("house, kick, female vocals, dark"), not with
fifty probabilities. A tagger's probabilities are not calibrated alike across tags — a rare tag
may be right at 0.2 and a frequent one wrong at 0.6 — so one global cut (0.5, or the ``k`` best)
can decide badly, and a threshold per tag can do better. :func:`fit_thresholds` chooses each tag's
threshold to maximise its F1 (the harmonic mean of precision and recall: a tag said when it is
there, not said when it is not) on labelled predictions for tracks the model did not train on:
out-of-fold predictions over the training tracks, or the validation split
(:func:`tfmusictag.training.train`), never the test split. The thresholds are stored in the
model's config (``TaggerConfig.thresholds``), so they travel into ``model.keras`` and every
SavedModel.

**Which rule.** On a small catalog a tag's positives and negatives are often separated by a wide
gap in the fitting data, and the exact F1-optimal cut can land anywhere in it; it may not carry over
to new tracks. So the rule is itself chosen by cross-validation on the fitting data
(:func:`choose_rule`, :data:`RULES`): the exact per-tag cut; the per-tag cut that maximises F1
when each score's logit is blurred by logistic noise of scale σ (a cut in the middle of a gap,
away from single tracks); or one threshold of 0.5 for every tag (a model trained with a
class-balanced loss puts its natural cut there). The rule with the best macro F1 on the held-out
folds of the fitting data wins; the test split never enters.

**Fallback.** A tag with fewer than ``min_positives`` positive tracks in the fitting data (a rare
tag on a small split; a tag never seen) gets the *pooled* threshold instead: the one cut that
maximises F1 over all tags' predictions together, by the same rule. One lucky or unlucky track
should not set a tag's threshold.

:func:`decision_report` scores decided tags against labels: precision, recall and F1 per tag, and
their micro and macro averages over tags.
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from tfmusictag.errors import ParameterError

__all__ = ["fit_thresholds", "choose_rule", "decide", "decision_report", "MIN_POSITIVES", "RULES"]

#: Positive tracks a tag needs in the fitting data to get a threshold of its own.
MIN_POSITIVES = 3
#: The candidate rules, in order of preference when they score alike: the exact F1-optimal cut per
#: tag, the per-tag cut under logistic logit noise of scale 0.5, 1 or 2, and 0.5 for every tag.
RULES = ("per_tag", "smoothed_0.5", "smoothed_1", "smoothed_2", "global_0.5")
#: Folds of the fitting data that choose the rule; fewer tracks than twice this: ``per_tag``.
RULE_FOLDS = 5
_GRID = np.linspace(-12.0, 12.0, 961)  # candidate cuts in logit space, 0.025 apart


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


def _smoothed_cut(y: np.ndarray, s: np.ndarray, sigma: float) -> float:
    """The threshold maximising F1 when every score's logit is blurred by logistic noise of scale
    ``sigma``: the expected decisions are ``sigmoid((logit(s) - t) / sigma)``; among equally good
    cuts, the middle one."""
    if y.sum() == 0:
        return 1.0
    z = np.log(np.clip(s, 1e-7, 1 - 1e-7)) - np.log1p(-np.clip(s, 1e-7, 1 - 1e-7))
    d = 1.0 / (1.0 + np.exp(-(z[None, :] - _GRID[:, None]) / sigma))
    f1 = 2 * (d @ y) / (d.sum(axis=1) + y.sum())
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    return float(1.0 / (1.0 + np.exp(-_GRID[best[len(best) // 2]])))


def _cut(y: np.ndarray, s: np.ndarray, rule: str) -> float:
    if rule == "global_0.5":
        return 0.5
    if rule == "per_tag":
        return _best_cut(y, s)
    return _smoothed_cut(y, s, float(rule.split("_")[1]))


def _fit(y: np.ndarray, s: np.ndarray, rule: str, min_positives: int):
    """``(thresholds per column, pooled, fallback columns)`` of one rule."""
    pooled = _cut(y.ravel(), s.ravel(), rule)
    fallback = [j for j in range(y.shape[1]) if y[:, j].sum() < min_positives]
    cuts = np.array([pooled if j in fallback else _cut(y[:, j], s[:, j], rule) for j in range(y.shape[1])])
    return cuts, pooled, fallback


def choose_rule(labels, scores, min_positives: int = MIN_POSITIVES, folds: int = RULE_FOLDS, seed: int = 0) -> Dict:
    """The rule of :data:`RULES` whose thresholds, fitted on all but one fold of the tracks, decide
    the held-out fold best (macro F1 over tags, the folds' decisions pooled); a pure function of
    its inputs. Returns ``{"rule", "scores": {rule: macro F1}}``."""
    y, s = np.asarray(labels, np.float64), np.asarray(scores, np.float64)
    if len(y) < 2 * folds:
        return {"rule": "per_tag", "scores": {}}
    fold_of = np.empty(len(y), int)
    fold_of[np.random.default_rng(seed).permutation(len(y))] = np.arange(len(y)) % folds
    scores_by_rule = {}
    for rule in RULES:
        tp = fp = fn = np.zeros(y.shape[1])
        for f in range(folds):
            fit, held = fold_of != f, fold_of == f
            cuts, _, _ = _fit(y[fit], s[fit], rule, min_positives)
            d, t = s[held] >= cuts, y[held] > 0
            tp, fp, fn = tp + (d & t).sum(0), fp + (d & ~t).sum(0), fn + (~d & t).sum(0)
        scored = (tp + fn) > 0
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
        scores_by_rule[rule] = round(float(f1[scored].mean()) if scored.any() else 0.0, 4)
    best = max(RULES, key=lambda r: (scores_by_rule[r], -RULES.index(r)))
    return {"rule": best, "scores": scores_by_rule}


def fit_thresholds(labels, scores, tags: Sequence[str], min_positives: int = MIN_POSITIVES,
                   rule: str = "auto", seed: int = 0) -> Dict:
    """Per-tag thresholds that maximise each tag's F1 on ``labels`` ``(tracks, tags)`` and ``scores``
    (the model's probabilities for the same tracks); see the module docstring.

    Args:
        labels: 0/1 ``(tracks, tags)``.
        scores: probabilities ``(tracks, tags)``.
        tags: the tag names, in column order.
        min_positives: positive tracks a tag needs for a threshold of its own; fewer: the pooled one.
        rule: one of :data:`RULES`, or ``"auto"``: chosen by :func:`choose_rule` on these data.
        seed: the folds of :func:`choose_rule`.

    Returns:
        ``{"thresholds": {tag: float}, "pooled": float, "fallback": [tags given the pooled
        threshold], "criterion": "f1", "rule": str, "rule_scores": {rule: macro F1},
        "tracks": n}``; a pure function of its inputs.
    """
    y = np.asarray(labels, np.float64)
    s = np.asarray(scores, np.float64)
    if y.shape != s.shape or y.ndim != 2 or y.shape[1] != len(tags):
        raise ParameterError(f"labels {y.shape} and scores {s.shape} must both be (tracks, {len(tags)} tags)")
    if len(y) == 0:
        raise ParameterError("fitting thresholds needs at least one labelled track")
    if int(min_positives) < 1:
        raise ParameterError(f"min_positives={min_positives!r} must be a positive integer")
    if rule != "auto" and rule not in RULES:
        raise ParameterError(f"rule={rule!r} must be 'auto' or one of {RULES}")
    chosen = choose_rule(y, s, int(min_positives), seed=seed) if rule == "auto" else {"rule": rule, "scores": {}}
    cuts, pooled, fallback = _fit(y, s, chosen["rule"], int(min_positives))
    return {"thresholds": {tag: round(float(c), 6) for tag, c in zip(tags, cuts)}, "pooled": round(pooled, 6),
            "fallback": [tags[j] for j in fallback], "criterion": "f1", "rule": chosen["rule"],
            "rule_scores": chosen["scores"], "min_positives": int(min_positives), "tracks": int(len(y))}


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
