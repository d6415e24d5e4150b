"""TFDS → ``tf.data``: whole tracks of any length, decoded and turned into log-mel in the graph.

An example of every tfmusictag dataset (``demo_catalog``, ``tagged_catalog``, ``magnatagatune``)
holds an encoded audio file (``audio``), its ``track_id`` and its ``tags`` (a sequence of class
indices). :func:`track_pipeline` decodes the audio on all cores (soundfile + soxr, errors per
track), computes the front end (``tf.signal``; on a GPU when there is one), optionally caches
the features, and pads tracks of unequal length into batches with exact frame counts, which
:class:`~tfmusictag.tagger.TrackTagger` turns into masks. A broken track is logged with its id
and the cause, and skipped; the others go on.

Elements: ``({"log_mel": (B, P, M), "num_frames": (B,), "track_id": (B,)}, labels (B, L))``
— ready for ``model.fit`` — where ``labels`` is multi-hot over the model's vocabulary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import sys
from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfmusictag.kernels import usable_cores
from tfmusictag.audio.tfdata import decode_op
from tfmusictag.errors import ParameterError
from tfmusictag.frontend import LogMelSpectrogram, get_front_end

__all__ = ["PipelineConfig", "Splits", "load_split", "tag_names", "track_features", "batch_tracks", "track_pipeline",
           "label_mapping"]


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Options of :func:`track_pipeline`.

    Attributes:
        batch_size: tracks per batch.
        shuffle_buffer: tracks in the shuffle buffer (0: no shuffling).
        cache: ``None`` (no cache), ``""`` (features cached in memory) or a file prefix
            (cached on disk: the first epoch decodes, later epochs read the features).
        bucket_boundaries: frame counts splitting tracks into length buckets so that padding
            stays small (``()``: one padded batch of any lengths).
        max_seconds: crop tracks longer than this (``None``: whole tracks).
        deterministic: same order and same batches on every run with the same seed.
        seed: shuffle seed.
        num_parallel_calls: tracks decoded at once (``None``: one per core).
    """

    batch_size: int = 8
    shuffle_buffer: int = 256
    cache: Optional[str] = ""
    bucket_boundaries: Tuple[int, ...] = ()
    max_seconds: Optional[float] = None
    deterministic: bool = True
    seed: int = 0
    num_parallel_calls: Optional[int] = None


def load_split(name: str, split: str, data_dir: Optional[str] = None, download: bool = True,
               manual_dir: Optional[str] = None):
    """``(tf.data.Dataset, tag_names)`` of a TFDS dataset (``'demo_catalog/tiny'``...).

    ``manual_dir``: where a manually downloaded dataset lives (``tagged_catalog``,
    ``magnatagatune``); only needed the first time, when the dataset is prepared. A leading ``~``
    in either folder is the user's home (the shell leaves ``--manual_dir=~/music`` as it is).
    """
    import tensorflow_datasets as tfds

    import tfmusictag.datasets  # noqa: F401  (registers the builders)

    builder = dataset_builder(name, data_dir)
    if download:
        config = tfds.download.DownloadConfig(manual_dir=os.path.expanduser(manual_dir)) if manual_dir else None
        if not builder.is_prepared():
            # TFDS's own notices ("Downloading and preparing dataset Unknown size ...") describe a
            # download; these datasets are generated or read from the user's files: one line of ours
            print(f"preparing {name} in {builder.data_dir} (once; later runs reuse it) ...", file=sys.stderr,
                  flush=True)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                builder.download_and_prepare(download_config=config)
        except AssertionError as exc:  # TFDS's check of manual_dir, with its whole instructions text
            if not str(exc).startswith("Manual directory"):
                raise
            family = name.split("/")[0].split(":")[0]
            raise ParameterError(f"dataset {name!r}: {str(exc).split('. ')[0]}; put the files there as "
                                 f"datasets/{family}/README.md says, or give manual_dir (--manual_dir)") from None
    splits = sorted(builder.info.splits.keys())
    base = split.split("[")[0].split("+")
    unknown = [b for b in base if splits and b.strip() not in splits]
    if unknown:
        hint = (" (a catalog's test split is the tracks listed in its test.txt; rebuild after adding one: "
                "datasets/tagged_catalog/README.md)" if name.startswith("tagged_catalog") and "test" in unknown else "")
        raise ParameterError(f"dataset {name!r} has no split {unknown[0]!r}; its splits: {', '.join(splits)}{hint}")
    return builder.as_dataset(split=split, shuffle_files=False), tag_names(builder)


#: The tfmusictag datasets (``tfds.builder`` names; each has configs, see ``datasets/<name>/``).
DATASETS = ("demo_catalog", "tagged_catalog", "magnatagatune")


