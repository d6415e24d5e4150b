"""Serving (:mod:`tfmusictag.serving`): the exported SavedModel — its assets, its signatures, a process
that imports only TensorFlow (as TF Serving does) — and an export that is whole or absent."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tfmusictag.datasets.demo_catalog import compose
from support import ENV, HELPERS  # noqa: E402


@pytest.mark.slow
def test_the_saved_model_carries_its_run_config_metrics_and_thresholds_origin(exported, trained):
    from tfmusictag.rundir import RunDir
    from tfmusictag.serving import ASSET_FIELDS, read_assets

    model_dir, _ = trained
    tags, info = read_assets(exported)
    assert tuple(info) == ASSET_FIELDS and tags == list(compose.TAGS)
    run = RunDir(model_dir)
    assert info["run"]["train_config"] == run.read_train_config()
    assert info["run"]["metrics"]["weighted_roc_auc"] == run.read_metrics()["weighted_roc_auc"]
    assert info["run"]["thresholds"]["split"] == run.read_thresholds()["split"] == "validation"
    assert info["model"]["thresholds"] == [run.read_thresholds()["thresholds"][t] for t in tags]


@pytest.mark.slow
def test_saved_model_cli_shows_all_signatures(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    out = subprocess.run([cli, "show", "--all", "--dir", exported], env=ENV, capture_output=True, text=True,
                         check=True).stdout
    for name in ("serving_default", "top_k", "timeline", "embedding", "decided", "calibrate"):
        assert f"signature_def['{name}']" in out
    assert "inputs['waveform']" in out and "outputs['probabilities']" in out


@pytest.mark.slow
def test_saved_model_runs_in_a_process_that_imports_only_tensorflow(exported, trained, tmp_path):
    model_dir, _ = trained
    track = compose.make_track(seed=4242, seconds=35.0, style="techno")
    from tfmusictag import audio

    wav = audio.decode(compose.encode(track.audio, track.sample_rate, "flac"), "t")
    np.save(tmp_path / "wave.npy", wav)
    code = textwrap.dedent(f"""
        import json, sys, numpy as np, tensorflow as tf
        before = set(sys.modules)
        m = tf.saved_model.load({exported!r})
        w = tf.constant(np.load({str(tmp_path / 'wave.npy')!r})[None])
        out = {{name: {{k: v.numpy().tolist() if v.dtype != tf.string else [[s.decode() for s in r] for r in v.numpy()]
                       for k, v in m.signatures[name](waveform=w).items()}}
               for name in ("serving_default", "top_k", "timeline", "embedding")}}
        new = [k for k in set(sys.modules) - before if k.split(".")[0] in ("tfmusictag", "keras", "librosa")]
        assert not new, new
        print(json.dumps(out))
    """)
    out = json.loads(subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True,
                                    check=True).stdout.strip().splitlines()[-1])
    from tfmusictag.pretrained import load_model as load_trained

    from tfmusictag.calibration import calibrate

    model = load_trained(model_dir)
    expected = calibrate(model(wav[None]).numpy(), model.tagger_config.calibration)  # what it shows: calibrated
    np.testing.assert_allclose(out["serving_default"]["probabilities"], expected, atol=1e-5)
    order = np.argsort(-expected[0])[:3]
    assert out["top_k"]["tags"][0] == [compose.TAGS[i] for i in order]
    assert np.array(out["timeline"]["segment_probabilities"]).shape == (1, 2, len(compose.TAGS))
    assert out["timeline"]["segment_start_seconds"] == pytest.approx([0.0, 1366 * 256 / 12000])
    assert np.array(out["embedding"]["embedding"]).shape == (1, 16)


@pytest.mark.slow
def test_export_is_atomic(trained, tmp_path, monkeypatch):
    import tensorflow as tf

    from tfmusictag.serving import export_saved_model
    from tfmusictag.pretrained import load_model as load_trained

    model = load_trained(trained[0])
    real_save = tf.saved_model.save

    def crash(obj, path, **kw):
        real_save(obj, path, **kw)  # everything written ...
        raise KeyboardInterrupt("killed before the rename")  # ... then the export dies

    monkeypatch.setattr(tf.saved_model, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        export_saved_model(model, str(tmp_path), "m", version=3)
    assert os.listdir(tmp_path / "m") == []  # no version folder, no leftovers
    monkeypatch.setattr(tf.saved_model, "save", real_save)
    assert export_saved_model(model, str(tmp_path), "m", version=3).endswith(os.path.join("m", "3"))
    assert export_saved_model(model, str(tmp_path), "m").endswith(os.path.join("m", "4"))
    with pytest.raises(FileExistsError):
        export_saved_model(model, str(tmp_path), "m", version=4)


@pytest.mark.slow
def test_export_killed_by_sigkill_leaves_no_version_and_concurrent_exports_get_distinct_ones(trained, tmp_path):
    model_dir, _ = trained
    base = str(tmp_path / "sm")
    killed = subprocess.run([sys.executable, os.path.join(HELPERS, "kill_export.py"), f"--model_dir={model_dir}",
                             "--name=m", f"--base_dir={base}"], env=ENV, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert [d for d in os.listdir(os.path.join(base, "m")) if d.isdigit()] == []  # TF Serving sees nothing
    procs = [subprocess.Popen([sys.executable, "-m", "tfmusictag.export", f"--model_dir={model_dir}", "--name=m",
                               f"--base_dir={base}"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    paths = sorted(o[0].strip().splitlines()[-1] for o in outs)
    assert paths == [os.path.join(base, "m", "1"), os.path.join(base, "m", "2")]
    for p in paths:
        assert os.path.exists(os.path.join(p, "saved_model.pb"))
