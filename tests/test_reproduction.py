"""tfmusictag.reproduction and its program ``python -m tfmusictag.experiments``: the thesis's tables, their presets,
layout and resumption."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tfmusictag.errors import ParameterError
from tfmusictag.reproduction import PRESETS, TABLES, Experiments, Preset, plot_table, render_markdown, table_ids
from support import ENV  # noqa: E402



def test_tables_hold_the_thesis_numbers():
    assert table_ids("all") == ["4.3", "4.4", "4.5", "4.6", "4.7", "4.8", "4.9", "4.10"]
    assert table_ids("4.10, 4.3") == ["4.10", "4.3"]
    with pytest.raises(ParameterError, match="4.11"):
        table_ids("4.11")
    assert TABLES["4.3"].thesis[(1024, 1024)] == 0.67 and TABLES["4.4"].thesis[(0.3, 1024)] == 0.74
    assert len(TABLES["4.6"].thesis) == 10 and dict(TABLES["4.9"].thesis)["mfcc_finetuned_lstm"] == 0.74
    assert TABLES["4.8"].thesis[0][0]["cnn_low_step"] is None  # the thesis's "(1e-6; NA)"


def test_presets_scale_sizes_and_step_downs():
    quick = PRESETS.get("quick")()
    assert quick.size(1024) == 128 and quick.size(512) == 64
    # a step-down falls at the same fraction of the run as in the thesis
    assert quick.decay(10000, "target") == round(10000 * quick.target_cnn_steps / quick.thesis_target_steps)
    assert quick.decay(None, "target") >= 10 ** 9
    thesis = PRESETS.get("thesis")()
    assert thesis.size(1024) == 1024 and thesis.decay(50000, "source") == 50000 and thesis.seeds == 3
    assert quick.with_overrides({"steps": 20, "rows": {"4.7": [0, 5]}}).rows == {"4.7": [0, 5]}
    for bad, match in (({"stpes": 3}, "preset: unknown config field 'stpes'"), ({"steps": 0}, "positive integer"),
                       ({"seeds": "5"}, "preset: seeds='5' must be an integer"),
                       ({"rows": {"4.7": [6]}}, "rows 0 to 5"), ({"rows": {"4.3": [0]}}, "no learning-rate rows"),
                       ({"grid": {"5.1": {}}}, "tables are")):
        with pytest.raises(ParameterError, match=match):
            quick.with_overrides(bad)


def test_hypermodel_rows_are_the_thesis_rows_not_a_product():
    from tfmusictag.tuning.hypermodels import ThesisHyperModel

    rows = [r for r, _ in TABLES["4.8"].thesis]
    hm = ThesisHyperModel("learning_rate", ["a", "b"], rows=rows, overrides={"temporal.lstm.units": 8})
    import keras_tuner as kt

    hp = kt.HyperParameters()
    assert hm.values(hp) == rows[0] and hp.get("row") == 0
    with pytest.raises(ParameterError, match="not both"):
        ThesisHyperModel("learning_rate", ["a"], rows=rows, grid={"cnn_low_lr": [0.0]})
    with pytest.raises(ParameterError, match="not searched"):
        ThesisHyperModel("learning_rate", ["a"], rows=[{"Z": 3}])


def _result(kind_id, **extra):
    preset = json.loads(json.dumps(__import__("dataclasses").asdict(PRESETS.get("quick")())))
    return {"table": kind_id, "title": TABLES[kind_id].title, "preset": preset, "seconds": 1.0,
            "dataset": "demo_catalog/small", **extra}


def test_tables_are_laid_out_as_the_thesis_with_its_numbers_beside_ours(tmp_path):
    grid = _result("4.3", split="validation", best={"weighted_roc_auc": 0.7},
                   trials=[{"values": {"Z": 128, "H": 128}, "weighted_roc_auc": 0.7},
                           {"values": {"Z": 64, "H": 128}, "weighted_roc_auc": 0.6}])
    md = render_markdown(grid)
    assert "| Z = 128 (1024) | — (0.64) | **0.700 (0.67)** | — (0.62) |" in md
    assert "| Z = 64 (512) | — (0.63) | 0.600 (0.64) |" in md
    quick = PRESETS.get("quick")()
    row = {"cnn_low_lr": 1e-5, "cnn_low_step": quick.decay(10000, "target"), "cnn_high_lr": 1e-4,
           "cnn_high_step": quick.decay(10000, "target")}
    rows = _result("4.8", split="validation", steps=40, best={"weighted_roc_auc": 0.65},
                   trials=[{"values": row, "weighted_roc_auc": 0.65}])
    md = render_markdown(rows)
    assert "| (1e-05; 10000) | (0.0001; 10000) | (1e-05; 15) / (0.0001; 15) | **0.650** | 0.71 |" in md
    assert "| (1e-06; NA) | (0.0001; 10000) | (1e-06; NA) / (0.0001; 15) | — | 0.64 |" in md
    score = {"mean": 0.7, "std": 0.01}
    variants = _result("4.9", split="test", rows=[
        {"variant": v, "source": None if v == "mfcc_bof" else "/x/source/mfcc_lstm", "steps": 3, "seeds": [],
         "weighted_roc_auc": score, "macro_roc_auc": score, "macro_pr_auc": score} for v, _ in TABLES["4.9"].thesis])
    md = render_markdown(variants)
    assert "| MFCC + Fine-tune LSTM (`mfcc_finetuned_lstm`) | 0.700 ± 0.010 | 0.74 |" in md
    for result, name in ((grid, "g.png"), (rows, "r.png"), (variants, "v.png")):
        plot_table(result, str(tmp_path / name))
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_out_dir_holds_one_set_of_experiments(tmp_path):
    quick = PRESETS.get("quick")()
    Experiments(quick, str(tmp_path))
    Experiments(quick, str(tmp_path))  # the same settings continue
    with pytest.raises(ParameterError, match=r"steps: 300 there, 500 now"):
        Experiments(quick.with_overrides({"steps": 500}), str(tmp_path))
    with pytest.raises(ParameterError, match="dataset"):
        Experiments(quick, str(tmp_path), dataset="demo_catalog/tiny")


MICRO = ["--set=size_scale=0.015625", "--set=search_steps=2", "--set=steps=2", "--set=source_steps=2",
         "--set=target_cnn_steps=2", "--set=finetune_seconds=3.0", "--set=max_seconds=10.0", "--set=bof_epochs=1",
         "--set=batch_size=4", '--set=rows={"4.7": [4]}', '--set=grid={"4.3": {"Z": [16], "H": [8, 16]}}',
         "--seeds=2"]


@pytest.mark.slow
def test_experiments_run_resume_and_export_servable_models(demo_tiny, tmp_path):
    from tests.conftest import require_musicnn_weights

    require_musicnn_weights("MTT_musicnn")
    data_dir, _ = demo_tiny
    out = tmp_path / "exp"
    cmd = [sys.executable, "-m", "tfmusictag.experiments", "--table=4.3,4.7,4.10", "--dataset=demo_catalog/tiny",
           "--source_dataset=demo_catalog/tiny", f"--data_dir={data_dir}", f"--out_dir={out}", *MICRO]
    first = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    for t in ("4_3", "4_7", "4_10"):
        for ext in ("md", "json", "png"):
            assert (out / f"table_{t}.{ext}").stat().st_size > 0
    md = (out / "table_4_10.md").read_text()
    assert "| Black-box CNN + Black-box LSTM (`blackbox_cnn_blackbox_lstm`) |" in md and "| 0.63 |" in md
    result = json.loads((out / "table_4_10.json").read_text())
    assert [len(r["seeds"]) for r in result["rows"]] == [2, 2, 2, 2]
    assert {os.path.basename(r["source"]) for r in result["rows"]} == {"cnn_lstm"}
    grid = json.loads((out / "table_4_3.json").read_text())
    assert len(grid["trials"]) == 2 and "| Z = 16 (1024) |" in (out / "table_4_3.md").read_text()
    # the black-box rows kept the source's LSTM: its weights equal the source model's
    from tfmusictag.rundir import load_model

    source = load_model(str(out / "source" / "cnn_lstm"))
    target = load_model(str(out / "table_4_10" / "blackbox_cnn_blackbox_lstm" / "seed1"))
    for a, b in zip(source.temporal.weights, target.temporal.weights):
        assert (a.numpy() == b.numpy()).all()
    # a second call finds every run and trial done and trains nothing
    again = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "train " not in again.stderr and "Running Trial" not in again.stdout
    assert json.loads((out / "table_4_10.json").read_text())["rows"] == result["rows"]
    # the best trial of a search is a SavedModel that serves in a process importing only TensorFlow
    exported = grid["saved_model"]
    code = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        before = set(sys.modules)
        m = tf.saved_model.load({exported!r})
        p = m.signatures["serving_default"](waveform=tf.zeros([1, 48000]))["probabilities"]
        assert not [k for k in set(sys.modules) - before if k.split(".")[0] in ("tfmusictag", "keras")]
        print(p.shape[-1])
    """)
    served = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True)
    assert int(served.stdout.strip().splitlines()[-1]) == 22
    # another preset in the same folder is refused with one line
    other = subprocess.run(cmd + ["--set=steps=3"], env=ENV, capture_output=True, text=True, timeout=300)
    assert other.returncode == 2 and other.stderr.strip().startswith("error:") and "steps: 2 there" in other.stderr


