"""Decided tags and calibrated probabilities of the small-catalog recipe, against simple rules.

A tagger that says "house, kick, dark" must decide which probabilities are tags, and the
probabilities it shows must mean what they say. This benchmark trains the small-catalog recipe
(``python -m tfmusictag.train`` without ``--variant``, called in-process) on K folds of a catalog —
every track held out once — and scores, on the same held-out predictions of the same models:

* ``decided`` — the model's decided tags: its calibrated probabilities
  (:mod:`tfmusictag.calibration`) at its per-tag thresholds (:mod:`tfmusictag.thresholds`), both
  fitted by :func:`tfmusictag.decisions.fit_decisions` on the out-of-fold predictions over the
  fold's training tracks (:mod:`tfmusictag.training.out_of_fold`); the held-out tracks never enter;
* ``flat_0.5`` — 0.5 for every tag on the network's own probabilities (what a user of any
  tagger would try first), and ``flat_0.5_calibrated`` — 0.5 on the calibrated ones;
* ``top_k`` — the ``k`` most probable tags of every track, ``k`` the mean number of tags per
  training track (rounded), what ``predict --top_k`` gives.

Scores: micro F1 (every track × tag decision pooled) and macro F1 (the mean over tags with a
positive held-out track) per fold; expected calibration error and Brier score of the network's and
of the calibrated probabilities per fold and pooled over folds
(:func:`tfmusictag.calibration.reliability`); the share of held-out tracks with no decided tag or
every tag; the range of the fitted thresholds.

The decisions are fitted from each run's ``decision_data.npz`` by the same
:func:`~tfmusictag.decisions.fit_decisions` call that ends :func:`tfmusictag.training.train` (the
benchmark checks that they equal the model's own), so ``--reuse`` measures a change to the
decision rules on the folds' existing runs without training them again.

Usage::

    python benchmarks/bench_decisions.py [--dataset demo_catalog/small] [--folds 5]
    python benchmarks/bench_decisions.py --catalog=real    # 119 real tracks (bench_small_catalog.py)
"""

import argparse
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _music import save_result  # noqa: E402
from bench_small_catalog import fold_splits, open_catalog  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RULES = ("decided", "flat_0.5", "flat_0.5_calibrated", "top_k")


