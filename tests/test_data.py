"""tfmusictag.data: TFDS examples → padded batches of log-mel with exact lengths and labels."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfmusictag import audio, data
from tfmusictag.datasets.demo_catalog import compose
from tfmusictag.frontend import LogMelSpectrogram


def test_demo_catalog_tags_are_exact_and_balanced(demo_tiny):
    _, builder = demo_tiny
    names = data.tag_names(builder)
    assert names == compose.TAGS and len(names) >= 20
    counts = np.zeros(len(names))
    for split in ("train", "validation", "test"):
        for ex in builder.as_dataset(split=split).as_numpy_iterator():
            counts[ex["tags"]] += 1
            sections = json.loads(ex["sections"])
            assert sections[0]["start"] == 0 and sections[-1]["end"] == pytest.approx(ex["duration"], abs=3.0)
            section_tags = set().union(*(s["tags"] for s in sections))
            assert section_tags <= {names[i] for i in ex["tags"]}
            assert ("dark" in section_tags) + ("happy" in section_tags) == 0  # mode is a track tag
    # every tag of the vocabulary occurs in 12 tracks at least once, none in all of them, except
    # those that need a rarer combination (e.g. "energy" = loud with drums)
    assert (counts < 12).all()
    assert (counts > 0).sum() >= 18


def test_pipeline_batches_whole_tracks_with_exact_lengths(demo_tiny):
    data_dir, builder = demo_tiny
    ds, names = data.load_split("demo_catalog/tiny", "train", data_dir=data_dir)
    cfg = data.PipelineConfig(batch_size=4, shuffle_buffer=0, cache=None)
    batches = list(data.track_pipeline(ds, names, config=cfg).as_numpy_iterator())
    assert sum(len(b[1]) for b in batches) == 9
    layer = LogMelSpectrogram()
    examples = {ex["track_id"]: ex for ex in builder.as_dataset(split="train").as_numpy_iterator()}
    for inputs, labels in batches:
        assert inputs["log_mel"].shape[0] == labels.shape[0] and inputs["log_mel"].shape[2] == 96
        for i, tid in enumerate(inputs["track_id"]):
            ex = examples[tid]
            y = audio.decode(ex["audio"], tid.decode())
            n = layer.config.num_frames(len(y))
            assert inputs["num_frames"][i] == n
            np.testing.assert_allclose(inputs["log_mel"][i, :n], layer(y[None])[0].numpy(), atol=1e-4)
            assert (inputs["log_mel"][i, n:] == np.float32(np.log(1e-10))).all()
            expected = np.zeros(len(names), np.float32)
            expected[ex["tags"]] = 1
            np.testing.assert_array_equal(labels[i], expected)


def test_pipeline_is_deterministic_and_caches(demo_tiny, tmp_path):
    data_dir, _ = demo_tiny
    ds, names = data.load_split("demo_catalog/tiny", "train", data_dir=data_dir)
    cfg = data.PipelineConfig(batch_size=3, shuffle_buffer=16, cache=str(tmp_path / "cache"), seed=7)
    a = [b[0]["track_id"].tolist() for b in data.track_pipeline(ds, names, config=cfg).as_numpy_iterator()]
    b = [b[0]["track_id"].tolist() for b in data.track_pipeline(ds, names, config=cfg).as_numpy_iterator()]
    assert a == b
    assert list(tmp_path.glob("cache*"))


def test_pipeline_maps_labels_to_the_model_vocabulary(demo_tiny):
    data_dir, _ = demo_tiny
    ds, names = data.load_split("demo_catalog/tiny", "validation", data_dir=data_dir)
    model_tags = ("piano", "not-in-dataset", "bass")
    cfg = data.PipelineConfig(batch_size=8, shuffle_buffer=0, cache=None)
    (inputs, labels), = list(data.track_pipeline(ds, names, model_tags, config=cfg).as_numpy_iterator())
    assert labels.shape == (2, 3) and (labels[:, 1] == 0).all()


def test_pipeline_skips_and_reports_broken_tracks(demo_tiny, caplog):
    _, builder = demo_tiny
    good = list(builder.as_dataset(split="validation").as_numpy_iterator())
    broken = dict(good[0], track_id=b"broken-1", audio=good[0]["audio"][: len(good[0]["audio"]) // 3])
    garbage = dict(good[0], track_id=b"garbage-2", audio=b"not audio" * 50)
    rows = [good[0], broken, garbage, good[1]]
    ds = tf.data.Dataset.from_tensor_slices({k: [r[k] for r in rows] for k in ("audio", "track_id")} |
                                            {"tags": tf.ragged.constant([r["tags"] for r in rows])})
    ds = ds.map(lambda x: dict(x, tags=x["tags"]))
    cfg = data.PipelineConfig(batch_size=8, shuffle_buffer=0, cache=None)
    with caplog.at_level("WARNING"):
        (inputs, labels), = list(data.track_pipeline(ds, compose.TAGS, config=cfg).as_numpy_iterator())
    assert sorted(inputs["track_id"].tolist()) == sorted([good[0]["track_id"], good[1]["track_id"]])
    text = caplog.text
    assert "broken-1" in text and "truncated" in text.lower()
    assert "garbage-2" in text and "not an audio file" in text


def test_a_misspelt_or_foreign_dataset_is_one_clear_error():
    from tfmusictag.data import dataset_builder
    from tfmusictag.errors import ParameterError

    with pytest.raises(ParameterError, match="'demo_catalgo/small' does not exist; tfmusictag's are demo_catalog"):
        dataset_builder("demo_catalgo/small", None)
    with pytest.raises(ParameterError, match="no such config; choose one of demo_catalog/tiny, demo_catalog/small"):
        dataset_builder("demo_catalog/smal", None)
    with pytest.raises(ParameterError, match="not a tagged music catalog"):
        dataset_builder("mnist", None)


def test_an_empty_or_missing_manual_dir_is_one_clear_error(tmp_path):
    from tfmusictag.errors import ParameterError

    (tmp_path / "empty").mkdir()
    for where in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(ParameterError, match=f"Manual directory {where} does not exist or is empty; put the "
                                                 "files there as datasets/tagged_catalog/README.md says"):
            data.load_split("tagged_catalog", "train", str(tmp_path / "tfds"), manual_dir=str(where))


def test_preparing_a_generated_dataset_says_so_in_one_line(tmp_path, capfd):
    """TFDS's "Downloading and preparing dataset Unknown size (download: Unknown size, ...)" describes
    a download that does not happen: the package says what it does instead, once, on stderr."""
    _, tags = data.load_split("demo_catalog/tiny", "train", str(tmp_path))
    out, err = capfd.readouterr()
    assert "Downloading and preparing" not in out + err and "Unknown size" not in out + err
    assert out == "" and f"preparing demo_catalog/tiny in {tmp_path}" in err
    data.load_split("demo_catalog/tiny", "train", str(tmp_path))  # prepared: nothing said
    assert "preparing" not in "".join(capfd.readouterr())


def test_a_program_preparing_a_dataset_prints_one_line(tmp_path):
    """In a program (``quiet_start``), building a dataset the first time says so in one line: no
    TFDS warning about the folder it is about to fill, no TensorFlow start-up lines."""
    import subprocess
    import sys

    code = ("from tfmusictag.cli.common import quiet_start; quiet_start()\n"
            f"from tfmusictag import data; data.load_split('demo_catalog/tiny', 'train', {str(tmp_path)!r})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("preparing demo_catalog/tiny in"), lines


def test_a_leading_tilde_is_the_home_folder(tmp_path, monkeypatch):
    """``--data_dir=~/tfds`` as a shell passes it (unexpanded) is the user's home folder."""
    monkeypatch.setenv("HOME", str(tmp_path))
    builder = data.dataset_builder("demo_catalog/tiny", "~/tfds")
    assert str(builder.data_dir).startswith(str(tmp_path / "tfds"))