def test_a_bof_target_takes_only_the_cnn_of_a_cnn_lstm_source():
    """Table 4.10's Black-box CNN + BoF starts from the source CNN + LSTM: the LSTM is not copied."""
    import numpy as np

    from tfmusictag.training import transfer_config, transfer_weights
    from tfmusictag.tagger import TrackTagger
    from tfmusictag.variants import build_variant, variant_config

    tags = ["a", "b"]
    small = {"reduction.cnn.filters": (4, 4, 4, 4, 4), "temporal.lstm.units": 4, "classifier.hidden": 4,
             "temporal.bof.num_clusters": 4}
    source = build_variant("finetuned_cnn_finetuned_lstm", tags, small)
    x = {"log_mel": np.zeros((1, 1400, 96), np.float32)}
    source(x)
    target = TrackTagger(transfer_config(variant_config("blackbox_cnn_bof", tags, small), source.tagger_config))
    target(x)
    copied = transfer_weights(source, target)
    assert copied["temporal"] == 0 and copied["reduction"] == len(source.reduction.weights) > 0
    frozen_lstm = TrackTagger(transfer_config(variant_config("blackbox_cnn_blackbox_lstm", tags, small),
                                              source.tagger_config))
    frozen_lstm(x)
    assert transfer_weights(source, frozen_lstm)["temporal"] == len(source.temporal.weights)


def test_many_models_evaluated_in_one_process_raise_no_retracing_warning():
    """The experiments build dozens of models; each traces its predict function once. TensorFlow
    counts traces per code object and would warn that the function "retraced" (8 times here)."""
    import io
    import logging

    import numpy as np
    import tensorflow as tf

    from tfmusictag.evaluation import _predict_function
    from tfmusictag.variants import build_variant

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    tf.get_logger().addHandler(handler)
    try:
        x = {"log_mel": np.zeros((1, 1400, 96), np.float32), "num_frames": np.array([1400], np.int32)}
        for _ in range(7):
            model = build_variant("cnn_mean", ["a", "b"], {"reduction.cnn.filters": (2, 2, 2, 2, 2)})
            assert _predict_function(model)(x).shape == (1, 2)
    finally:
        tf.get_logger().removeHandler(handler)
    assert "retracing" not in buf.getvalue()
