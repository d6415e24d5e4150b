"""The product end to end, as a user runs it: train → evaluate → export → predict on real and damaged
files; decisions, calibration and what the commands print. (The SavedModel itself: ``test_serving.py``;
the metrics: ``test_metrics.py``.)"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tfmusictag.calibration import reliability
from tfmusictag.datasets.demo_catalog import compose
from support import ENV, run_module  # noqa: E402


# ---- end to end -----------------------------------------------------------------------------

@pytest.mark.slow
def test_training_writes_everything_next_to_the_model(trained):
    model_dir, summary = trained
    for name in ("model.keras", "train_config.json", "model_config.json", "tags.txt", "metrics.json", "logs"):
        assert os.path.exists(os.path.join(model_dir, name)), name
    assert open(os.path.join(model_dir, "tags.txt")).read().split("\n")[:-1] == list(compose.TAGS)
    metrics = json.load(open(os.path.join(model_dir, "metrics.json")))  # what was printed is what was kept
    assert metrics["step"] == 20 and metrics["split"] == "validation" and metrics["resumed_at_step"] is None
    for key in ("weighted_roc_auc", "macro_roc_auc", "macro_pr_auc", "tracks"):
        assert summary[key] == pytest.approx(metrics[key]), key
    assert metrics["tracks"] > 0 and 0 < metrics["weighted_roc_auc"] <= 1
    cfg = json.load(open(os.path.join(model_dir, "train_config.json")))
    assert cfg["steps"] == 20 and cfg["model_overrides"]["temporal.bof.num_clusters"] == 16
    assert any(f.startswith("events") for f in os.listdir(os.path.join(model_dir, "logs")))


@pytest.mark.slow
def test_decision_thresholds_come_from_the_validation_split_and_travel_with_the_model(trained, exported, demo_tiny):
    """Training fits a calibration and one threshold per tag on the validation split's predictions
    (never the test split's); ``model.keras`` carries them, the SavedModel's answering signatures
    give the calibrated probabilities and decide as the Keras model's calibrated output does,
    ``predict`` lists the decided tags and says how, and ``evaluate`` scores them on test beside
    the calibration error."""
    import tensorflow as tf

    from tfmusictag import data
    from tfmusictag.calibration import calibrate
    from tfmusictag.decisions import fit_decisions
    from tfmusictag.evaluation import evaluate_model
    from tfmusictag.pretrained import load_model as load_trained
    from tfmusictag.rundir import RunDir

    model_dir, _ = trained
    data_dir, _ = demo_tiny
    model = load_trained(model_dir)
    stored = RunDir(model_dir).read_thresholds()
    cfg = model.tagger_config
    assert stored["split"] == "validation" and len(cfg.thresholds) == len(cfg.calibration) == len(model.tags)

    def predictions(split):
        ds, tags = data.load_split("demo_catalog/tiny", split, data_dir)
        pipe = data.PipelineConfig(batch_size=2, shuffle_buffer=0, cache=None)
        _, y, p, _ = evaluate_model(model, data.track_pipeline(ds, tags, model.tags, model.front_end_config, pipe),
                                    model.tags)
        return y, p

    refit = fit_decisions(*predictions("validation"), model.tags)
    np.testing.assert_allclose([refit["thresholds"][t] for t in model.tags], cfg.thresholds, atol=2e-4)
    np.testing.assert_allclose([refit["calibration"]["maps"][t] for t in model.tags], cfg.calibration, atol=2e-3)
    assert fit_decisions(*predictions("test"), model.tags)["thresholds"] != refit["thresholds"]  # test did not choose
    # the SavedModel shows calibrated probabilities and decides on them, as the Keras model's calibrated output
    track = compose.make_track(seed=4243, seconds=35.0, style="house")
    from tfmusictag import audio

    wav = audio.decode(compose.encode(track.audio, track.sample_rate, "flac"), "t")[None]
    signatures = tf.saved_model.load(exported).signatures
    served = signatures["decided"](waveform=tf.constant(wav))
    network = model(wav).numpy()
    probs = calibrate(network, cfg.calibration)
    np.testing.assert_allclose(served["probabilities"].numpy(), probs, atol=1e-5)
    np.testing.assert_allclose(signatures["serving_default"](waveform=tf.constant(wav))["probabilities"].numpy(), probs,
                               atol=1e-5)
    np.testing.assert_allclose(signatures["calibrate"](probabilities=tf.constant(network))["probabilities"].numpy(),
                               probs, atol=1e-6)
    np.testing.assert_allclose(signatures["tags_from_log_mel"](
        log_mel=model.front_end(wav), num_frames=tf.constant([model.front_end(wav).shape[1]]))["probabilities"].numpy(),
        network, atol=1e-5)  # a building block: the network's own
    assert served["decided"].numpy().tolist() == (probs >= np.array(cfg.thresholds)).tolist()
    # predict lists them (calibrated), saying how they were decided; evaluate reports them and the calibration
    row = json.loads(run_module("tfmusictag.predict", "--top_k=3", f"--model={exported}",
                                _write_track(track)).stdout.splitlines()[-1])
    p = probs[0]
    assert row["decided"] == [t for t in sorted(model.tags, key=lambda t: -p[model.tags.index(t)])
                              if p[model.tags.index(t)] >= cfg.thresholds[model.tags.index(t)]]
    assert row["decided_by"] == (f"thresholds fitted on demo_catalog/tiny (validation split, held-out split, "
                                 f"rule {stored['rule']})")
    top = sorted(model.tags, key=lambda t: -p[model.tags.index(t)])[:3]
    assert row["tags"] == pytest.approx({t: p[model.tags.index(t)] for t in top}, abs=1e-4)
    report = json.loads(run_module("tfmusictag.evaluate", f"--model_dir={model_dir}", "--split=test",
                                   f"--out_dir={os.path.dirname(exported)}/eval").stdout)
    assert report["thresholds_from"] == {"dataset": "demo_catalog/tiny", "split": "validation",
                                         "tracks": stored["tracks"], "criterion": "f1", "rule": stored["rule"],
                                         "method": "held-out split", "fitted_on_the_evaluated_split": False}
    d = report["decisions"]
    assert set(d) == {"micro", "macro", "flat_0.5", "empty_fraction", "all_fraction", "decided_by"}
    assert d["decided_by"] == row["decided_by"] and 0 <= d["empty_fraction"] <= 1
    y, network_test = predictions("test")
    q = calibrate(network_test, cfg.calibration)
    decided = q >= np.array(cfg.thresholds)
    tp, fp, fn = (decided & (y > 0)).sum(), (decided & (y == 0)).sum(), (~decided & (y > 0)).sum()
    assert d["micro"]["f1"] == pytest.approx(2 * tp / max(2 * tp + fp + fn, 1), abs=1e-3)
    assert d["empty_fraction"] == pytest.approx((decided.sum(1) == 0).mean(), abs=1e-3)
    assert report["calibration"]["ece"] == pytest.approx(reliability(y, q)["ece"], abs=1e-3)
    assert report["calibration"]["network_ece"] == pytest.approx(reliability(y, network_test)["ece"], abs=1e-3)
    assert os.path.exists(os.path.join(os.path.dirname(exported), "eval", "reliability.png"))


def _write_track(track):
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "track.flac")
    with open(path, "wb") as f:
        f.write(compose.encode(track.audio, track.sample_rate, "flac"))
    return path


@pytest.mark.slow
def test_predict_a_folder_with_a_corrupt_file(exported, tmp_path):
    folder = tmp_path / "music"
    folder.mkdir()
    for i, (fmt, style) in enumerate([("flac", "house"), ("mp3", "ballad"), ("ogg", "jazzy")]):
        t = compose.make_track(seed=500 + i, seconds=25.0, style=style)
        (folder / f"track{i}.{fmt}").write_bytes(compose.encode(t.audio, t.sample_rate, fmt))
    good = (folder / "track0.flac").read_bytes()
    (folder / "broken.flac").write_bytes(good[: len(good) // 2])
    (folder / "notes.mp3").write_text("not music")
    out = run_module("tfmusictag.predict", str(folder), f"--model={exported}", "--top_k=4", "--timeline",
                     check=False)
    assert out.returncode == 1  # some files were skipped
    rows = [json.loads(line) for line in out.stdout.strip().splitlines()]
    by_name = {os.path.basename(r["path"]): r for r in rows}
    assert set(by_name) == {"track0.flac", "track1.mp3", "track2.ogg", "broken.flac", "notes.mp3"}
    # half a FLAC: tagged from the half that is there, with a warning (--damaged=tag, the default)
    assert "TruncatedAudioFileError" in by_name["broken.flac"]["warning"] and len(by_name["broken.flac"]["tags"]) == 4
    assert by_name["broken.flac"]["duration_seconds"] < 14
    assert "UnsupportedAudioFormatError" in by_name["notes.mp3"]["error"]
    assert "broken.flac" in out.stderr and "skipped 1" in out.stderr
    # the good tracks, tagged two at a time among broken files, are tagged as each alone is
    from tfmusictag.serving import InferenceModel
    from tfmusictag.tagging import tag_file

    tagger = InferenceModel(exported)
    for name in ("track0.flac", "track1.mp3", "track2.ogg"):
        r, alone = by_name[name], tag_file(str(folder / name), tagger, top_k=4, timeline=True)
        assert list(r["tags"]) == list(alone["tags"]) and r["decided"] == alone["decided"], name
        assert max(abs(r["tags"][t] - alone["tags"][t]) for t in r["tags"]) < 2e-4, name  # JSON: 4 decimals
        assert [s["start_seconds"] for s in r["timeline"]] == [s["start_seconds"] for s in alone["timeline"]]
        assert r["timeline"][0]["start_seconds"] == 0.0 and len(r["timeline"]) >= 1


@pytest.mark.slow
def test_streamed_long_files_get_the_same_tags(exported, trained, tmp_path):
    import io

    from tfmusictag.cli.predict import predict_files

    t = compose.make_track(seed=31337, seconds=70.0, style="pop")
    path = tmp_path / "long.ogg"
    path.write_bytes(compose.encode(t.audio, t.sample_rate, "ogg"))
    for model in (exported, trained[0]):  # the SavedModel's signatures and the Keras model
        whole, streamed = io.StringIO(), io.StringIO()
        predict_files([str(path)], model, whole, top_k=0, timeline=True, stream_above_minutes=60)
        predict_files([str(path)], model, streamed, top_k=0, timeline=True, stream_above_minutes=0.5)
        a, b = json.loads(whole.getvalue()), json.loads(streamed.getvalue())
        assert a["duration_seconds"] == b["duration_seconds"]
        for tag, p in a["tags"].items():
            assert b["tags"][tag] == pytest.approx(p, abs=2e-4)
        assert len(a["timeline"]) == len(b["timeline"]) == 3


@pytest.mark.slow
def test_the_demo_runs_end_to_end_at_a_tiny_scale(demo_tiny, tmp_path):
    data_dir, _ = demo_tiny
    work = tmp_path / "demo"
    shutil.copytree(data_dir, work / "tfds")  # reuse the session's tiny catalog
    out = run_module("tfmusictag.demo", "--config=tiny", "--scale=0.02", f"--work_dir={work}",
                     f"--saved_models={tmp_path / 'sm'}")
    assert "| mfcc_bof |" in out.stdout and "| mfcc_finetuned_lstm |" in out.stdout
    steps = [line[:5] for line in out.stdout.splitlines() if line.startswith("[")]
    assert steps == [f"[{k}/6]" for k in range(1, 7)], steps  # each step once, in order
    assert "(best on validation)" in out.stdout
    chosen = json.loads((work / "demo_results.json").read_text())
    assert chosen["chosen"] == max(chosen["validation"], key=lambda v: chosen["validation"][v]["weighted_roc_auc"])
    assert os.path.exists(tmp_path / "sm" / "demo_tagger" / "1" / "saved_model.pb")
    results = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"path"')]
    assert results[0]["path"].endswith("demo_track.flac") and len(results[0]["tags"]) == 8
    from tfmusictag.pretrained import musicnn

    if os.path.exists(os.path.join(musicnn._root(), "MTT_musicnn", ".index")):  # make test downloads it
        assert os.path.exists(tmp_path / "sm" / "mtt_musicnn" / "1" / "saved_model.pb")
        assert len(results) == 2 and set(results[1]["tags"]) <= set(musicnn.MTT_LABELS)
        # the small-catalog recipe trains beside the thesis's variants, its thresholds out of fold
        assert "| recipe |" in out.stdout and "transfer_stats from MTT_vgg,MSD_musicnn" in out.stdout
        assert "recipe" in chosen["validation"] and "recipe" in chosen["results"]
        assert json.loads((work / "runs" / "recipe" / "thresholds.json").read_text())["split"] == "train"
        assert "decided:" in out.stdout and "true tags found" in out.stdout
    else:
        assert "[6/6] skipped" in out.stdout and "recipe is skipped" in out.stdout


# ---- the rough edges a user meets ------------------------------------------------------------


def _damaged_folder(folder):
    """One intact track and the three kinds of damage a user's library holds."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    t = compose.make_track(seed=61, seconds=30.0, style="pop")
    (folder / "a_intact.ogg").write_bytes(compose.encode(t.audio, t.sample_rate, "ogg"))
    mp3 = compose.encode(t.audio, t.sample_rate, "mp3")
    middle = len(mp3) // 2
    (folder / "b_garbage_in_the_middle.mp3").write_bytes(
        mp3[:middle] + rng.integers(0, 256, 20000, dtype=np.uint8).tobytes() + mp3[middle:])
    flac = compose.encode(t.audio[: 20 * t.sample_rate], t.sample_rate, "flac")
    (folder / "c_trailing_garbage.flac").write_bytes(flac + rng.integers(0, 256, 30000, dtype=np.uint8).tobytes())
    wav = compose.encode(t.audio[: 5 * t.sample_rate], t.sample_rate, "wav")
    (folder / "d_header_promises_more.wav").write_bytes(wav[: 44 + t.sample_rate * 4])  # 1 s of the 5 s declared


@pytest.mark.slow
def test_predict_tags_damaged_files_with_a_warning_or_skips_them(exported, tmp_path):
    folder = tmp_path / "library"
    _damaged_folder(folder)
    out = run_module("tfmusictag.predict", str(folder), f"--model={exported}", "--top_k=2", check=False)
    assert out.returncode == 0, out.stderr  # every file tagged
    rows = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert [os.path.basename(r["path"]) for r in rows] == sorted(os.listdir(folder))  # input order
    intact, mp3, flac, wav = rows
    assert "warning" not in intact and "error" not in intact
    assert 14 < mp3["duration_seconds"] < 16 and "decoding stopped at" in mp3["warning"]  # of 30 s declared
    assert "of the 30.00 s the header declares" in mp3["warning"]
    assert flac["duration_seconds"] == pytest.approx(20.0, abs=0.05) and "not valid audio" in flac["warning"]
    assert wav["duration_seconds"] == pytest.approx(1.0, abs=0.05) and "holds 88200 (20%)" in wav["warning"]
    for r in (mp3, flac, wav):
        assert len(r["tags"]) == 2 and r["path"] in r["warning"]
    assert "tagged 4 tracks, skipped 0" in out.stderr and "Traceback" not in out.stderr

    strict = run_module("tfmusictag.predict", str(folder), f"--model={exported}", "--damaged=skip", check=False)
    assert strict.returncode == 1
    rows = [json.loads(line) for line in strict.stdout.strip().splitlines()]
    assert "tags" in rows[0] and all("error" in r for r in rows[1:])
    assert "TruncatedAudioFileError" in rows[1]["error"] and "CorruptAudioFileError" in rows[2]["error"]


@pytest.mark.slow
def test_predict_mixes_streamed_and_whole_files_in_order(exported, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i, (seconds, fmt) in enumerate([(25.0, "flac"), (75.0, "ogg"), (20.0, "mp3"), (70.0, "flac")]):
        t = compose.make_track(seed=900 + i, seconds=seconds, style="house")
        (folder / f"t{i}.{fmt}").write_bytes(compose.encode(t.audio, t.sample_rate, fmt))
    mixed = run_module("tfmusictag.predict", str(folder), f"--model={exported}", "--top_k=0",
                       "--stream_above_minutes=1", check=False)  # t1 and t3 streamed, t0 and t2 whole
    whole = run_module("tfmusictag.predict", str(folder), f"--model={exported}", "--top_k=0", check=False)
    assert mixed.returncode == whole.returncode == 0
    a = [json.loads(line) for line in mixed.stdout.strip().splitlines()]
    b = [json.loads(line) for line in whole.stdout.strip().splitlines()]
    assert [os.path.basename(r["path"]) for r in a] == ["t0.flac", "t1.ogg", "t2.mp3", "t3.flac"]
    for ra, rb in zip(a, b):
        assert ra["path"] == rb["path"] and ra["duration_seconds"] == rb["duration_seconds"]
        for tag, p in rb["tags"].items():
            assert ra["tags"][tag] == pytest.approx(p, abs=2e-4)


@pytest.mark.slow
def test_predict_arguments_that_match_nothing_and_a_closed_pipe(exported, tmp_path):
    (tmp_path / "empty").mkdir()
    for arg, kind in ((str(tmp_path / "empty"), "folder"), (str(tmp_path / "*.mp3"), "pattern")):
        out = run_module("tfmusictag.predict", arg, f"--model={exported}", check=False)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert out.stderr.strip().splitlines()[-1] == (
            f"error: the {kind} {arg!r} matched no audio file (extensions: .wav, .wave, .flac, .ogg, .oga, .opus, "
            ".mp3, .aif, .aiff)")
    folder = tmp_path / "music"
    folder.mkdir()
    t = compose.make_track(seed=77, seconds=10.0, style="pop")
    for i in range(4):
        (folder / f"{i}.flac").write_bytes(compose.encode(t.audio, t.sample_rate, "flac"))
    # an empty album folder (named like a file) and a glob that matches nothing among good files:
    # the others are tagged, each unmatched argument is an error line in place, and the exit is 1
    (tmp_path / "folder.mp3").mkdir()
    args = [str(folder / "0.flac"), str(tmp_path / "folder.mp3"), str(folder / "1.flac"), str(tmp_path / "*.ogg")]
    for fmt in ("jsonl", "csv"):
        out = run_module("tfmusictag.predict", *args, f"--model={exported}", f"--format={fmt}", check=False)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        lines = out.stdout.strip().splitlines()
        if fmt == "csv":
            import csv as csv_module

            rows = list(csv_module.DictReader(lines))
        else:
            rows = [json.loads(line) for line in lines]
        assert [r["path"] for r in rows] == args
        assert [bool(r["error"]) if fmt == "csv" else "error" in r for r in rows] == [False, True, False, True]
        assert "matched no audio file" in rows[1]["error"] and "the folder" in rows[1]["error"]
        assert "the pattern" in rows[3]["error"]
        assert f"error: the folder {args[1]!r} matched no audio file" in out.stderr
        assert f"error: the pattern {args[3]!r} matched no audio file" in out.stderr
        assert "tagged 2 tracks, skipped 2" in out.stderr
    cmd = f"{sys.executable} -m tfmusictag.predict {folder} --model={exported} 2>{tmp_path / 'err'} | head -1"
    out = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], env=ENV, capture_output=True, text=True)
    assert len(out.stdout.strip().splitlines()) == 1
    err = (tmp_path / "err").read_text()
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
    assert out.returncode in (0, 141)  # 141: stopped by the closed pipe, as a Unix tool is


