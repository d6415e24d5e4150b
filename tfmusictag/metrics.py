"""Evaluation metrics: per-tag ROC-AUC, the thesis's weighted AUC, macro ROC-AUC and PR-AUC.

Thesis Section 4.2: "AUC is computed for L labels and averaged … we use *weighted average*
because our validation set is small and number of occurrences of each label is not balanced."
The weighted AUC (WAUC) weighs each tag's ROC-AUC by its number of positives in the evaluation
set. A tag without positives or without negatives has no ROC-AUC; it is listed and excluded
from every average.

AUCs are computed exactly (Mann–Whitney U with average ranks for ties; average precision for
PR-AUC) rather than with ``keras.metrics.AUC``, whose fixed thresholds (200 by default)
approximate the curve — on a 100-track validation set the exact value is cheap and the
approximation error would be visible in the second decimal the thesis reports.
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from tfmusictag.errors import ParameterError

__all__ = ["roc_auc", "average_precision", "roc_curve", "tag_report"]


def _check(y_true, y_score):
    y_true = np.asarray(y_true, dtype=np.float64)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.shape != y_score.shape or y_true.ndim != 1:
        raise ParameterError(f"y_true {y_true.shape} and y_score {y_score.shape} must be equal-length vectors")
    if not np.isin(y_true, (0, 1)).all():
        raise ParameterError("y_true must hold only 0 and 1")
    if not np.isfinite(y_score).all():
        raise ParameterError("y_score holds NaN or infinite values")
    return y_true, y_score


def _average_ranks(x):
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    boundaries = np.flatnonzero(np.diff(sorted_x)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(x)]])
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = 0.5 * (s + e - 1) + 1.0
    return ranks


def roc_auc(y_true, y_score) -> float:
    """Exact area under the ROC curve; ``nan`` when a class is missing.

    The probability that a random positive scores above a random negative (ties count ½).
    """
    y_true, y_score = _check(y_true, y_score)
    n_pos = y_true.sum()
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(y_score)
    return float((ranks[y_true == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y_true, y_score) -> float:
    """Area under the precision–recall curve as average precision; ``nan`` without positives."""
    y_true, y_score = _check(y_true, y_score)
    n_pos = y_true.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-y_score, kind="mergesort")
    scores, truth = y_score[order], y_true[order]
    # group tied scores: precision/recall are evaluated after each distinct threshold
    last = np.concatenate([np.flatnonzero(np.diff(scores)), [len(scores) - 1]])
    tp = np.cumsum(truth)[last]
    predicted = last + 1
    precision, recall = tp / predicted, tp / n_pos
    recall_step = np.diff(np.concatenate([[0.0], recall]))
    return float((recall_step * precision).sum())


def roc_curve(y_true, y_score):
    """False- and true-positive rates at every distinct score threshold (for plots)."""
    y_true, y_score = _check(y_true, y_score)
    order = np.argsort(-y_score, kind="mergesort")
    scores, truth = y_score[order], y_true[order]
    last = np.concatenate([np.flatnonzero(np.diff(scores)), [len(scores) - 1]])
    tp, fp = np.cumsum(truth)[last], np.cumsum(1 - truth)[last]
    pos, neg = max(truth.sum(), 1), max(len(truth) - truth.sum(), 1)
    return np.concatenate([[0.0], fp / neg]), np.concatenate([[0.0], tp / pos])


def tag_report(y_true, y_score, tags: Sequence[str]) -> Dict:
    """Every metric of an evaluation, per tag and averaged.

    Parameters
    ----------
    y_true : np.ndarray [shape=(tracks, L)], 0/1
    y_score : np.ndarray [shape=(tracks, L)], predicted probabilities
    tags : sequence of L names

    Returns
    -------
    dict
        ``weighted_roc_auc`` (the thesis's WAUC), ``macro_roc_auc``, ``macro_pr_auc``,
        ``per_tag`` (``{tag: {"roc_auc", "pr_auc", "positives"}}`` for evaluable tags),
        ``excluded`` (``{tag: reason}``), ``tracks``.
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    if y_true.shape != y_score.shape or y_true.ndim != 2 or y_true.shape[1] != len(tags):
        raise ParameterError(f"y_true {y_true.shape}, y_score {y_score.shape} and {len(tags)} tags disagree")
    per_tag, excluded = {}, {}
    for j, tag in enumerate(tags):
        pos = int(y_true[:, j].sum())
        if pos == 0:
            excluded[tag] = "no positive track"
        elif pos == len(y_true):
            excluded[tag] = "no negative track"
        else:
            per_tag[tag] = {"roc_auc": roc_auc(y_true[:, j], y_score[:, j]),
                            "pr_auc": average_precision(y_true[:, j], y_score[:, j]), "positives": pos}
    if per_tag:
        aucs = np.array([m["roc_auc"] for m in per_tag.values()])
        weights = np.array([m["positives"] for m in per_tag.values()], dtype=np.float64)
        summary = {"weighted_roc_auc": float((aucs * weights).sum() / weights.sum()),
                   "macro_roc_auc": float(aucs.mean()),
                   "macro_pr_auc": float(np.mean([m["pr_auc"] for m in per_tag.values()]))}
    else:
        summary = {"weighted_roc_auc": float("nan"), "macro_roc_auc": float("nan"), "macro_pr_auc": float("nan")}
    return {**summary, "per_tag": per_tag, "excluded": excluded, "tracks": int(len(y_true))}
