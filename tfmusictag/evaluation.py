"""Evaluation: tag every track of a split whole, then the thesis's metrics (Sec. 4.2) and a report.

:func:`evaluate_model` predicts a batched split (the network's own probabilities);
:func:`evaluate_dir` evaluates a run directory (or a pretrained model) and writes
``report.json``, ``report.md``, ``predictions.npz`` and three plots (``roc_curves.png`` for the
most frequent tags, ``per_tag_auc.png``, ``reliability.png``).

Beside the ranking metrics (weighted ROC-AUC, which the calibration cannot change: its maps are
monotone), the report says whether the probabilities mean what they say — expected calibration
error and Brier score of the network's probabilities and of the calibrated ones that every output
shows (:func:`tfmusictag.calibration.reliability`), with a reliability diagram — and how the
model's decided tags score: precision, recall and F1 (micro and macro) against a flat 0.5 on the
same probabilities, and how often a track's decided set is empty or holds every tag (a sign that
the decisions do not fit this data).
"""

from __future__ import annotations

import json
import logging
import os
import weakref
from typing import Dict, Tuple

import numpy as np
import tensorflow as tf

from tfmusictag import data, metrics
from tfmusictag.errors import ParameterError
from tfmusictag.pretrained import load_model
from tfmusictag.rundir import THRESHOLDS, RunDir, atomic_write
from tfmusictag.tagger import TrackTagger
from tfmusictag.calibration import calibrate, reliability
from tfmusictag.thresholds import decide_tags, decision_report, describe_decision

__all__ = ["evaluate_model", "evaluate_dir", "markdown_report"]


_PREDICT = weakref.WeakKeyDictionary()  # model → its traced predict function, reused by every evaluation


class _OneTracePerModel(logging.Filter):
    """Drop TensorFlow's "triggered tf.function retracing" warning about the per-model predict and
    step functions. TensorFlow counts traces per *code object*, so a process that builds many
    models (a search's trials, the experiments' seeds) — each traced once — is reported as if one
    function retraced; nothing is retraced, and the advice it prints does not apply."""

    _OURS = ("_predict_function", "Trainer._distributed_step")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and any(k in message for k in self._OURS))


tf.get_logger().addFilter(_OneTracePerModel())


def _predict_function(model: TrackTagger):
    """One traced function per model: a training run evaluates every ``eval_every`` steps, and a new
    ``tf.function`` each time would retrace (and make TensorFlow warn about it)."""
    if model not in _PREDICT:
        spec = {"log_mel": tf.TensorSpec([None, None, model.front_end_config.n_mels], tf.float32),
                "num_frames": tf.TensorSpec([None], tf.int32)}
        ref = weakref.ref(model)  # the function must not keep its model (the dictionary's key) alive
        _PREDICT[model] = tf.function(lambda x: ref()(x, training=False), input_signature=[spec])
    return _PREDICT[model]


def evaluate_model(model: TrackTagger, ds: tf.data.Dataset, tags) -> Tuple[Dict, np.ndarray, np.ndarray, list]:
    """Predict every track of a batched dataset; returns (report, labels, scores, track ids)."""
    predict = _predict_function(model)
    ys, ps, ids = [], [], []
    for inputs, labels in ds:
        ps.append(predict({"log_mel": inputs["log_mel"], "num_frames": inputs["num_frames"]}).numpy())
        ys.append(labels.numpy())
        ids += [t.decode() for t in inputs["track_id"].numpy()]
    y, p = np.concatenate(ys), np.concatenate(ps)
    return metrics.tag_report(y, p, tags), y, p, ids


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
    if "calibration" in report:
        c = report["calibration"]
        lines += ["", f"Calibration ({c['method']}; ten equal-width bins, every track × tag pooled):", "",
                  "| probabilities | ECE | Brier | below 0.02 or above 0.98 |", "|---|---|---|---|",
                  *(f"| {name} | {c[k]['ece']:.4f} | {c[k]['brier']:.4f} | {c[k]['extreme_fraction']:.1%} |"
                    for name, k in (("the network's", "before"), ("shown (calibrated)", "after")))]
    if "decisions" in report:
        d, origin = report["decisions"], report.get("thresholds_from", {})
        where = report.get("decided_by", "stored with the model")
        if origin.get("fitted_on_the_evaluated_split"):
            where += " — the split evaluated here: these decision scores are optimistic"
        flat = d.get("flat_0.5", {})
        lines += ["", f"Decided tags ({where}):", "",
                  "| | precision | recall | F1 | F1 of a flat 0.5 |", "|---|---|---|---|---|",
                  *(f"| {k} | {d[k]['precision']:.3f} | {d[k]['recall']:.3f} | {d[k]['f1']:.3f} | "
                    f"{flat.get(k, {}).get('f1', float('nan')):.3f} |" for k in ("micro", "macro")), "",
                  f"Tracks with no decided tag: {d['empty_fraction']:.1%}; with every tag decided: "
                  f"{d['all_fraction']:.1%}.", "",
                  "| tag | positives | decided | precision | recall | F1 |", "|---|---|---|---|---|---|"]
        for tag, m in sorted(d["per_tag"].items(), key=lambda kv: -kv[1]["positives"]):
            lines.append(f"| {tag} | {m['positives']} | {m['decided']} | {m['precision']:.3f} | {m['recall']:.3f} | "
                         f"{m['f1']:.3f} |")
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
    if "calibration" in report:  # the reliability diagram: mean probability against frequency, per bin
        fig, ax = plt.subplots(figsize=(5.5, 5.5))
        ax.plot([0, 1], [0, 1], "k:", lw=1, label="calibrated")
        for name, key, style in (("network", "before", "o--"), ("shown", "after", "s-")):
            rel = report["calibration"][key]
            kept = [b for b in rel["bins"] if b["count"]]
            ax.plot([b["mean_probability"] for b in kept], [b["frequency"] for b in kept], style,
                    label=f"{name} (ECE {rel['ece']:.3f})")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean probability in bin", ylabel="fraction of positives",
               title="Reliability (every track × tag)")
        ax.legend(loc="upper left")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "reliability.png"), dpi=110)
        plt.close(fig)


