"""Decided tags: one probability threshold per tag, chosen on data the model did not train on.

A musician describes a track with a set of tags ("house, kick, female vocals, dark"), not with
fifty probabilities. :func:`fit_thresholds` chooses one threshold per tag on labelled
predictions for tracks the model did not train on — out-of-fold predictions over the training
tracks, or the validation split (:func:`tfmusictag.training.train`), never the test split — after
those predictions have been calibrated (:mod:`tfmusictag.calibration`), so a threshold is a
probability that means what it says. The thresholds are stored in the model's config
(``TaggerConfig.thresholds``), so they travel into ``model.keras`` and every SavedModel.

**A tag's cut, shrunk toward a prior.** The cut that maximises a tag's F1 on a small catalog is
noisy: positives and negatives are often separated by a wide gap, and the exact F1-optimal cut can
land anywhere in it (at 6e-06 or at 0.999) and not carry over to new tracks. So each tag's cut is

* *smoothed*: the cut that maximises F1 when every probability's logit is blurred by logistic noise
  of scale σ (a cut in the middle of a gap, away from single tracks), and
* *shrunk* toward a prior cut by the tag's evidence, in logit space:
  ``logit t_j = (n_j · logit c_j + m · logit t⁰_j) / (n_j + m)``, ``n_j`` the tag's positive
  tracks in the fitting data, ``m`` the prior's weight in positives.

The prior ``t⁰_j`` is the network's own cut — 0.5 of its uncalibrated probability, where a
class-balanced loss (the small-catalog recipe's) puts the boundary between a tag's positives and
negatives — mapped by the tag's calibration (:func:`tfmusictag.decisions.fit_decisions`); without
one it is 0.5. A tag with fewer than ``min_positives`` positives takes the prior.

**Which rule.** The smoothed cut (σ = 0.5) shrunk with ``m`` ∈ {10, 30}, and the prior alone
(``m = ∞``) are the candidates (:data:`RULES`); the one whose thresholds, fitted
on all but one fold of the fitting data, decide the held-out folds best — the mean of micro and
macro F1, the folds' decisions pooled — is used (:func:`choose_rule`). The test split never
enters.

**Bounds.** For calibrated probabilities the F1-optimal threshold is half the F1 it reaches
(Lipton et al. 2014), so it lies between ``π / (1 + π)`` (``π``: the tag's share of the fitting
tracks; deciding the tag for every track already reaches ``F1 = 2π / (1 + π)``) and 0.5
(:func:`bounds`). Every cut is held within them, and never below 0.01 (:data:`BOUNDS`): a cut
outside says more about a hundred fitting tracks than about the tag.

A model without fitted thresholds (a pretrained one) can still decide by a rule that needs no
labels: :func:`decide_expected_f1` (per track, the set of tags of highest expected F1).

:func:`decision_report` scores decided tags against labels: precision, recall and F1 per tag, and
their micro and macro averages over tags.
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from tfmusictag.errors import ParameterError

__all__ = ["fit_thresholds", "choose_rule", "decide", "decide_expected_f1", "decide_expected_f1_tensor", "decide_tags",
           "describe_decision", "decision_report", "bounds", "labelled_scores", "MIN_POSITIVES", "RULES", "NAMED_RULES", "BOUNDS"]

#: Positive tracks a tag needs in the fitting data to get a threshold of its own (fewer: the prior).
MIN_POSITIVES = 3
#: Smoothing scale σ and prior weights m (positives) of the candidate rules.
SIGMAS, PRIOR_WEIGHTS = (0.5,), (10, 30)
#: The candidate rules of ``rule='auto'``, in order of preference when they score alike: the prior
#: cut alone, and the smoothed cut (``smoothed_<σ>``) shrunk toward it with weight ``m``
#: (``_shrunk_<m>``), more shrinkage first.
RULES = ("prior",) + tuple(f"smoothed_{sg:g}_shrunk_{m}" for m in PRIOR_WEIGHTS[::-1] for sg in SIGMAS)
#: Rules that may be asked for by name: the candidates, the same family with σ ∈ {0.5, 1, 2} and
#: m ∈ {3, 10, 30}, and ``per_tag``, the exact F1-optimal cut of each tag (no smoothing, no prior).
#: Heavier smoothing and the exact cut are not candidates: on held-out folds of both benchmark
#: catalogs they decided worse (``benchmarks/bench_decisions.py``), and the exact cut follows single
#: tracks to the edges of the probability range.
NAMED_RULES = RULES + tuple(f"smoothed_{sg:g}_shrunk_{m}" for m in (3, 10, 30) for sg in (0.5, 1.0, 2.0)
                            if f"smoothed_{sg:g}_shrunk_{m}" not in RULES) + ("per_tag",)
#: Folds of the fitting data that choose the rule; fewer tracks than twice this: :data:`DEFAULT_RULE`.
RULE_FOLDS = 5
DEFAULT_RULE = "smoothed_0.5_shrunk_10"
#: Every threshold lies within these bounds (and within :func:`bounds` of its tag).
BOUNDS = (0.01, 0.5)
_GRID = np.linspace(-12.0, 12.0, 961)  # candidate cuts in logit space, 0.025 apart


def _logit(t):
    t = np.clip(np.asarray(t, np.float64), 1e-7, 1 - 1e-7)
    return np.log(t) - np.log1p(-t)


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
    z = _logit(s)
    d = 1.0 / (1.0 + np.exp(-(z[None, :] - _GRID[:, None]) / sigma))
    f1 = 2 * (d @ y) / (d.sum(axis=1) + y.sum())
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    return float(1.0 / (1.0 + np.exp(-_GRID[best[len(best) // 2]])))


def bounds(labels) -> tuple:
    """``(low, high)`` per column: where an F1-optimal threshold of calibrated probabilities lies.

    For calibrated probabilities the threshold that maximises a tag's expected F1 is half the F1 it
    reaches (Lipton, Elkan and Narayanaswamy 2014). That F1 is at most 1, so the threshold is at
    most 0.5; and it is at least the F1 of deciding the tag for every track, ``2π / (1 + π)`` for a
    tag on a share ``π`` of the tracks, so the threshold is at least ``π / (1 + π)``. A cut outside
    these bounds is noise of the fitting data; the bounds hold it in (and never below 0.01)."""
    pi = np.asarray(labels, np.float64).mean(0)
    return np.maximum(BOUNDS[0], pi / (1 + pi)), np.full(pi.shape, BOUNDS[1])


def _fit(y: np.ndarray, s: np.ndarray, rule: str, prior: np.ndarray, min_positives: int):
    """``(thresholds per column, prior columns)`` of one rule, within :func:`bounds`."""
    n = y.sum(0)
    fallback = [j for j in range(y.shape[1]) if n[j] < min_positives]
    if rule == "prior":
        cuts = prior.copy()
    elif rule == "per_tag":
        cuts = np.array([prior[j] if j in fallback else _best_cut(y[:, j], s[:, j]) for j in range(y.shape[1])])
    else:
        _, sigma, _, m = rule.split("_")
        own = np.array([prior[j] if j in fallback else _smoothed_cut(y[:, j], s[:, j], float(sigma))
                        for j in range(y.shape[1])])
        m = float(m)
        cuts = 1.0 / (1.0 + np.exp(-(n * _logit(own) + m * _logit(prior)) / (n + m)))
        cuts[fallback] = prior[fallback]
    low, high = bounds(y)
    return np.clip(cuts, low, high), fallback


def labelled_scores(labels, scores, tags: Sequence[str], what: str):
    """``(labels, scores)`` as float64 ``(tracks, tags)`` arrays, checked: one shape, one column per
    tag, at least one track; ``what`` names the fit in the error."""
    y = np.asarray(labels, np.float64)
    s = np.asarray(scores, np.float64)
    if y.shape != s.shape or y.ndim != 2 or y.shape[1] != len(tags):
        raise ParameterError(f"labels {y.shape} and scores {s.shape} must both be (tracks, {len(tags)} tags)")
    if len(y) == 0:
        raise ParameterError(f"{what} needs at least one labelled track")
    return y, s


def _f1_scores(tp, fp, fn) -> float:
    """The mean of micro and macro F1 (macro over tags with a positive) of pooled counts per tag."""
    scored = (tp + fn) > 0
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    macro = float(f1[scored].mean()) if scored.any() else 0.0
    micro = float(2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1))
    return (micro + macro) / 2


def choose_rule(labels, scores, prior=None, min_positives: int = MIN_POSITIVES, folds: int = RULE_FOLDS,
                seed: int = 0) -> Dict:
    """The rule of :data:`RULES` whose thresholds, fitted on all but one fold of the tracks, decide
    the held-out folds best (the mean of micro and macro F1 over tags, the folds' decisions
    pooled); a pure function of its inputs. Returns ``{"rule", "scores": {rule: score}}``."""
    y, s = np.asarray(labels, np.float64), np.asarray(scores, np.float64)
    prior = np.full(y.shape[1], 0.5) if prior is None else np.asarray(prior, np.float64)
    if len(y) < 2 * folds:
        return {"rule": DEFAULT_RULE, "scores": {}}
    fold_of = np.empty(len(y), int)
    fold_of[np.random.default_rng(seed).permutation(len(y))] = np.arange(len(y)) % folds
    scores_by_rule = {}
    for rule in RULES:
        tp = fp = fn = np.zeros(y.shape[1])
        for f in range(folds):
            fit, held = fold_of != f, fold_of == f
            cuts, _ = _fit(y[fit], s[fit], rule, prior, min_positives)
            d, t = s[held] >= cuts, y[held] > 0
            tp, fp, fn = tp + (d & t).sum(0), fp + (d & ~t).sum(0), fn + (~d & t).sum(0)
        scores_by_rule[rule] = round(_f1_scores(tp, fp, fn), 4)
    best = max(RULES, key=lambda r: (scores_by_rule[r], -RULES.index(r)))
    return {"rule": best, "scores": scores_by_rule}


def fit_thresholds(labels, scores, tags: Sequence[str], prior=None, min_positives: int = MIN_POSITIVES,
                   rule: str = "auto", seed: int = 0) -> Dict:
    """Per-tag thresholds for ``labels`` ``(tracks, tags)`` and ``scores`` (the model's calibrated
    probabilities for the same tracks); see the module docstring.

    Args:
        labels: 0/1 ``(tracks, tags)``.
        scores: probabilities ``(tracks, tags)``.
        tags: the tag names, in column order.
        prior: the prior cut of every tag (default 0.5 each).
        min_positives: positive tracks a tag needs for a threshold of its own; fewer: its prior.
        rule: one of :data:`NAMED_RULES`, or ``"auto"``: chosen by :func:`choose_rule` on these data.
        seed: the folds of :func:`choose_rule`.

    Returns:
        ``{"thresholds": {tag: float}, "prior": {tag: float}, "fallback": [tags given their
        prior], "criterion": "f1", "rule": str, "rule_scores": {rule: score}, "min_positives",
        "tracks"}``; a pure function of its inputs.
    """
    y, s = labelled_scores(labels, scores, tags, "fitting thresholds")
    if int(min_positives) < 1:
        raise ParameterError(f"min_positives={min_positives!r} must be a positive integer")
    if rule != "auto" and rule not in NAMED_RULES:
        raise ParameterError(f"rule={rule!r} must be 'auto' or one of {NAMED_RULES}")
    prior = np.full(y.shape[1], 0.5) if prior is None else np.clip(np.asarray(prior, np.float64), *BOUNDS)
    if prior.shape != (y.shape[1],):
        raise ParameterError(f"prior {prior.shape} must hold one cut per tag ({y.shape[1]})")
    chosen = (choose_rule(y, s, prior, int(min_positives), seed=seed) if rule == "auto"
              else {"rule": rule, "scores": {}})
    cuts, fallback = _fit(y, s, chosen["rule"], prior, int(min_positives))
    return {"thresholds": {tag: round(float(c), 6) for tag, c in zip(tags, cuts)},
            "prior": {tag: round(float(c), 6) for tag, c in zip(tags, prior)},
            "fallback": [tags[j] for j in fallback], "criterion": "f1", "rule": chosen["rule"],
            "rule_scores": chosen["scores"], "min_positives": int(min_positives), "tracks": int(len(y))}


def decide_expected_f1(probabilities) -> np.ndarray:
    """Per track, the tags whose set maximises the track's *expected* F1 if ``probabilities`` are
    calibrated and the tags independent: among the empty set and the ``k`` most probable tags
    (``k = 1 … L``), the one with the highest ``E[F1] ≈ 2·Σ_{i≤k} p_(i) / (k + Σ_i p_i)`` (the ratio
    of expectations, Jansche 2007; Nan et al. 2012), the empty set scoring ``Π_i (1 − p_i)`` (the
    chance that the track has no tag). Needs no labels and no thresholds: a decision rule for a
    model whose probabilities are taken at their word. ``probabilities`` ``(..., L)`` → bool mask."""
    p = np.asarray(probabilities, np.float64)
    order = np.argsort(-p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, -1)
    k = np.arange(1, p.shape[-1] + 1)
    total = ranked.sum(-1, keepdims=True)
    gain = 2 * np.cumsum(ranked, -1) / (k + total)
    best = gain.argmax(-1)
    empty = np.exp(np.log1p(-np.clip(p, 0, 1 - 1e-12)).sum(-1))
    keep = np.where(empty >= np.take_along_axis(gain, best[..., None], -1)[..., 0], 0, best + 1)
    mask = np.zeros(p.shape, bool)
    np.put_along_axis(mask, order, k <= keep[..., None], -1)
    return mask


def decide_expected_f1_tensor(probabilities):
    """:func:`decide_expected_f1` as TensorFlow ops on ``(batch, L)`` float32 (the SavedModel's
    ``decided`` signature)."""
    import tensorflow as tf

    p = tf.convert_to_tensor(probabilities, tf.float32)
    ranked = tf.sort(p, axis=-1, direction="DESCENDING")
    k = tf.cast(tf.range(1, tf.shape(p)[-1] + 1), tf.float32)
    total = tf.reduce_sum(ranked, -1, keepdims=True)
    gain = 2 * tf.cumsum(ranked, axis=-1) / (k + total)
    best = tf.argmax(gain, -1, output_type=tf.int32)
    best_gain = tf.reduce_max(gain, -1)
    empty = tf.exp(tf.reduce_sum(tf.math.log1p(-tf.minimum(p, 1 - 1e-7)), -1))
    cut = tf.gather(ranked, best, batch_dims=1)  # the k-th best probability
    return tf.logical_and(p >= cut[:, None], (empty < best_gain)[:, None])


def decide_tags(probabilities, decision: str = "thresholds", thresholds=None, threshold=None):
    """The decided tags (bool, the shape of ``probabilities``) by a model's rule, or ``None`` when it
    decides nothing: one ``threshold`` for every tag when given; else ``decision='expected_f1'``
    (:func:`decide_expected_f1`) or the per-tag ``thresholds`` (none: ``None``)."""
    p = np.asarray(probabilities, np.float64)
    if threshold is not None:
        return p >= float(threshold)
    if decision == "expected_f1":
        return decide_expected_f1(p)
    if thresholds is None or len(thresholds) == 0:
        return None
    return decide(p, thresholds)


def describe_decision(decision: str = "thresholds", thresholds=None, fitted=None, threshold=None) -> str:
    """One line saying how a model's tags are decided, for every output that shows decided tags:
    ``fitted`` is where the thresholds came from (``thresholds.json``: ``dataset``, ``split``,
    ``method``, ``rule``)."""
    if threshold is not None:
        return f"every tag at probability {float(threshold):g} (given)"
    if decision == "expected_f1":
        return "expected F1 per track (a label-free rule: no fitted thresholds)"
    if thresholds is None or len(thresholds) == 0:
        return "no decisions (probabilities only: the model has no decision thresholds)"
    if not fitted:
        return "per-tag thresholds stored with the model"
    rule = f", rule {fitted['rule']}" if fitted.get("rule") else ""
    return (f"thresholds fitted on {fitted.get('dataset', 'its training data')} "
            f"({fitted.get('split', '?')} split, {fitted.get('method', '?')}{rule})")


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
