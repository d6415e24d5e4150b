"""Calibrated probabilities: a tag's probability that means how often the tag is there.

A tagger's sigmoid outputs rank tracks well (ROC-AUC) but need not be *calibrated*: of the tracks
given 0.9 for a tag, far fewer or far more than 90 % may have it. Heads trained on a few hundred
tracks with class-balanced weights are overconfident (probabilities near 0 and 1 for tracks they
have not seen) and shifted toward the rare tags' positives. A user reads 0.99 as "sure", so the
probabilities ``predict``, the SavedModel and the library show are calibrated:

``q = σ(a_j · logit(p) + b_j)``

for tag ``j`` — Platt scaling (Platt 1999), a logistic regression of the tag's label on the logit
of its probability, fitted on predictions for tracks the model did not train on (the out-of-fold
predictions or the validation split that the decision thresholds use,
:func:`tfmusictag.training.train`). The map is monotone, so every ranking, ROC-AUC and PR-AUC is
unchanged; only what the numbers say changes.

**Shrinkage.** A tag with a handful of positives cannot support a map of its own, so each tag's
``(a_j, b_j)`` is fitted with a Gaussian prior centred on the *shared* map ``(a, b)`` (one Platt
map fitted on every tag's predictions pooled): maximum a posteriori with penalty
``λ/2 · ((a_j − a)² + (b_j − b)²)``, ``λ`` in units of tracks. ``λ → ∞`` is temperature-and-bias
scaling shared by all tags; ``λ = 0`` is plain per-tag Platt scaling.

**Which map.** :func:`fit_calibration` chooses among the identity, the shared map and per-tag maps
at several ``λ`` by the mean held-out log-likelihood on folds of the fitting data (the same tracks
never fit and score a map). Isotonic regression is not a candidate: on catalogs of a hundred
tracks its step function puts probability 0 or 1 on the ends of every tag's range, which an unseen
track falsifies at an infinite log-loss; Platt's two parameters per tag are what such data carry.

:func:`reliability` measures calibration on labelled predictions: expected calibration error
(ECE: the mean, weighted by bin size, of ``|mean probability − frequency|`` over ten equal-width
bins), the Brier score (mean squared error of the probabilities) and the bins of a reliability
diagram.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

from tfmusictag.errors import ParameterError
from tfmusictag.thresholds import labelled_scores

__all__ = ["fit_calibration", "calibrate", "calibrate_tensor", "reliability", "LAMBDAS", "FOLDS", "EPS"]

#: Prior strengths of the per-tag maps (tracks' worth of evidence for the shared map) tried by
#: :func:`fit_calibration`.
LAMBDAS = (1.0, 4.0, 16.0, 64.0)
#: Folds of the fitting data on which :func:`fit_calibration` scores the candidates.
FOLDS = 5
#: The smallest slope ``a`` of a map: every map is increasing, so rankings never change.
MIN_SLOPE = 0.01
#: Probabilities are clipped to ``[EPS, 1 − EPS]`` before their logit (float32 sigmoid outputs).
EPS = 1e-6


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable at both ends


def _platt(z: np.ndarray, y: np.ndarray, prior: np.ndarray, lam: float, iterations: int = 100) -> np.ndarray:
    """MAP Platt maps of every column: ``z``, ``y`` ``(n, k)``, prior ``(2,)`` or ``(k, 2)``, ridge
    ``lam`` toward it; Newton's method with step halving on the convex objective. Returns ``(k, 2)``
    ``[a, b]``."""
    k = z.shape[1]
    prior = np.broadcast_to(np.asarray(prior, np.float64), (k, 2))

    def objective(w):
        t = w[:, 0] * z + w[:, 1]
        return (np.logaddexp(0.0, t) - y * t).sum(0) + 0.5 * lam * ((w - prior) ** 2).sum(1)

    w = prior.copy()
    current = objective(w)
    for _ in range(iterations):
        q = _sigmoid(w[:, 0] * z + w[:, 1])  # (n, k)
        r, h = q - y, q * (1 - q)
        g = np.stack([(r * z).sum(0), r.sum(0)], 1) + lam * (w - prior)
        hzz, hz1, h11 = (h * z * z).sum(0) + lam + 1e-9, (h * z).sum(0), h.sum(0) + lam + 1e-9
        det = np.maximum(hzz * h11 - hz1 * hz1, 1e-12)
        step = np.stack([(h11 * g[:, 0] - hz1 * g[:, 1]) / det, (hzz * g[:, 1] - hz1 * g[:, 0]) / det], 1)
        scale = np.ones(k)
        for _ in range(30):  # halve each column's step until its objective does not rise
            trial = w - scale[:, None] * step
            value = objective(trial)
            worse = value > current + 1e-12
            if not worse.any():
                break
            scale = np.where(worse, scale / 2, scale)
        moved = np.abs(scale[:, None] * step).max()
        w, current = trial, np.minimum(value, current)
        if moved < 1e-9:
            break
    low = w[:, 0] < MIN_SLOPE
    if low.any():  # a tag the data say the network ranks backwards or not at all: the flattest
        # increasing map (rankings stay as the network gives them), its bias refitted
        lz, ly, lp = z[:, low], y[:, low], prior[low]
        a = np.full(low.sum(), MIN_SLOPE)
        b = lp[:, 1].copy()
        for _ in range(iterations):
            q = _sigmoid(a * lz + b)
            g = (q - ly).sum(0) + lam * (b - lp[:, 1])
            h = (q * (1 - q)).sum(0) + lam + 1e-9
            b = b - np.clip(g / h, -5.0, 5.0)
        w[low] = np.stack([a, b], 1)
    return w


def _shared(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One Platt map for every tag, fitted on all columns pooled (a tiny ridge toward the
    identity keeps it finite on separable data)."""
    return _platt(z.reshape(-1, 1), y.reshape(-1, 1), np.array([1.0, 0.0]), 1e-3)[0]


