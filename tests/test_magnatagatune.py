"""magnatagatune: merged songs in segment order, top-N tags, skipped empty clips counted."""

import os

import tensorflow_datasets as tfds

import tfmusictag.datasets  # noqa: F401
from tfmusictag import audio
from tfmusictag.datasets.magnatagatune import magnatagatune_dataset_builder as mtt

DUMMY = os.path.join(os.path.dirname(mtt.__file__), "dummy_data")


def test_songs_are_merged_in_order_and_empty_clips_counted(tmp_path):
    builder = tfds.builder("magnatagatune/songs", data_dir=str(tmp_path))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=DUMMY))
    assert builder.info.metadata["skipped_clips"] == 1  # the known-empty MP3
    names = builder.info.features["tags"].feature.names
    annotations = mtt._read_tsv(os.path.join(DUMMY, "annotations_final.csv"))
    assert names == mtt.top_tags(annotations, 50) and len(names) == 50
    (song,) = list(builder.as_dataset(split="validation").as_numpy_iterator())
    assert list(song["clip_ids"]) == sorted(song["clip_ids"]) and len(song["clip_ids"]) == 3
    y = audio.decode(song["audio"], "song", sample_rate=16000)
    assert abs(len(y) - 3 * 3.0 * 16000) < 3 * 2000  # three 3 s clips (MP3 adds a little padding)
    by_clip = {r["clip_id"]: r for r in annotations}
    union = {t for c in song["clip_ids"] for t in names if by_clip[str(c)][t] == "1"}
    assert {names[i] for i in song["tags"]} == union


def test_beam_direct_runner_gives_the_same_dataset(tmp_path):
    beam = __import__("apache_beam")
    local = tfds.builder("magnatagatune/songs", data_dir=str(tmp_path / "local"))
    local.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=DUMMY))
    on_beam = tfds.builder("magnatagatune/songs", data_dir=str(tmp_path / "beam"))
    on_beam.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=DUMMY, beam_runner=beam.runners.DirectRunner()))
    for split in ("train", "validation", "test"):
        a = {x["track_id"]: x for x in local.as_dataset(split=split).as_numpy_iterator()}
        b = {x["track_id"]: x for x in on_beam.as_dataset(split=split).as_numpy_iterator()}
        assert sorted(a) == sorted(b) and a
        for k in a:
            assert a[k]["audio"] == b[k]["audio"] and list(a[k]["tags"]) == list(b[k]["tags"])
