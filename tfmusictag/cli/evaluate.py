"""``python -m tfmusictag.evaluate``: per-tag ROC-AUC, the thesis's weighted AUC, macro ROC/PR-AUC.

Writes ``report.json``, ``report.md``, ``predictions.npz`` and three plots to ``--out_dir`` (default
``<model_dir>/eval_<split>``); see :mod:`tfmusictag.evaluation`.

Example::

    python -m tfmusictag.evaluate --model_dir=runs/bof --dataset=demo_catalog/small --split=test
"""

import json

from absl import app, flags

from tfmusictag.cli.common import program, run_program

FLAGS = flags.FLAGS


def define_flags():
    """Command-line flags (defined only when run as a program, so importing stays side-effect free)."""
    flags.DEFINE_string("model_dir", None, "A training run's directory, a .keras file or a pretrained model name.")
    flags.DEFINE_string("dataset", None, "TFDS dataset (default: the one the model was trained on).")
    flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the training run's).")
    flags.DEFINE_string("split", "test", "Split to evaluate.")
    flags.DEFINE_string("out_dir", None, "Where to write the report (default <model_dir>/eval_<split>).")
    flags.DEFINE_integer("batch_size", 4, "Tracks per batch.")
    flags.DEFINE_integer("roc_tags", 8, "ROC curves of this many most frequent tags.")


@program
def main(argv):
    del argv
    if not FLAGS.model_dir:
        raise app.UsageError("--model_dir is required")
    from tfmusictag.evaluation import evaluate_dir

    report = evaluate_dir(FLAGS.model_dir, FLAGS.dataset, FLAGS.data_dir, FLAGS.split, FLAGS.out_dir,
                          FLAGS.batch_size, FLAGS.roc_tags)
    summary = {k: report[k] for k in ("weighted_roc_auc", "macro_roc_auc", "macro_pr_auc", "tracks")}
    c = report["calibration"]
    summary["calibration"] = {"ece": c["after"]["ece"], "brier": c["after"]["brier"],
                              "network_ece": c["before"]["ece"], "network_brier": c["before"]["brier"]}
    if "decisions" in report:  # decided tags by the model's rule, and how it decides
        d = report["decisions"]
        summary["decisions"] = {**{k: d[k] for k in ("micro", "macro", "flat_0.5", "empty_fraction", "all_fraction")},
                                "decided_by": report["decided_by"]}
        summary["thresholds_from"] = report["thresholds_from"]
    print(json.dumps(summary))
    return 0


def run(argv=None):
    define_flags()
    run_program(main, __name__, argv)


if __name__ == "__main__":
    run()
