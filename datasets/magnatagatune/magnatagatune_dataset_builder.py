"""magnatagatune: 25 863 clips of 29.1 s with 188 tags (Law et al. 2009) — the thesis's source task.

Configs ``clips`` (one example per clip) and ``songs`` (the thesis's choice, Sec. 4.1: the clips
of one original song merged, in segment order, into one whole-track example whose tags are the
union). The top ``top_n`` tags by frequency over the whole annotation file (50: the split the
field compares on). Splits: the album-disjoint folder split — ``0``–``b`` train, ``c``
validation, ``d``–``f`` test. Empty and unreadable MP3 files (three are known to be empty) are
skipped and counted in the dataset's metadata; a song keeps its other clips.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from tfmusictag import audio
from tfmusictag.datasets.beam import BeamSwitch
from tfmusictag.datasets.located import Located
from tfmusictag.errors import AudioFileError

MANUAL_DOWNLOAD_INSTRUCTIONS = """
Download MagnaTagATune from its authors (mirdata, or the original site) and place in `manual_dir`:

* the audio: either the extracted folders `0` … `f` (from `mp3.zip.001`–`mp3.zip.003`, which are
  one zip archive split in three: `cat mp3.zip.* > mp3.zip && unzip mp3.zip`), or the three parts
  themselves (they are then extracted into `manual_dir/_extracted` once);
* `annotations_final.csv` (tab-separated: `clip_id`, 188 tag columns of 0/1, `mp3_path`);
* `clip_info_final.csv` (tab-separated: `clip_id`, `track_number`, `title`, `artist`, `album`,
  `url`, `segmentStart`, `segmentEnd`, `original_url`, `mp3_path`).
"""

_SPLITS = {"train": "0123456789ab", "validation": "c", "test": "def"}


@dataclasses.dataclass
class MTTConfig(tfds.core.BuilderConfig):
    mode: str = "clips"
    top_n: int = 50


def _read_tsv(path):
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path} not found.\n{MANUAL_DOWNLOAD_INSTRUCTIONS}")
    with tf.io.gfile.GFile(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def top_tags(annotations, n):
    """The ``n`` most frequent tags (ties broken by column order, as the usual split does)."""
    names = [c for c in annotations[0] if c not in ("clip_id", "mp3_path")]
    counts = {t: sum(int(r[t]) for r in annotations) for t in names}
    return sorted(names, key=lambda t: (-counts[t], names.index(t)))[:n]


class Builder(Located, BeamSwitch, tfds.core.GeneratorBasedBuilder):
    """MagnaTagATune clips or merged songs, top-N tags, the standard folder split."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
    BUILDER_CONFIGS = [
        MTTConfig(name="clips", description="One example per 29.1 s clip, top-50 tags.", mode="clips"),
        MTTConfig(name="songs", description="Clips of one song merged in order (the thesis), top-50 tags.",
                  mode="songs"),
    ]

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "track_id": tfds.features.Text(),
                "audio": tfds.features.Tensor(shape=(), dtype=np.object_),
                "audio_format": tfds.features.Text(),
                "tags": tfds.features.Sequence(tfds.features.ClassLabel()),
                "clip_ids": tfds.features.Sequence(np.int32),
            }),
            metadata=tfds.core.MetadataDict(),
            homepage="https://mirg.city.ac.uk/codeapps/the-magnatagatune-dataset",
        )

    def _split_generators(self, dl_manager):
        root = os.fspath(dl_manager.manual_dir)
        annotations = _read_tsv(os.path.join(root, "annotations_final.csv"))
        info = {r["clip_id"]: r for r in _read_tsv(os.path.join(root, "clip_info_final.csv"))}
        tags = top_tags(annotations, self.builder_config.top_n)
        self.info.features["tags"].feature.names = tags
        audio_root = _audio_root(root)
        examples = collections.defaultdict(list)  # split → list of (key, clips)
        groups = collections.OrderedDict()
        for row in annotations:
            path = row["mp3_path"]
            split = next((s for s, folders in _SPLITS.items() if path[:1] in folders), None)
            if split is None:
                continue
            clip = (int(row["clip_id"]), path, [t for t in tags if row[t] == "1"])
            if self.builder_config.mode == "clips":
                examples[split].append((f"clip-{row['clip_id']}", [clip]))
            else:
                meta = info.get(row["clip_id"], {})
                song = meta.get("original_url") or "|".join(meta.get(k, "") for k in ("artist", "album", "track_number"))
                start = int(meta.get("segmentStart") or 0)
                groups.setdefault((split, song or path), []).append((start, clip))
        for (split, song), clips in groups.items():
            clips.sort(key=lambda sc: sc[0])
            examples[split].append((f"song-{clips[0][1][0]}", [c for _, c in clips]))
        self.info.metadata["skipped_clips"] = 0
        return {split: self._generate_examples(audio_root, examples[split]) for split in _SPLITS}

    def _generate_examples(self, audio_root, examples):
        if self.use_beam():
            beam = self.beam()
            return beam.Create(examples) | beam.FlatMap(_beam_example, audio_root)
        return self._local_examples(audio_root, examples)

    def _local_examples(self, audio_root, examples):
        skipped = 0
        for key, clips in examples:
            example, n_skipped = make_example(audio_root, key, clips)
            skipped += n_skipped
            if example is not None:
                yield key, example
        self.info.metadata["skipped_clips"] = int(self.info.metadata.get("skipped_clips", 0)) + skipped


