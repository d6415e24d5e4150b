"""tagged_catalog: a user's catalog, every kind of problem reported at once with counts."""

import os
import shutil

import pytest
import tensorflow_datasets as tfds

import tfmusictag.datasets  # noqa: F401
from tfmusictag import data
from tfmusictag.datasets.tagged_catalog import thesis_target
from tfmusictag.datasets.tagged_catalog.tagged_catalog_dataset_builder import CatalogConfig, CatalogError, read_catalog

DUMMY = os.path.join(os.path.dirname(tfmusictag.datasets.__file__), "tagged_catalog", "dummy_data")


@pytest.fixture
def catalog(tmp_path):
    root = tmp_path / "catalog"
    shutil.copytree(DUMMY, root)
    (root / "validation.txt").unlink()  # the tests write their own tags.csv
    return root


def write_csv(root, rows):
    (root / "tags.csv").write_text("path,tags\n" + "\n".join(rows) + "\n")


def test_every_problem_is_reported_with_counts(catalog):
    (catalog / "broken.mp3").write_text("not audio")
    shutil.copy(catalog / "house/track01.ogg", catalog / "copy.ogg")
    (catalog / "validation.txt").write_text("jazz/track04.mp3\ngone.flac\n")
    write_csv(catalog, ["house/track01.ogg,house;kick", "house/track01.ogg,house", "missing.flac,piano",
                        "broken.mp3,piano", "copy.ogg,house", "jazz/track03.ogg,", "jazz/track04.mp3,jazzy;banjo",
                        "calm/track05.ogg,slow"])
    with pytest.raises(CatalogError) as e:
        read_catalog(catalog, CatalogConfig(name="x", vocabulary=("house", "kick", "piano", "jazzy", "slow"),
                                            strict=True))
    msg = str(e.value)
    for line in ("duplicate track: 2", "missing file: 1", "unreadable file: 1", "track without tags: 1",
                 "unknown tag: 1", "validation track without a file: 1"):
        assert line in msg, msg
    assert "missing.flac (tags.csv line 4)" in msg and "same audio as house/track01.ogg" in msg
    assert "jazz/track04.mp3: banjo" in msg and "gone.flac" in msg

    rows, vocab, validation, report = read_catalog(
        catalog, CatalogConfig(name="x", vocabulary=("house", "kick", "piano", "jazzy", "slow"), strict=True,
                               on_problem="skip"))
    assert [r for r, _ in rows] == ["house/track01.ogg", "calm/track05.ogg"]
    assert report["problems"]["duplicate track"] == 2 and report["tracks"] == 2


def test_lenient_vocabulary_drops_and_counts_unknown_tags(catalog):
    write_csv(catalog, ["house/track01.ogg,house;kick;cowbell", "house/track02.mp3,house",
                        "calm/track05.ogg,slow;cowbell"])
    rows, vocab, validation, report = read_catalog(catalog, CatalogConfig(name="x", min_tag_count=2))
    assert vocab == ["cowbell", "house"]
    rows, vocab, _, report = read_catalog(catalog, CatalogConfig(name="x", vocabulary=("house", "slow")))
    assert report["dropped_tags"] == {"kick": 1, "cowbell": 2}
    assert dict(rows) == {"house/track01.ogg": ["house"], "house/track02.mp3": ["house"], "calm/track05.ogg": ["slow"]}


def test_thesis_target_matches_the_validation_list_to_file_names(catalog):
    names = thesis_target.VALIDATION_TRACKS
    shutil.copy(catalog / "house/track01.ogg", catalog / (names[0].replace("v_", "") + ".ogg"))
    shutil.copy(catalog / "house/track02.mp3", catalog / (names[5].upper() + ".mp3"))
    write_csv(catalog, [f'"{names[0].replace("v_", "")}.ogg",house;kick', f'"{names[5].upper()}.mp3",female;house',
                        "jazz/track03.ogg,jazzy;piano"])
    config = CatalogConfig(name="t", vocabulary=thesis_target.TAGS, validation_names=names)
    with pytest.raises(CatalogError, match="validation track without a file: 98"):
        read_catalog(catalog, config)
    rows, vocab, validation, _ = read_catalog(catalog, CatalogConfig(
        name="t", vocabulary=thesis_target.TAGS, validation_names=names, on_problem="skip"))
    assert len(vocab) == 63 and validation["validation"] == {names[0].replace("v_", "") + ".ogg",
                                                             names[5].upper() + ".mp3"}
    assert validation["test"] == set()


def test_a_test_txt_is_a_held_out_test_split_and_a_missing_one_is_said(tmp_path):
    """``test.txt`` lists a held-out test split; without it there is none, and evaluating on
    ``test`` is one clear line naming the splits there are."""
    from tfmusictag.errors import ParameterError

    catalog = tmp_path / "catalog"
    shutil.copytree(DUMMY, catalog)
    (catalog / "test.txt").write_text("house/track02.mp3\ncalm/track05.ogg\n")
    builder = tfds.builder("tagged_catalog", data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(catalog)))
    splits = {k: v.num_examples for k, v in builder.info.splits.items()}
    assert splits == {"train": 4, "validation": 2, "test": 2}
    ids = sorted(x["track_id"] for x in builder.as_dataset(split="test").as_numpy_iterator())
    assert ids == [b"calm/track05.ogg", b"house/track02.mp3"]
    with pytest.raises(ParameterError, match=r"no split 'test'; its splits: train, validation \(a catalog's test"):
        data.load_split("tagged_catalog", "test", data_dir=str(tmp_path / "tfds2"), manual_dir=DUMMY)
    (catalog / "test.txt").write_text("jazz/track04.mp3\n")  # also in validation.txt
    with pytest.raises(CatalogError, match="track in both validation.txt and test.txt: 1"):
        read_catalog(str(catalog), CatalogConfig(name="x"))


def test_catalog_trains_through_the_pipeline(tmp_path):
    builder = tfds.builder("tagged_catalog", data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=DUMMY))
    names = data.tag_names(builder)
    assert "house" in names and builder.info.metadata["tracks"] == 8
    ds = builder.as_dataset(split="validation")
    cfg = data.PipelineConfig(batch_size=4, shuffle_buffer=0, cache=None)
    (inputs, labels), = list(data.track_pipeline(ds, names, config=cfg).as_numpy_iterator())
    assert sorted(inputs["track_id"].tolist()) == [b"calm/track06.ogg", b"jazz/track04.mp3"]
    assert labels.shape == (2, len(names)) and labels.sum() > 0


def test_missing_manual_files_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="tags.csv"):
        read_catalog(tmp_path, CatalogConfig(name="x"))


def test_beam_direct_runner_builds_the_catalog(tmp_path):
    beam = __import__("apache_beam")
    builder = tfds.builder("tagged_catalog", data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=DUMMY, beam_runner=beam.runners.DirectRunner()))
    assert builder.info.splits["train"].num_examples == 6 and builder.info.splits["validation"].num_examples == 2
    ids = sorted(x["track_id"] for x in builder.as_dataset(split="validation").as_numpy_iterator())
    assert ids == [b"calm/track06.ogg", b"jazz/track04.mp3"]