def dataset_builder(name: str, data_dir: Optional[str]):
    """``tfds.builder(name)``, with one clear line when ``name`` is not a tfmusictag dataset (nothing is
    prepared or downloaded)."""
    import tensorflow_datasets as tfds

    import tfmusictag.datasets  # noqa: F401  (registers the builders)

    family = str(name).split("/")[0].split(":")[0]
    data_dir = os.path.expanduser(data_dir) if data_dir else data_dir
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ParameterError(f"dataset {name!r} does not exist; tfmusictag's are {', '.join(DATASETS)} (with a "
                             "config, e.g. demo_catalog/small)") from None
    except ValueError as exc:
        if family in DATASETS and "BuilderConfig" in str(exc):
            configs = [c.name for c in tfds.builder_cls(family).BUILDER_CONFIGS]
            raise ParameterError(f"dataset {name!r}: {family} has no such config; choose one of "
                                 f"{', '.join(f'{family}/{c}' for c in configs)}") from None
        raise
    if family not in DATASETS and "tags" not in builder.info.features:
        raise ParameterError(f"dataset {name!r} is not a tagged music catalog (no 'tags' feature); tfmusictag's "
                             f"datasets are {', '.join(DATASETS)}")
    return builder


def num_examples(name: str, split: str, data_dir: Optional[str] = None, manual_dir: Optional[str] = None) -> int:
    """Tracks in ``split`` (any TFDS split expression: ``'train[20%:]+validation'``), preparing the
    dataset first if needed (the count comes from the dataset's metadata; no audio is read)."""
    import tensorflow_datasets as tfds

    load_split(name, split, data_dir, manual_dir=manual_dir)
    return int(tfds.builder(name, data_dir=data_dir).info.splits[split].num_examples)


def tag_names(builder) -> Tuple[str, ...]:
    """The tag vocabulary of a tfmusictag TFDS builder, in class-index order."""
    return tuple(builder.info.features["tags"].feature.names)


def label_mapping(dataset_tags: Sequence[str], model_tags: Sequence[str]) -> np.ndarray:
    """Index of each dataset tag in the model's vocabulary (−1: not in it, ignored)."""
    position = {t: i for i, t in enumerate(model_tags)}
    return np.array([position.get(t, -1) for t in dataset_tags], np.int32)


def split_labels(ds: tf.data.Dataset, dataset_tags: Sequence[str], model_tags: Sequence[str] = None) -> np.ndarray:
    """Multi-hot labels ``(tracks, tags)`` of a split, in the model's vocabulary, read from the
    examples' tags alone (no audio is decoded)."""
    model_tags = tuple(dataset_tags if model_tags is None else model_tags)
    mapping = label_mapping(dataset_tags, model_tags)
    rows = []
    for tags in ds.map(lambda e: e["tags"]).as_numpy_iterator():
        row = np.zeros(len(model_tags), np.float32)
        idx = mapping[np.asarray(tags, np.int64)] if len(tags) else np.zeros(0, np.int32)
        row[idx[idx >= 0]] = 1.0
        rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, len(model_tags)), np.float32)


def track_features(ds: tf.data.Dataset, dataset_tags: Sequence[str], model_tags: Sequence[str] = None,
                   front_end="thesis", config: PipelineConfig = PipelineConfig()) -> tf.data.Dataset:
    """Unbatched ``(inputs, labels)`` per track, decoded, log-mel computed, cached if configured.

    See :func:`track_pipeline` for the arguments; this is its first half (no shuffle, no batch).
    """
    fe = get_front_end(front_end)
    model_tags = tuple(dataset_tags if model_tags is None else model_tags)
    mapping = tf.constant(label_mapping(dataset_tags, model_tags))
    n_tags = len(model_tags)
    layer = LogMelSpectrogram(fe)
    max_samples = int(config.max_seconds * fe.sample_rate) if config.max_seconds else 0
    parallel = config.num_parallel_calls or usable_cores()

    def decode(example):
        decoded = decode_op(example["audio"], fe.sample_rate, name=example["track_id"], from_bytes=True,
                            max_samples=max_samples, log_errors=True)
        waveform, ok = decoded["audio"], decoded["error_type"] == 0
        idx = tf.gather(mapping, tf.cast(example["tags"], tf.int32))
        idx = tf.boolean_mask(idx, idx >= 0)
        labels = tf.reduce_max(tf.one_hot(idx, n_tags, dtype=tf.float32), axis=0)
        labels = tf.reshape(tf.cond(tf.size(idx) > 0, lambda: labels, lambda: tf.zeros([n_tags])), [n_tags])
        return {"waveform": waveform, "ok": ok, "track_id": example["track_id"], "labels": labels}

    def features(x):
        log_mel = layer(x["waveform"][None])[0]
        return {"log_mel": log_mel, "num_frames": tf.shape(log_mel)[0], "track_id": x["track_id"]}, x["labels"]

    ds = ds.map(decode, num_parallel_calls=parallel, deterministic=config.deterministic)
    ds = ds.filter(lambda x: x["ok"] & (tf.size(x["waveform"]) > 0))
    ds = ds.map(features, num_parallel_calls=parallel, deterministic=config.deterministic)
    if config.cache is not None:
        ds = ds.cache(config.cache)
    return _with_options(ds, config)


