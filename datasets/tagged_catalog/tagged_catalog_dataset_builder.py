"""tagged_catalog: a user's own music catalog with their own tags (the thesis's target task).

The thesis's target set is 842 whole songs tagged by listening (Sec. 4.1); this builder turns any
such catalog into a TFDS dataset: a folder of audio files plus a CSV of tags.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import os
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tfmusictag import audio
from tfmusictag.datasets.beam import BeamSwitch
from tfmusictag.datasets.located import Located
from tfmusictag.datasets.tagged_catalog import thesis_target
from tfmusictag.errors import AudioFileError

MANUAL_DOWNLOAD_INSTRUCTIONS = """
Put your catalog in `manual_dir` (default `~/tensorflow_datasets/downloads/manual/`):

* the audio files (WAV, FLAC, Ogg Vorbis, Opus or MP3), in any sub-folders;
* `tags.csv` with a header row `path,tags`: `path` relative to `manual_dir`, `tags` separated by
  `;` (e.g. `house/track01.mp3,house;kick;female`);
* optionally `validation.txt`: one path (or, for `thesis_target`, one track name) per line; these
  tracks form the validation split, the others the training split. Without it, every 10th
  track (by a hash of its path) goes to validation.
* optionally `test.txt`: one path per line; these tracks form a held-out `test` split, never
  trained on nor used to choose a model (without it the catalog has no test split).

For `thesis_target` the vocabulary is the 63 tags of the thesis's Appendix B.1 and the
validation split is its 100-track list (Appendix B.2), matched to your file names.
"""


class CatalogError(ValueError):
    """The catalog's files or tags have problems; the message lists them all, with counts."""


@dataclasses.dataclass
class CatalogConfig(tfds.core.BuilderConfig):
    """``vocabulary``: fixed tag list (``None``: every tag in tags.csv that occurs ``min_tag_count``
    times); ``strict``: an unknown tag is an error (else it is dropped and counted);
    ``validation_names``: validation tracks matched by name instead of validation.txt;
    ``on_problem``: ``'error'`` (stop with a full report) or ``'skip'`` (skip bad tracks, count them)."""

    vocabulary: Optional[Tuple[str, ...]] = None
    strict: bool = False
    min_tag_count: int = 1
    validation_names: Optional[Tuple[str, ...]] = None
    on_problem: str = "error"


