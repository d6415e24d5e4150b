"""demo_catalog: whole tracks composed and rendered locally, with exactly known tags.

The embedded default of tfmusictag: no download, no licence question, deterministic from a
seed (see :mod:`compose` for how tracks and tags are made). Examples hold the *encoded* audio
file (FLAC, Ogg Vorbis, MP3 or WAV in turn, 22.05 kHz stereo), so the pipeline decodes real
files exactly as it would a user's catalog.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import tensorflow_datasets as tfds

from tfmusictag.datasets.demo_catalog import compose
from tfmusictag.datasets.located import Located


@dataclasses.dataclass
class DemoCatalogConfig(tfds.core.BuilderConfig):
    num_tracks: int = 12
    min_seconds: float = 20.0
    max_seconds: float = 40.0
    seed: int = 0


_FORMATS = ("flac", "ogg", "mp3", "flac", "wav", "ogg")


class Builder(Located, tfds.core.GeneratorBasedBuilder):
    """Composed demo tracks with exact tags: configs ``tiny`` (tests), ``small`` (demo), ``full``,
    ``source`` (other compositions: the stand-in source task of the experiments' quick preset)."""

    VERSION = tfds.core.Version("1.2.0")
    RELEASE_NOTES = {"1.0.0": "First release: six styles, 22 tags, per-section tags.",
                     "1.1.0": "Validation and test splits stratified by style.",
                     "1.2.0": "MP3s at a constant 320 kbit/s: they decode without libmpg123 complaints."}
    BUILDER_CONFIGS = [
        DemoCatalogConfig(name="tiny", description="12 tracks of 20–40 s: builds in seconds, for tests.",
                          num_tracks=12, min_seconds=20.0, max_seconds=40.0),
        DemoCatalogConfig(name="small", description="60 tracks of 1–2.5 min: the demo (a minute to build).",
                          num_tracks=60, min_seconds=60.0, max_seconds=150.0),
        DemoCatalogConfig(name="full", description="400 tracks of 30 s – 8 min: benchmarks.",
                          num_tracks=400, min_seconds=30.0, max_seconds=480.0),
        DemoCatalogConfig(name="source", description="150 other tracks of 30–60 s (seed 1): the source task of "
                          "tfmusictag.experiments' quick preset.", num_tracks=150, min_seconds=30.0, max_seconds=60.0,
                          seed=1),
    ]
    DEFAULT_CONFIG_NAME = "small"

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "track_id": tfds.features.Text(),
                "audio": tfds.features.Tensor(shape=(), dtype=np.object_),
                "audio_format": tfds.features.Text(),
                "tags": tfds.features.Sequence(tfds.features.ClassLabel(names=compose.TAGS)),
                "duration": tfds.features.Scalar(dtype=np.float32),
                "style": tfds.features.Text(),
                "sections": tfds.features.Text(doc="JSON list of {start, end, tags} per section"),
            }),
            supervised_keys=None,
            homepage="https://github.com/tfmusictag/tfmusictag",
        )

    def _split_generators(self, dl_manager):
        n = self.builder_config.num_tracks
        # 75 / 12.5 / 12.5 %, stratified by style: track i has style i % 6 and is the k-th of that
        # style (k = i // 6); one in eight of each style goes to validation, one to test.
        n_styles = len(compose.STYLES)
        split_of = ["train"] * n
        for i in range(n):
            phase = (i // n_styles + i % n_styles) % 8
            if phase == 3:
                split_of[i] = "validation"
            elif phase == 6:
                split_of[i] = "test"
        return {s: self._generate_examples([i for i in range(n) if split_of[i] == s])
                for s in ("train", "validation", "test")}

    def _generate_examples(self, indices):
        c = self.builder_config
        styles = sorted(compose.STYLES)
        for i in indices:
            rng = np.random.default_rng([c.seed, i])
            seconds = float(rng.uniform(c.min_seconds, c.max_seconds))
            track = compose.make_track(seed=c.seed * 100003 + i, seconds=seconds, style=styles[i % len(styles)])
            fmt = _FORMATS[i % len(_FORMATS)]
            track_id = f"demo-{c.name}-{i:04d}"
            yield track_id, {
                "track_id": track_id,
                "audio": compose.encode(track.audio, track.sample_rate, fmt),
                "audio_format": fmt,
                "tags": list(track.tags),
                "duration": seconds,
                "style": track.style,
                "sections": json.dumps(track.sections),
            }