def top_k_mask(scores, k):
    """The ``k`` highest scores of every row, as a boolean mask."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    mask = np.zeros(scores.shape, bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def fold_scores(y, p, fitted, tags, k_top):
    """Micro/macro F1 of every rule, and calibration figures, on one fold's held-out ``y``, ``p``."""
    from tfmusictag.calibration import calibrate, reliability
    from tfmusictag.thresholds import decision_report

    q = calibrate(p, [fitted["calibration"]["maps"][t] for t in tags])
    cuts = np.array([fitted["thresholds"][t] for t in tags])
    masks = {"decided": q >= cuts, "flat_0.5": p >= 0.5, "flat_0.5_calibrated": q >= 0.5, "top_k": top_k_mask(p, k_top)}
    out = {}
    for rule, mask in masks.items():
        r = decision_report(y, mask.astype(float), [0.5] * len(tags), tags)
        out[rule] = {"micro_f1": r["micro"]["f1"], "macro_f1": r["macro"]["f1"]}
    d = masks["decided"]
    out["empty_fraction"] = round(float((d.sum(1) == 0).mean()), 4)
    out["all_fraction"] = round(float((d.sum(1) == d.shape[1]).mean()), 4)
    before, after = reliability(y, p), reliability(y, q)
    out["calibration_figures"] = {"ece_before": before["ece"], "ece_after": after["ece"], "brier_before": before["brier"],
                          "brier_after": after["brier"], "extreme_before": before["extreme_fraction"],
                          "extreme_after": after["extreme_fraction"]}
    return out, q


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="demo_catalog/small")
    parser.add_argument("--catalog", choices=("demo", "real"), default="demo")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep a fold's finished run in --work (refit its decisions)")
    parser.add_argument("--work", default=None, help="default: _work/decisions (_real)")
    parser.add_argument("--out", default=None, help="default: results/decisions.json (decisions_real.json)")
    args = parser.parse_args()
    args.dataset, args.data_dir, manual_dir, splits = open_catalog(args.catalog, args.dataset, args.data_dir)
    suffix = "_real" if args.catalog == "real" else ""
    out = args.out or os.path.join(HERE, "results", f"decisions{suffix}.json")
    work = args.work or os.path.join(HERE, "_work", f"decisions{suffix}")

    from absl import logging as absl_logging

    from tfmusictag import data
    from tfmusictag.calibration import reliability
    from tfmusictag.decisions import fit_decisions
    from tfmusictag.evaluation import evaluate_model
    from tfmusictag.rundir import RunDir, load_model
    from tfmusictag.training import TrainConfig, train

    absl_logging.set_verbosity(absl_logging.WARNING)
    folds, pooled, started = [], {"y": [], "p": [], "q": []}, time.perf_counter()
    for k in range(args.folds):
        train_split, held_split = fold_splits(k, args.folds, splits)
        model_dir = os.path.join(work, f"fold{k}")
        run = RunDir(model_dir)
        if not (args.reuse and os.path.exists(run.file("model.keras"))
                and run.read_train_config().get("train_split") == train_split):
            shutil.rmtree(model_dir, ignore_errors=True)
            config = TrainConfig(dataset=args.dataset, data_dir=args.data_dir, manual_dir=manual_dir,
                                 train_split=train_split, eval_split=held_split)  # the recipe (default variant)
            train(config, model_dir, progress=False, log=lambda _: None)
        assert run.read_thresholds()["split"] == train_split  # fitted out of fold, not on the held-out tracks
        model = load_model(model_dir)
        tags = list(model.tags)
        fit_y, fit_p = run.read_decision_data()
        fitted = fit_decisions(fit_y, fit_p, tags)  # what train() ends with, by the current code
        same = (tuple(fitted["thresholds"][t] for t in tags) == model.tagger_config.thresholds
                and tuple(tuple(fitted["calibration"]["maps"][t]) for t in tags) == model.tagger_config.calibration)
        held, dataset_tags = data.load_split(args.dataset, held_split, args.data_dir, manual_dir=manual_dir)
        pipe = data.PipelineConfig(batch_size=4, shuffle_buffer=0, cache=None)
        _, y, p, _ = evaluate_model(model, data.track_pipeline(held, dataset_tags, tags, model.front_end_config, pipe),
                                    tags)
        train_ds, _ = data.load_split(args.dataset, train_split, args.data_dir, manual_dir=manual_dir)
        k_top = max(1, int(round(float(data.split_labels(train_ds, dataset_tags, tags).sum(1).mean()))))
        scores, q = fold_scores(y, p, fitted, tags, k_top)
        cuts = list(fitted["thresholds"].values())
        folds.append({"held_out_tracks": int(len(y)), "fitting_tracks": int(len(fit_y)), "top_k": k_top,
                      "rule": fitted["rule"], "calibration": fitted["calibration"]["method"],
                      "model_has_these_decisions": bool(same),
                      "threshold_range": [round(min(cuts), 4), round(max(cuts), 4)], **scores})
        for key, v in (("y", y), ("p", p), ("q", q)):
            pooled[key].append(v)
        f = folds[-1]
        print(f"fold {k + 1}/{args.folds} ({len(y)} held-out tracks, rule {f['rule']}, calibration "
              f"{f['calibration']}): " + ", ".join(f"{r} {f[r]['micro_f1']:.3f}/{f[r]['macro_f1']:.3f}" for r in RULES)
              + f"; ECE {f['calibration_figures']['ece_before']:.3f} → {f['calibration_figures']['ece_after']:.3f}",
              flush=True)

    summary = {r: {f"{m}_{s}": round(float(fn([f[r][m] for f in folds])), 4) for m in ("micro_f1", "macro_f1")
                   for s, fn in (("mean", np.mean), ("std", np.std))} for r in RULES}
    wins = {base: int(sum(f["decided"]["micro_f1"] > f[base]["micro_f1"] and f["decided"]["macro_f1"] > f[base]["macro_f1"]
                          for f in folds)) for base in RULES[1:]}
    all_three = int(sum(all(f["decided"][m] > f[b][m] for b in ("flat_0.5", "top_k") for m in ("micro_f1", "macro_f1"))
                        for f in folds))
    y, p, q = (np.concatenate(pooled[key]) for key in ("y", "p", "q"))
    before, after = reliability(y, p), reliability(y, q)
    cuts = [c for f in folds for c in f["threshold_range"]]
    result = {"dataset": args.dataset, "catalog": args.catalog, "folds": args.folds, "model": "recipe",
              "rules": summary, "folds_decided_beats_on_both": wins,
              "folds_decided_beats_flat_and_top_k_on_both": all_three,
              "calibration_pooled": {"network": before, "calibrated": after},
              "threshold_range": [min(cuts), max(cuts)], "per_fold": folds,
              "seconds": round(time.perf_counter() - started, 1)}
    print("| decision rule | micro F1 (mean ± std over folds) | macro F1 |")
    print("|---|---|---|")
    for r, v in summary.items():
        print(f"| {r} | {v['micro_f1_mean']:.3f} ± {v['micro_f1_std']:.3f} | {v['macro_f1_mean']:.3f} ± {v['macro_f1_std']:.3f} |")
    print(f"decided beats flat 0.5 and top-k on both F1s in {all_three}/{args.folds} folds; pooled ECE "
          f"{before['ece']:.3f} → {after['ece']:.3f}, Brier {before['brier']:.3f} → {after['brier']:.3f}")
    save_result(out, result)


if __name__ == "__main__":
    main()