class Builder(Located, BeamSwitch, tfds.core.GeneratorBasedBuilder):
    """Any tagged music catalog (configs ``default`` and ``thesis_target``)."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "First release.", "1.1.0": "An optional test split (test.txt)."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
    BUILDER_CONFIGS = [
        CatalogConfig(name="default", description="Vocabulary and validation split from your files."),
        CatalogConfig(name="thesis_target", description="The thesis's 63 tags and 100 validation tracks.",
                      vocabulary=thesis_target.TAGS, strict=False, validation_names=thesis_target.VALIDATION_TRACKS),
        # the same, leaving out (and counting) the tracks with problems instead of stopping
        CatalogConfig(name="skip_problems", description="As default; tracks with problems are left out.",
                      on_problem="skip"),
        CatalogConfig(name="thesis_target_skip_problems", description="As thesis_target; tracks with problems "
                      "are left out.", vocabulary=thesis_target.TAGS, strict=False,
                      validation_names=thesis_target.VALIDATION_TRACKS, on_problem="skip"),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        vocabulary = self.builder_config.vocabulary
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "track_id": tfds.features.Text(),
                "audio": tfds.features.Tensor(shape=(), dtype=np.object_),
                "audio_format": tfds.features.Text(),
                "tags": tfds.features.Sequence(tfds.features.ClassLabel(names=vocabulary) if vocabulary
                                               else tfds.features.ClassLabel()),
                "duration": tfds.features.Scalar(dtype=np.float32),
            }),
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        root = dl_manager.manual_dir
        rows, vocabulary, held_out, report = read_catalog(root, self.builder_config)
        if not self.builder_config.vocabulary:
            self.info.features["tags"].feature.names = vocabulary
        self.info.metadata.update(report)
        kept = set().union(*held_out.values())
        splits = {"train": [r for r in rows if r[0] not in kept]}
        splits.update({name: [r for r in rows if r[0] in paths] for name, paths in held_out.items() if paths})
        splits.setdefault("validation", [])
        return {name: self._generate_examples(root, split_rows) for name, split_rows in splits.items()}

    def _generate_examples(self, root, rows):
        if self.use_beam():
            beam = self.beam()
            return beam.Create([(rel, list(tags)) for rel, tags in rows]) | beam.Map(make_example, os.fspath(root))
        return (make_example(row, root) for row in rows)


def make_example(row, root):
    """``(key, example)`` of one catalog track (also the Beam worker function)."""
    rel, tags = row
    with tf.io.gfile.GFile(os.path.join(root, rel), "rb") as f:
        data = f.read()
    info = audio.info(os.path.join(root, rel))
    return rel, {"track_id": rel, "audio": data, "audio_format": os.path.splitext(rel)[1].lstrip(".").lower(),
                 "tags": list(tags), "duration": info.duration}


def read_catalog(root, config: CatalogConfig):
    """Check a catalog folder; returns ``(rows, vocabulary, held_out, report)``, ``held_out`` being
    ``{"validation": paths, "test": paths}`` (``test`` empty without a ``test.txt``).

    Every problem is collected before anything is raised, so one run shows them all:
    missing files, unreadable files, unknown tags (under ``strict``), duplicate tracks (the same
    path twice, or identical file contents), tracks without tags, validation entries without a
    file. With ``on_problem='skip'`` the affected tracks are left out and counted instead.
    """
    root = os.fspath(root)
    csv_path = os.path.join(root, "tags.csv")
    if not tf.io.gfile.exists(csv_path):
        raise FileNotFoundError(f"{csv_path} not found.\n{MANUAL_DOWNLOAD_INSTRUCTIONS}")
    with tf.io.gfile.GFile(csv_path) as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"path", "tags"} <= set(reader.fieldnames):
            raise CatalogError(f"{csv_path}: the header must name the columns path,tags; found {reader.fieldnames}")
        raw = [(row["path"].strip(), [t.strip() for t in (row["tags"] or "").split(";") if t.strip()])
               for row in reader]
    problems = collections.defaultdict(list)
    seen_paths, seen_hashes, rows = {}, {}, []
    for line, (rel, tags) in enumerate(raw, start=2):
        where = f"{rel} (tags.csv line {line})"
        full = os.path.join(root, rel)
        if rel in seen_paths:
            problems["duplicate track"].append(f"{where}: also on line {seen_paths[rel]}")
            continue
        seen_paths[rel] = line
        if not tags:
            problems["track without tags"].append(where)
            continue
        if not tf.io.gfile.exists(full):
            problems["missing file"].append(where)
            continue
        try:
            audio.info(full)
        except AudioFileError as exc:
            problems["unreadable file"].append(f"{where}: {exc.reason}")
            continue
        digest = hashlib.sha1(tf.io.gfile.GFile(full, "rb").read()).hexdigest()
        if digest in seen_hashes:
            problems["duplicate track"].append(f"{where}: same audio as {seen_hashes[digest]}")
            continue
        seen_hashes[digest] = rel
        rows.append((rel, tags))

    counts = collections.Counter(t for _, tags in rows for t in tags)
    if config.vocabulary:
        vocabulary = list(config.vocabulary)
    else:
        vocabulary = sorted(t for t, n in counts.items() if n >= config.min_tag_count)
    known = set(vocabulary)
    dropped = collections.Counter()
    kept = []
    for rel, tags in rows:
        unknown = [t for t in tags if t not in known]
        if unknown and config.strict:
            problems["unknown tag"].append(f"{rel}: {', '.join(unknown)}")
            continue
        dropped.update(unknown)
        tags = [t for t in tags if t in known]
        if not tags:
            problems["track without tags"].append(f"{rel}: none of its tags is in the vocabulary")
            continue
        kept.append((rel, sorted(set(tags))))

    # validation entries are judged against every listed track; tracks left out for another
    # problem are not reported twice
    good = {r for r, _ in kept}
    test = _listed(root, "test.txt", "test", list(seen_paths), problems)
    validation = _validation(root, config, list(seen_paths), problems, test)
    both = sorted(validation & test)
    if both:
        problems["track in both validation.txt and test.txt"].extend(both)
    held_out = {"validation": (validation - test) & good, "test": test & good}
    if problems and config.on_problem != "skip":
        lines = [f"{root}: the catalog has problems ({sum(len(v) for v in problems.values())} in all):"]
        for kind, items in sorted(problems.items()):
            lines.append(f"  {kind}: {len(items)}")
            lines += [f"    {x}" for x in items[:10]] + ([f"    … and {len(items) - 10} more"] if len(items) > 10 else [])
        lenient = "skip_problems" if config.name == "default" else f"{config.name}_skip_problems"
        lines.append(f"Fix tags.csv / the files, or use --dataset=tagged_catalog/{lenient} to leave these tracks "
                     "out (they are counted in the build report).")
        raise CatalogError("\n".join(lines))
    report = {"tracks": len(kept), "problems": {k: len(v) for k, v in problems.items()},
              "dropped_tags": dict(dropped), "tag_counts": {t: counts[t] for t in vocabulary}}
    return kept, vocabulary, held_out, report


def _listed(root, filename, split, paths, problems):
    """The paths listed in ``root/filename`` (one per line); a listed path without a file is a problem."""
    listed = os.path.join(root, filename)
    if not tf.io.gfile.exists(listed):
        return set()
    with tf.io.gfile.GFile(listed) as f:
        names = [line.strip() for line in f if line.strip()]
    missing = [n for n in names if n not in set(paths)]
    if missing:
        problems[f"{split} track without a file"].extend(missing)
    return set(names) - set(missing)


def _validation(root, config, paths, problems, test=frozenset()):
    if config.validation_names:
        by_name = {thesis_target.normalise(p): p for p in paths}
        chosen = set()
        for name in config.validation_names:
            match = by_name.get(thesis_target.normalise(name))
            if match is None:
                problems["validation track without a file"].append(name)
            else:
                chosen.add(match)
        return chosen
    if tf.io.gfile.exists(os.path.join(root, "validation.txt")):
        return _listed(root, "validation.txt", "validation", paths, problems)
    # every 10th track by a hash of its path, among those not held out for test
    return {p for p in paths if p not in test and int(hashlib.md5(p.encode()).hexdigest(), 16) % 10 == 0}