@pytest.mark.slow
def test_commands_print_only_what_is_about_the_user(trained, tmp_path):
    model_dir, _ = trained
    env = {k: v for k, v in ENV.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user runs it
    out = subprocess.run([sys.executable, "-m", "tfmusictag.evaluate", f"--model_dir={model_dir}",
                          "--split=validation", f"--out_dir={tmp_path / 'eval'}"], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stderr.strip() == "", out.stderr  # no TensorFlow start-up lines, no absl INFO from TFDS
    assert json.loads(out.stdout)["tracks"] >= 1
    loud = subprocess.run([sys.executable, "-m", "tfmusictag.evaluate", f"--model_dir={model_dir}",
                           "--split=validation", f"--out_dir={tmp_path / 'eval2'}", "--verbosity=0"], env=env,
                          capture_output=True, text=True, check=True)
    assert "dataset_info.py" in loud.stderr or "reader.py" in loud.stderr  # --verbosity shows the rest


def test_training_progress_in_a_log_file_is_a_few_plain_lines():
    import io

    from tfmusictag.training.progress import Progress

    log = io.StringIO()
    p = Progress(1000, stream=log)
    for step in range(1, 1001):
        p.update(step, 0.5)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 11 and lines[-1].startswith("step 1000/1000, loss 0.5000")
    tty = io.StringIO()
    Progress(3, stream=tty, interactive=True).update(3, 0.1)
    assert tty.getvalue().startswith("\rstep 3/3") and tty.getvalue().endswith("\n")


def _long_flac(path, minutes):
    """A long track: a composed minute repeated, written block by block (mono FLAC encodes fast)."""
    import soundfile as sf

    t = compose.make_track(seed=4711, seconds=60.0, style="pop")
    minute = t.audio.mean(axis=1).astype(np.float32)
    with sf.SoundFile(str(path), "w", t.sample_rate, 1, "PCM_16", format="FLAC") as f:
        for _ in range(int(minutes)):
            for i in range(0, len(minute), 1 << 16):
                f.write(minute[i:i + (1 << 16)])
    return str(path)


def _have_musicnn_weights():
    from tfmusictag.pretrained import musicnn

    try:
        musicnn.weights_dir("MTT_musicnn")
        return True
    except FileNotFoundError:
        return False


def _peak_rss_kb(cmd, tmp_path):
    """Peak resident memory of a subprocess (``tracemalloc`` sees neither TensorFlow nor libsndfile),
    launched from a small process (see ``benchmarks/_peak_rss.py``)."""
    launcher = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "_peak_rss.py")
    out = subprocess.run([sys.executable, launcher, str(tmp_path / "rss"), *cmd],
                         env=ENV, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return int((tmp_path / "rss").read_text()), out.stdout


@pytest.mark.slow
def test_tagging_memory_does_not_grow_with_track_length(exported, tmp_path):
    """An hour takes no more memory than ten minutes (chunks of whole segments, streamed decoding):
    the margin is 64 MB, what the TensorFlow runtime's own caches vary by from run to run here."""
    peaks, rows = {}, {}
    for minutes in (10, 60):
        path = _long_flac(tmp_path / f"long{minutes}.flac", minutes)
        peaks[minutes], out = _peak_rss_kb([sys.executable, "-m", "tfmusictag.predict", path, f"--model={exported}"],
                                           tmp_path)
        rows[minutes] = json.loads(out)
        if minutes == 60 and _have_musicnn_weights():  # the pretrained tagger users run most, at the longest
            peaks["MTT_musicnn"], _ = _peak_rss_kb([sys.executable, "-m", "tfmusictag.predict", path,
                                                    "--model=MTT_musicnn"], tmp_path)
        os.remove(path)
    assert rows[60]["duration_seconds"] == pytest.approx(3600, abs=0.1)
    assert 300 * 1024 < peaks[10] < 1000 * 1000, peaks  # the command's own memory, under 1 GB
    assert peaks[60] <= peaks[10] + 64 * 1024, peaks
    assert peaks.get("MTT_musicnn", 0) < 1000 * 1000, peaks
