"""``predict_beam``: a catalog tagged by Apache Beam (DirectRunner, two worker processes) gets the
tags ``predict`` gives, to 1e-5; a broken file goes to the error output and the rest finish."""

import glob
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfmusictag.datasets.demo_catalog import compose
from support import ENV  # noqa: E402



@pytest.fixture(scope="module")
def model_and_music(demo_tiny, tmp_path_factory):
    from tfmusictag.pretrained import load_model
    from tfmusictag.serving import export_saved_model
    from tfmusictag.training import TrainConfig, train

    data_dir, _ = demo_tiny
    root = tmp_path_factory.mktemp("beam")
    config = TrainConfig(dataset="demo_catalog/tiny", data_dir=data_dir, variant="mfcc_bof", steps=3, batch_size=3,
                         max_seconds=20.0)
    config = config.with_overrides({"model.temporal.bof.num_clusters": 8, "model.temporal.bof.epochs": 1,
                                    "model.classifier.hidden": 8})
    train(config, str(root / "run"), progress=False)
    model = export_saved_model(load_model(str(root / "run")), str(root / "saved_models"), "tiny")
    music = root / "music"
    (music / "album").mkdir(parents=True)
    for i, (fmt, style) in enumerate([("flac", "house"), ("mp3", "ballad"), ("ogg", "jazzy"), ("wav", "house")]):
        t = compose.make_track(seed=700 + i, seconds=40.0 if i == 1 else 20.0, style=style)
        folder = music / "album" if fmt == "wav" else music
        (folder / f"track{i}.{fmt}").write_bytes(compose.encode(t.audio, t.sample_rate, fmt))
    good = (music / "track0.flac").read_bytes()
    (music / "cut.flac").write_bytes(good[: len(good) // 2])  # damaged: tagged from its first half, warned
    (music / "notes.mp3").write_text("not music")  # unreadable: the error output
    (music / "cover.jpg").write_bytes(b"\xff\xd8\xff")  # not audio: not listed, as in predict
    return model, str(music)


def _predict(model, music):
    import io

    from tfmusictag.cli.predict import predict_files

    out = io.StringIO()
    predict_files([music], model, out, top_k=0, timeline=True, err=io.StringIO())
    return {os.path.abspath(r["path"]): r for r in map(json.loads, out.getvalue().splitlines())}


def _assert_same_tags(got, want):
    assert set(got["tags"]) == set(want["tags"])
    for tag, p in want["tags"].items():
        assert got["tags"][tag] == pytest.approx(p, abs=1e-5), tag
    assert got["duration_seconds"] == want["duration_seconds"] and got.get("warning") == want.get("warning")


@pytest.mark.slow
def test_beam_tags_a_folder_like_predict_with_two_worker_processes(model_and_music, tmp_path):
    model, music = model_and_music
    out = subprocess.run([sys.executable, "-m", "tfmusictag.predict_beam", f"--model={model}", f"--input={music}",
                          f"--output={tmp_path / 'tags'}", "--top_k=0", "--timeline", "--direct_num_workers=2",
                          "--direct_running_mode=multi_processing"], env=ENV, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 1, out.stderr  # one file could not be tagged
    assert "tagged 5 tracks, skipped 1" in out.stderr and "Traceback" not in out.stderr
    rows = [json.loads(line) for f in sorted(glob.glob(str(tmp_path / "tags-[0-9]*-of-*.jsonl"))) for line in open(f)]
    errors = [json.loads(line) for f in glob.glob(str(tmp_path / "tags-errors-*.jsonl")) for line in open(f)]
    assert [os.path.basename(e["path"]) for e in errors] == ["notes.mp3"]
    assert "UnsupportedAudioFormatError" in errors[0]["error"] and "notes.mp3" in errors[0]["error"]
    want = _predict(model, music)
    got = {os.path.abspath(r["path"]): r for r in rows}
    assert set(got) == {p for p, r in want.items() if "error" not in r}  # the same files, each once
    assert len(rows) == len(got) == 5
    for path, r in got.items():
        _assert_same_tags(r, want[path])
        assert [s["start_seconds"] for s in r["timeline"]] == [s["start_seconds"] for s in want[path]["timeline"]]
    assert "TruncatedAudioFileError" in got[os.path.join(music, "cut.flac")]["warning"]


@pytest.mark.slow
def test_beam_writes_parquet_and_refuses_an_input_that_matches_nothing(model_and_music, tmp_path):
    import pyarrow.parquet as pq

    from tfmusictag import beam
    from tfmusictag.errors import ParameterError

    model, music = model_and_music
    result = beam.run([os.path.join(music, "*.flac")], model, str(tmp_path / "t"), fmt="parquet", top_k=3,
                      damaged="skip")
    assert beam.counts(result) == {"tagged": 1, "skipped": 1}  # cut.flac is skipped with --damaged=skip
    table = pq.read_table(glob.glob(str(tmp_path / "t-[0-9]*.parquet")))
    rows = table.to_pylist()
    assert [os.path.basename(r["path"]) for r in rows] == ["track0.flac"]
    want = _predict(model, music)[os.path.join(music, "track0.flac")]
    top = sorted(want["tags"].items(), key=lambda kv: -kv[1])[:3]
    assert [t["tag"] for t in rows[0]["tags"]] == [t for t, _ in top]
    np.testing.assert_allclose([t["probability"] for t in rows[0]["tags"]], [p for _, p in top], atol=1e-5)
    errors = [json.loads(line) for f in glob.glob(str(tmp_path / "t-errors-*.jsonl")) for line in open(f)]
    assert len(errors) == 1 and "TruncatedAudioFileError" in errors[0]["error"]
    with pytest.raises(ParameterError, match="matched no file"):
        beam.run([os.path.join(music, "*.opus")], model, str(tmp_path / "none"))
    # one input that matches nothing among others: reported, counted, the rest tagged
    (tmp_path / "empty.mp3").mkdir()
    err = io.StringIO()
    result = beam.run([os.path.join(music, "track0.flac"), str(tmp_path / "empty.mp3")], model,
                      str(tmp_path / "some"), err=err)
    assert beam.counts(result) == {"tagged": 1, "skipped": 1}
    assert f"error: --input {str(tmp_path / 'empty.mp3')!r} matched no file" in err.getvalue()
    errors = [json.loads(line) for f in glob.glob(str(tmp_path / "some-errors-*.jsonl")) for line in open(f)]
    assert errors == [{"path": str(tmp_path / "empty.mp3"), "decided": None, "tags": {},
                       "error": f"ParameterError: --input {str(tmp_path / 'empty.mp3')!r} matched no file"}]


def test_an_unexpected_error_of_one_file_is_its_error_record_not_the_pipeline_s_end(model_and_music, monkeypatch):
    """On a real runner a DoFn that raises fails the job after its retries: one file's failure of any
    kind (here the decoder's own IndexError) is that file's error record instead."""
    import apache_beam as beam_sdk

    from tfmusictag import audio, beam

    model, music = model_and_music
    fn = beam.TagFile(model)
    fn.setup()
    real = audio.decode

    def decode(data, name, *args, **kwargs):
        if name.endswith("track0.flac"):
            raise IndexError("tuple index out of range")
        return real(data, name, *args, **kwargs)

    monkeypatch.setattr(audio, "decode", decode)
    broken = os.path.join(music, "track0.flac")
    out = list(fn.process(broken))
    assert len(out) == 1 and isinstance(out[0], beam_sdk.pvalue.TaggedOutput) and out[0].tag == beam.ERRORS
    assert out[0].value == {"path": broken, "decided": None, "tags": {},
                            "error": f"IndexError: {broken}: tuple index out of range"}
    good = list(fn.process(os.path.join(music, "track1.mp3")))
    assert len(good) == 1 and good[0]["tags"] and "error" not in good[0]