def make_example(audio_root, key, clips):
    """One clip or song as an example (or ``None`` if no clip is readable), and the clips skipped."""
    pieces, kept = [], []
    for clip_id, path, _ in clips:
        full = os.path.join(audio_root, path)
        try:
            if len(clips) == 1:
                with tf.io.gfile.GFile(full, "rb") as f:
                    data = f.read()
                audio.decode(data, path, sample_rate=None)  # fails on empty/unreadable files
                pieces.append(data)
            else:
                pieces.append(audio.load(full, sample_rate=16000))
            kept.append(clip_id)
        except AudioFileError as exc:
            logging.warning("MagnaTagATune: skipping clip %s: %s", clip_id, exc)
    skipped = len(clips) - len(kept)
    if not kept:
        return None, skipped
    tags = sorted({t for c in clips if c[0] in kept for t in c[2]})
    if len(clips) == 1:
        data, fmt = pieces[0], "mp3"
    else:
        import soundfile as sf

        buf = io.BytesIO()
        sf.write(buf, np.concatenate(pieces), 16000, format="FLAC", subtype="PCM_16")
        data, fmt = buf.getvalue(), "flac"
    return {"track_id": key, "audio": data, "audio_format": fmt, "tags": tags, "clip_ids": kept}, skipped


def _beam_example(item, audio_root):
    """Beam worker: the same example; skipped clips go to a Beam counter (and the log)."""
    beam = tfds.core.lazy_imports.apache_beam
    key, clips = item
    example, skipped = make_example(audio_root, key, [tuple(c) for c in clips])
    if skipped:
        beam.metrics.Metrics.counter("magnatagatune", "skipped_clips").inc(skipped)
    if example is not None:
        yield key, example


def _audio_root(root):
    if all(tf.io.gfile.isdir(os.path.join(root, d)) for d in "0123456789abcdef"):
        return root
    extracted = os.path.join(root, "_extracted")
    if not tf.io.gfile.exists(os.path.join(extracted, "f")):
        parts = sorted(p for p in tf.io.gfile.listdir(root) if p.startswith("mp3.zip."))
        if not parts:
            raise FileNotFoundError(f"{root}: neither the folders 0 … f nor mp3.zip.001–003 found.\n"
                                    f"{MANUAL_DOWNLOAD_INSTRUCTIONS}")
        import zipfile

        joined = os.path.join(root, "_mp3.zip")
        with open(joined, "wb") as out:
            for p in parts:
                with open(os.path.join(root, p), "rb") as f:
                    while chunk := f.read(1 << 24):
                        out.write(chunk)
        with zipfile.ZipFile(joined) as z:
            z.extractall(extracted)
        os.remove(joined)
    return extracted