def _fit(z: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    """``(tags, 2)`` maps of one candidate method."""
    k = z.shape[1]
    if method == "identity":
        return np.tile([1.0, 0.0], (k, 1))
    shared = _shared(z, y)
    if method == "shared":
        return np.tile(shared, (k, 1))
    return _platt(z, y, shared, float(method.split("_")[-1]))


def _nll(z: np.ndarray, y: np.ndarray, maps: np.ndarray) -> float:
    q = np.clip(_sigmoid(maps[:, 0] * z + maps[:, 1]), 1e-7, 1 - 1e-7)
    return float(-(y * np.log(q) + (1 - y) * np.log1p(-q)).mean())


def candidates() -> tuple:
    """The methods :func:`fit_calibration` chooses among, simplest first."""
    return ("identity", "shared") + tuple(f"per_tag_{lam:g}" for lam in LAMBDAS)


def fit_calibration(labels, scores, tags: Sequence[str], folds: int = FOLDS, seed: int = 0,
                    method: str = "auto") -> Dict:
    """Per-tag Platt maps for ``scores`` ``(tracks, tags)`` against 0/1 ``labels``; see the module
    docstring.

    Args:
        labels: 0/1 ``(tracks, tags)``.
        scores: the model's (uncalibrated) probabilities for the same tracks.
        tags: tag names, in column order.
        folds: folds of the tracks that score the candidates; fewer than ``2 · folds`` tracks:
            the shared map.
        seed: the folds.
        method: ``"auto"`` (the candidate with the best held-out log-likelihood) or one of
            :func:`candidates`.

    Returns:
        ``{"method", "maps": {tag: [a, b]}, "held_out_log_loss": {method: mean}, "tracks"}``: a
        pure function of its inputs.
    """
    y, s = labelled_scores(labels, scores, tags, "fitting a calibration")
    if method != "auto" and method not in candidates():
        raise ParameterError(f"method={method!r} must be 'auto' or one of {candidates()}")
    z = _logit(s)
    losses: Dict[str, float] = {}
    if method == "auto":
        if len(y) < 2 * folds:
            method = "shared"
        else:
            fold_of = np.empty(len(y), int)
            fold_of[np.random.default_rng(seed).permutation(len(y))] = np.arange(len(y)) % folds
            for m in candidates():
                total = 0.0
                for f in range(folds):
                    fit, held = fold_of != f, fold_of == f
                    total += _nll(z[held], y[held], _fit(z[fit], y[fit], m)) * held.sum()
                losses[m] = round(total / len(y), 5)
            method = min(candidates(), key=lambda m: (losses[m], candidates().index(m)))
    maps = _fit(z, y, method)
    return {"method": method, "maps": {t: [round(float(a), 6), round(float(b), 6)] for t, (a, b) in zip(tags, maps)},
            "held_out_log_loss": losses, "tracks": int(len(y))}


def calibrate(scores, maps: Optional[Sequence[Sequence[float]]]) -> np.ndarray:
    """``σ(a_j · logit(p) + b_j)`` of every column ``j`` of ``scores`` (``(..., tags)``); ``maps``
    ``[[a_j, b_j], ...]`` per tag, or empty/``None``: the scores unchanged (as float64)."""
    s = np.asarray(scores, np.float64)
    if maps is None or len(maps) == 0:
        return s
    m = np.asarray(maps, np.float64)
    if m.shape != (s.shape[-1], 2):
        raise ParameterError(f"calibration maps {m.shape} must be ({s.shape[-1]} tags, 2)")
    return _sigmoid(m[:, 0] * _logit(s) + m[:, 1])


def calibrate_tensor(probabilities, maps):
    """:func:`calibrate` as TensorFlow ops, for graphs (the SavedModel's signatures): computed in
    float64 like :func:`calibrate` (float32's ``1 − EPS`` is not ``1 − 1e-6``), returned in the
    input's dtype."""
    import tensorflow as tf

    if maps is None or len(maps) == 0:
        return probabilities
    m = tf.constant(np.asarray(maps, np.float64))
    p = tf.clip_by_value(tf.cast(probabilities, tf.float64), EPS, 1 - EPS)
    q = 0.5 * (1.0 + tf.tanh(0.5 * (m[:, 0] * (tf.math.log(p) - tf.math.log1p(-p)) + m[:, 1])))
    return tf.cast(q, probabilities.dtype)


def reliability(labels, probabilities, bins: int = 10) -> Dict:
    """Calibration of ``probabilities`` against 0/1 ``labels`` (same shape; every (track, tag)
    pooled): ``{"ece", "brier", "extreme_fraction" (below 0.02 or above 0.98), "bins": [{"low",
    "high", "count", "mean_probability", "frequency"}]}`` over ``bins`` equal-width bins."""
    y = np.asarray(labels, np.float64).ravel()
    p = np.asarray(probabilities, np.float64).ravel()
    if y.shape != p.shape or not len(y):
        raise ParameterError(f"labels {np.shape(labels)} and probabilities {np.shape(probabilities)} must be "
                             "non-empty and of one shape")
    which = np.minimum((p * bins).astype(int), bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        mean_p = float(p[inside].mean()) if n else None
        freq = float(y[inside].mean()) if n else None
        if n:
            ece += n / len(p) * abs(mean_p - freq)
        table.append({"low": round(b / bins, 3), "high": round((b + 1) / bins, 3), "count": n,
                      "mean_probability": None if mean_p is None else round(mean_p, 4),
                      "frequency": None if freq is None else round(freq, 4)})
    return {"ece": round(float(ece), 4), "brier": round(float(((p - y) ** 2).mean()), 4),
            "extreme_fraction": round(float(((p < 0.02) | (p > 0.98)).mean()), 4), "base_rate": round(float(y.mean()), 4),
            "bins": table}
