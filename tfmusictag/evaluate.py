"""``python -m tfmusictag.evaluate``: per-tag ROC-AUC, the thesis's weighted AUC, macro ROC/PR-AUC.

Writes ``report.json``, ``report.md`` and two plots (``roc_curves.png`` for the most frequent
tags, ``per_tag_auc.png``) to ``--out_dir`` (default ``<model_dir>/eval_<split>``).

Example::

    python -m tfmusictag.evaluate --model_dir=runs/bof --dataset=demo_catalog/small --split=test
"""

import json
import os

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def define_flags():
    """Command-line flags (defined only when run as a program, so importing stays side-effect free)."""
    flags.DEFINE_string("model_dir", None, "A training run's directory (or a .keras file).")
    flags.DEFINE_string("dataset", None, "TFDS dataset (default: the one the model was trained on).")
    flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the training run's).")
    flags.DEFINE_string("split", "test", "Split to evaluate.")
    flags.DEFINE_string("out_dir", None, "Where to write the report (default <model_dir>/eval_<split>).")
    flags.DEFINE_integer("batch_size", 4, "Tracks per batch.")
    flags.DEFINE_integer("roc_tags", 8, "ROC curves of this many most frequent tags.")


def markdown_report(report, title):
    lines = [f"# {title}", "", f"Tracks: {report['tracks']}", "",
             "| metric | value |", "|---|---|",
             f"| weighted ROC-AUC (thesis WAUC) | {report['weighted_roc_auc']:.4f} |",
             f"| macro ROC-AUC | {report['macro_roc_auc']:.4f} |",
             f"| macro PR-AUC | {report['macro_pr_auc']:.4f} |", "",
             "| tag | positives | ROC-AUC | PR-AUC |", "|---|---|---|---|"]
    for tag, m in sorted(report["per_tag"].items(), key=lambda kv: -kv[1]["positives"]):
        lines.append(f"| {tag} | {m['positives']} | {m['roc_auc']:.3f} | {m['pr_auc']:.3f} |")
    if report["excluded"]:
        lines += ["", "Excluded (no ROC-AUC defined): " +
                  ", ".join(f"{t} ({why})" for t, why in sorted(report["excluded"].items()))]
    return "\n".join(lines) + "\n"


def plot(report, y, p, tags, out_dir, n_roc):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfmusictag.metrics import roc_curve

    frequent = sorted(report["per_tag"], key=lambda t: -report["per_tag"][t]["positives"])[:n_roc]
    fig, ax = plt.subplots(figsize=(6, 6))
    for tag in frequent:
        j = tags.index(tag)
        fpr, tpr = roc_curve(y[:, j], p[:, j])
        ax.plot(fpr, tpr, label=f"{tag} ({report['per_tag'][tag]['roc_auc']:.2f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC of the most frequent tags")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "roc_curves.png"), dpi=110)
    plt.close(fig)
    items = sorted(report["per_tag"].items(), key=lambda kv: kv[1]["roc_auc"])
    fig, ax = plt.subplots(figsize=(7, max(3, 0.28 * len(items))))
    ax.barh([t for t, _ in items], [m["roc_auc"] for _, m in items], color="tab:blue")
    ax.axvline(0.5, color="k", ls=":", lw=1)
    ax.axvline(report["weighted_roc_auc"], color="tab:red", lw=1, label=f"weighted {report['weighted_roc_auc']:.3f}")
    ax.set(xlim=(0, 1), xlabel="ROC-AUC", title="ROC-AUC per tag")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "per_tag_auc.png"), dpi=110)
    plt.close(fig)


def evaluate_dir(model_dir, dataset=None, data_dir=None, split="test", out_dir=None, batch_size=4, roc_tags=8,
                 max_seconds=None):
    """Evaluate a trained model on a split and write the report; returns the report dict.

    Tracks are tagged whole (``max_seconds=None``) even when training cropped them."""
    from tfmusictag import data
    from tfmusictag.training import evaluate_model, load_trained

    train_cfg = {}
    cfg_file = os.path.join(model_dir, "train_config.json") if os.path.isdir(model_dir) else ""
    if cfg_file and os.path.exists(cfg_file):
        with open(cfg_file) as f:
            train_cfg = json.load(f)
    dataset = dataset or train_cfg.get("dataset")
    if not dataset:
        raise app.UsageError("--dataset is required (no train_config.json next to the model)")
    model = load_trained(model_dir)
    ds, dataset_tags = data.load_split(dataset, split, data_dir or train_cfg.get("data_dir"),
                                       manual_dir=train_cfg.get("manual_dir"))
    pipe = data.PipelineConfig(batch_size=batch_size, shuffle_buffer=0, cache=None, max_seconds=max_seconds)
    batches = data.track_pipeline(ds, dataset_tags, model.tags, model.front_end.front_end, pipe)
    report, y, p, ids = evaluate_model(model, batches, model.tags)
    out_dir = out_dir or (os.path.join(model_dir, f"eval_{split}") if os.path.isdir(model_dir) else f"eval_{split}")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump({"model": model_dir, "dataset": dataset, "split": split, **report}, f, indent=2)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(markdown_report(report, f"{model.name} on {dataset} ({split})"))
    np.savez(os.path.join(out_dir, "predictions.npz"), labels=y, scores=p, track_ids=np.array(ids), tags=model.tags)
    plot(report, y, p, list(model.tags), out_dir, roc_tags)
    return report


def main(argv):
    del argv
    if not FLAGS.model_dir:
        raise app.UsageError("--model_dir is required")
    report = evaluate_dir(FLAGS.model_dir, FLAGS.dataset, FLAGS.data_dir, FLAGS.split, FLAGS.out_dir,
                          FLAGS.batch_size, FLAGS.roc_tags)
    print(json.dumps({k: report[k] for k in ("weighted_roc_auc", "macro_roc_auc", "macro_pr_auc", "tracks")}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
