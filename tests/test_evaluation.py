"""tfmusictag.evaluation and its program ``python -m tfmusictag.evaluate``: the report's figures are
the metrics of the predictions it saves (against scikit-learn), with its Markdown and plots; a
folder that is no training run needs the dataset named, in one line."""

import json
import os

import numpy as np
import pytest

from support import run_module
from tfmusictag.errors import ParameterError


@pytest.mark.slow
def test_evaluate_writes_reports_and_plots(trained):
    model_dir, _ = trained
    out = run_module("tfmusictag.evaluate", f"--model_dir={model_dir}", "--split=validation")
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    d = os.path.join(model_dir, "eval_validation")
    report = json.load(open(os.path.join(d, "report.json")))
    assert report["weighted_roc_auc"] == pytest.approx(summary["weighted_roc_auc"])
    # the report's figures are the metrics of the predictions it saved
    saved = np.load(os.path.join(d, "predictions.npz"))
    from sklearn.metrics import roc_auc_score

    y, p = saved["labels"], saved["scores"]
    evaluable = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    assert [saved["tags"][j] for j in evaluable] == list(report["per_tag"])  # the others are listed as excluded
    assert sorted(report["per_tag"]) + sorted(report["excluded"]) == sorted(report["per_tag"]) + sorted(
        set(saved["tags"]) - set(report["per_tag"]))
    assert report["weighted_roc_auc"] == pytest.approx(
        roc_auc_score(y[:, evaluable], p[:, evaluable], average="weighted"), abs=1e-6)
    assert report["tracks"] == len(saved["track_ids"]) == saved["scores"].shape[0]
    assert "weighted ROC-AUC" in open(os.path.join(d, "report.md")).read()
    for png in ("roc_curves.png", "per_tag_auc.png"):
        assert open(os.path.join(d, png), "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_folder_that_is_no_training_run_needs_the_dataset_named(tmp_path):
    from tfmusictag.evaluation import evaluate_dir

    with pytest.raises(ParameterError, match=r"is not a training run \(no train_config.json\): name the dataset"):
        evaluate_dir(str(tmp_path))