def evaluate_dir(model_dir, dataset=None, data_dir=None, split="test", out_dir=None, batch_size=4, roc_tags=8,
                 max_seconds=None):
    """Evaluate a trained model on a split and write the report; returns the report dict.

    Tracks are tagged whole (``max_seconds=None``) even when training cropped them."""
    run = RunDir(model_dir) if os.path.isdir(model_dir) else None
    train_cfg = run.read_train_config() if run is not None and run.has_run() else {}
    dataset = dataset or train_cfg.get("dataset")
    if not dataset:
        raise ParameterError(f"{model_dir} is not a training run (no train_config.json): name the dataset to "
                             "evaluate on (--dataset)")
    model = load_model(model_dir)
    ds, dataset_tags = data.load_split(dataset, split, data_dir or train_cfg.get("data_dir"),
                                       manual_dir=train_cfg.get("manual_dir"))
    pipe = data.PipelineConfig(batch_size=batch_size, shuffle_buffer=0, cache=None, max_seconds=max_seconds)
    batches = data.track_pipeline(ds, dataset_tags, model.tags, model.front_end_config, pipe)
    report, y, p, ids = evaluate_model(model, batches, model.tags)
    cfg = model.tagger_config
    q = calibrate(p, cfg.calibration)  # what every output shows
    report["calibration"] = {"method": "Platt maps fitted with the model" if cfg.calibration else "none",
                             "before": reliability(y, p), "after": reliability(y, q)}
    fitted = run.read_thresholds() if run is not None and os.path.exists(run.file(THRESHOLDS)) else None
    decided = decide_tags(q, cfg.decision, cfg.thresholds or None)
    if decided is not None:  # the decided tags, by the model's rule
        report["decisions"] = decision_report(y, decided.astype(float), [0.5] * len(model.tags), model.tags)
        flat = decision_report(y, q, [0.5] * len(model.tags), model.tags)
        report["decisions"]["flat_0.5"] = {"micro": flat["micro"], "macro": flat["macro"]}
        report["decisions"]["empty_fraction"] = round(float((decided.sum(1) == 0).mean()), 4)
        report["decisions"]["all_fraction"] = round(float((decided.sum(1) == decided.shape[1]).mean()), 4)
        report["decided_by"] = describe_decision(cfg.decision, cfg.thresholds or None, fitted)
        origin = {}
        if fitted:
            origin = {k: fitted.get(k) for k in ("dataset", "split", "tracks", "criterion", "rule", "method")}
        origin["fitted_on_the_evaluated_split"] = (origin.get("split") == split and origin.get("dataset") == dataset)
        report["thresholds_from"] = origin
    out_dir = out_dir or (RunDir(model_dir).eval_dir(split) if os.path.isdir(model_dir) else f"eval_{split}")
    os.makedirs(out_dir, exist_ok=True)
    # report.json last: a report on disk means the evaluation finished (reproduction reuses it)
    np.savez(os.path.join(out_dir, ".predictions.tmp.npz"), labels=y, scores=q, network_scores=p,
             track_ids=np.array(ids), tags=model.tags)
    os.replace(os.path.join(out_dir, ".predictions.tmp.npz"), os.path.join(out_dir, "predictions.npz"))
    plot(report, y, p, list(model.tags), out_dir, roc_tags)
    atomic_write(os.path.join(out_dir, "report.md"), markdown_report(report, f"{model.name} on {dataset} ({split})"))
    atomic_write(os.path.join(out_dir, "report.json"),
                 json.dumps({"model": model_dir, "dataset": dataset, "split": split, **report}, indent=2))
    return report
