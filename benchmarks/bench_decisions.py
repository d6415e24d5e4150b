"""Decided tags: per-tag thresholds fitted out of fold against one global cut and against top-k.

A tagger that says "house, kick, dark" must decide which probabilities are tags. This benchmark
trains the small-catalog recipe (``python -m tfmusictag.train`` without ``--variant``, called
in-process) on K folds of a catalog — every track held out once — and scores three decision rules
on the same held-out predictions of the same models:

* ``calibrated`` — the thresholds training stores with the model: F1-optimal per tag by the rule
  chosen on folds of the out-of-fold predictions over the fold's training tracks
  (:mod:`tfmusictag.thresholds`, :mod:`tfmusictag.training.out_of_fold`); the held-out tracks
  never enter;
* ``global_0.5`` — one threshold of 0.5 for every tag;
* ``top_k`` — the ``k`` most probable tags of every track, ``k`` the mean number of tags per
  training track (rounded), what ``predict --top_k`` gives.

Scores: micro F1 (every track × tag decision pooled) and macro F1 (the mean over tags with a
positive held-out track), mean and standard deviation over folds (:func:`tfmusictag.thresholds.decision_report`).

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
RULES = ("calibrated", "global_0.5", "top_k")


def top_k_mask(scores, k):
    """The ``k`` highest scores of every row, as a boolean mask."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    mask = np.zeros(scores.shape, bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="demo_catalog/small")
    parser.add_argument("--catalog", choices=("demo", "real"), default="demo")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--work", default=os.path.join(HERE, "_work", "decisions"))
    parser.add_argument("--out", default=None, help="default: results/decisions.json (decisions_real.json)")
    args = parser.parse_args()
    args.dataset, args.data_dir, manual_dir, splits = open_catalog(args.catalog, args.dataset, args.data_dir)
    out = args.out or os.path.join(HERE, "results", "decisions" + ("_real" if args.catalog == "real" else "") + ".json")

    from absl import logging as absl_logging

    from tfmusictag import data
    from tfmusictag.evaluation import evaluate_model
    from tfmusictag.rundir import RunDir, load_model
    from tfmusictag.thresholds import decision_report
    from tfmusictag.training import TrainConfig, train

    absl_logging.set_verbosity(absl_logging.WARNING)
    per_fold = {r: {"micro_f1": [], "macro_f1": []} for r in RULES}
    ks, rules, started = [], [], time.perf_counter()
    for k in range(args.folds):
        train_split, held_split = fold_splits(k, args.folds, splits)
        model_dir = os.path.join(args.work, f"fold{k}")
        shutil.rmtree(model_dir, ignore_errors=True)
        config = TrainConfig(dataset=args.dataset, data_dir=args.data_dir, manual_dir=manual_dir,
                             train_split=train_split, eval_split=held_split)  # the recipe (default variant)
        train(config, model_dir, progress=False, log=lambda _: None)
        assert RunDir(model_dir).read_thresholds()["split"] == train_split  # fitted out of fold, not held out
        model = load_model(model_dir)
        held, tags = data.load_split(args.dataset, held_split, args.data_dir, manual_dir=manual_dir)
        pipe = data.PipelineConfig(batch_size=4, shuffle_buffer=0, cache=None)
        _, y, p, _ = evaluate_model(model, data.track_pipeline(held, tags, model.tags, model.front_end_config, pipe),
                                    model.tags)
        train_ds, _ = data.load_split(args.dataset, train_split, args.data_dir, manual_dir=manual_dir)
        k_top = max(1, int(round(float(data.split_labels(train_ds, tags, model.tags).sum(1).mean()))))
        ks.append(k_top)
        rules.append(RunDir(model_dir).read_thresholds().get("rule"))
        decisions = {"calibrated": decision_report(y, p, model.tagger_config.thresholds, model.tags),
                     "global_0.5": decision_report(y, p, [0.5] * len(model.tags), model.tags),
                     "top_k": decision_report(y, top_k_mask(p, k_top).astype(float), [0.5] * len(model.tags),
                                              model.tags)}
        for rule, report in decisions.items():
            per_fold[rule]["micro_f1"].append(report["micro"]["f1"])
            per_fold[rule]["macro_f1"].append(report["macro"]["f1"])
        print(f"fold {k + 1}/{args.folds} (k={k_top}, {len(y)} held-out tracks): " + ", ".join(
            f"{r} micro {per_fold[r]['micro_f1'][-1]:.3f} macro {per_fold[r]['macro_f1'][-1]:.3f}" for r in RULES),
            flush=True)

    summary = {r: {f"{m}_{s}": round(float(f(v[m])), 4) for m in ("micro_f1", "macro_f1")
                   for s, f in (("mean", np.mean), ("std", np.std))} | {
                       "per_fold": {m: v[m] for m in ("micro_f1", "macro_f1")}}
               for r, v in per_fold.items()}
    print("| decision rule | micro F1 (mean ± std over folds) | macro F1 |")
    print("|---|---|---|")
    for r, v in summary.items():
        print(f"| {r} | {v['micro_f1_mean']:.3f} ± {v['micro_f1_std']:.3f} | "
              f"{v['macro_f1_mean']:.3f} ± {v['macro_f1_std']:.3f} |")
    save_result(out, {"dataset": args.dataset, "catalog": args.catalog, "folds": args.folds, "model": "recipe",
                      "top_k_per_fold": ks, "threshold_rule_per_fold": rules, "rules": summary, "seconds": round(time.perf_counter() - started, 1)})


if __name__ == "__main__":
    main()