def batch_tracks(ds: tf.data.Dataset, front_end="thesis", config: PipelineConfig = PipelineConfig()):
    """Pad unbatched tracks of :func:`track_features` into batches (padding = silence)."""
    fe = get_front_end(front_end)
    if config.batch_size <= 0:
        raise ParameterError(f"batch_size={config.batch_size!r} must be a positive integer")
    n_tags = ds.element_spec[1].shape[0]
    padded = ({"log_mel": [None, fe.n_mels], "num_frames": [], "track_id": []}, [n_tags])
    pad_values = ({"log_mel": fe.silence_value(), "num_frames": 0, "track_id": ""}, 0.0)
    if config.bucket_boundaries:
        return ds.bucket_by_sequence_length(
            lambda x, y: x["num_frames"], list(config.bucket_boundaries),
            [config.batch_size] * (len(config.bucket_boundaries) + 1), padded_shapes=padded,
            padding_values=pad_values, drop_remainder=False)
    return ds.padded_batch(config.batch_size, padded_shapes=padded, padding_values=pad_values)


def _with_options(ds, config):
    options = tf.data.Options()
    options.deterministic = config.deterministic
    # decoding runs in a numpy_function, which is pure; let iterators be checkpointed
    options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
    return ds.with_options(options)


def track_pipeline(ds: tf.data.Dataset, dataset_tags: Sequence[str], model_tags: Sequence[str] = None,
                   front_end="thesis", config: PipelineConfig = PipelineConfig()) -> tf.data.Dataset:
    """Batches of whole tracks as log-mel spectrograms with multi-hot labels.

    Args:
        ds: a split of a tfmusictag TFDS dataset (:func:`load_split`).
        dataset_tags: the dataset's tag names (class-index order).
        model_tags: the model's vocabulary (default: ``dataset_tags``). Dataset tags outside it
            are ignored; model tags the dataset lacks stay 0.
        front_end: the model's front end (name, dict or :class:`~tfmusictag.frontend.FrontEndConfig`).
        config: :class:`PipelineConfig`.

    Returns:
        ``tf.data.Dataset`` of ``(inputs, labels)`` (see the module docstring).
    """
    ds = track_features(ds, dataset_tags, model_tags, front_end, config)
    if config.shuffle_buffer:
        ds = ds.shuffle(config.shuffle_buffer, seed=config.seed, reshuffle_each_iteration=True)
    return _with_options(batch_tracks(ds, front_end, config), config).prefetch(tf.data.AUTOTUNE)


class Splits:
    """A dataset's splits, each opened once, and its tracks' features made once per front end:
    what every run given it reads (:func:`tfmusictag.training.train`'s ``splits``).

    A KerasTuner search hands one to all its trials (:mod:`tfmusictag.tuning.hypermodels`): the
    TFDS dataset is opened once, and features cached in memory (a pipeline's ``cache=""``) are
    computed in the first trial and read by the others, as one long-lived ``tf.data`` pipeline.

    Args:
        dataset: TFDS name (``'demo_catalog/small'``); ``data_dir`` and ``manual_dir`` as in
            :func:`load_split`.
    """

    def __init__(self, dataset: str, data_dir: Optional[str] = None, manual_dir: Optional[str] = None):
        self.dataset, self.data_dir, self.manual_dir = dataset, data_dir, manual_dir
        self._splits, self._features = {}, {}

    def split(self, name: str):
        """``(tf.data.Dataset, tag_names)`` of split ``name`` (:func:`load_split`, once)."""
        if name not in self._splits:
            self._splits[name] = load_split(self.dataset, name, self.data_dir, manual_dir=self.manual_dir)
        return self._splits[name]

    def features(self, name: str, model_tags: Sequence[str], front_end, config: PipelineConfig) -> tf.data.Dataset:
        """:func:`track_features` of split ``name`` (the same dataset object for the same arguments;
        the batch size, shuffling and seed of ``config`` play no part in it)."""
        config = dataclasses.replace(config, batch_size=1, shuffle_buffer=0, seed=0, bucket_boundaries=())
        return self._made("features", name, model_tags, front_end, config, track_features)

    def pipeline(self, name: str, model_tags: Sequence[str], front_end, config: PipelineConfig) -> tf.data.Dataset:
        """:func:`track_pipeline` of split ``name`` (the same dataset object for the same arguments)."""
        return self._made("pipeline", name, model_tags, front_end, config, track_pipeline)

    def _made(self, kind, name, model_tags, front_end, config, make):
        fe = get_front_end(front_end)
        key = (kind, name, tuple(model_tags), repr(fe), repr(config))
        if key not in self._features:
            ds, tags = self.split(name)
            self._features[key] = make(ds, tags, tuple(model_tags), fe, config)
        return self._features[key]

