"""tfmusictag — whole-track music tagging with TensorFlow/Keras.

Implements the pipeline of the master thesis "Analyses of Convolutional Neural Networks for
Automatic tagging of music tracks": audio → log-mel spectrogram (representation) → MFCC, PCA
or CNN (reduction) → Bag of Frames or LSTM over 29.1 s segments (temporal approximation) →
two-layer perceptron (classifier).

From Python: ``tfmusictag.tag_files(paths)`` (files, folders, globs in; one record per track out,
as they are tagged), ``tfmusictag.tag_file(path)`` (one record), ``tfmusictag.tag_waveform(y,
sample_rate)`` (samples in memory), each with ``model=`` a pretrained name, a SavedModel or a run
directory (default :data:`DEFAULT_MODEL`), and ``tfmusictag.train(config, model_dir)``.
Submodules are imported on first use, so ``import tfmusictag`` (and ``from tfmusictag import *``)
stays cheap: TensorFlow loads when a function is called. They follow the
pipeline, and import one way only (programs → training/evaluation/serving → pretrained → rundir →
tagger → stages → frontend/audio):

* :mod:`tfmusictag.audio` — decode any audio file to mono float32 (soundfile + soxr);
  :mod:`tfmusictag.audio.tfdata` — the typed bridge into ``tf.data``.
* :mod:`tfmusictag.frontend` — representation: log-mel spectrogram, 29.12 s segments, streaming.
* :mod:`tfmusictag.stages` — the contract of reduction and temporal stages.
* :mod:`tfmusictag.reduction` (MFCC, PCA, the CNNs), :mod:`tfmusictag.temporal` (BoF, LSTMs,
  pooling), :mod:`tfmusictag.classifier` — the stages.
* :mod:`tfmusictag.tagger`, :mod:`tfmusictag.variants` — the model and the thesis's variants.
* :mod:`tfmusictag.rundir` — the run directory: a run's files, and loading a trained model.
* :mod:`tfmusictag.pretrained` — musicnn's MagnaTagATune/MSD and Choi et al.'s MSD models, converted.
* :mod:`tfmusictag.data`, :mod:`tfmusictag.training`, :mod:`tfmusictag.evaluation`,
  :mod:`tfmusictag.serving`, :mod:`tfmusictag.metrics` — data, training, evaluation, export.
* :mod:`tfmusictag.datasets` (TFDS builders), :mod:`tfmusictag.tuning` (KerasTuner hypermodels).
* :mod:`tfmusictag.library` — a collection's tags kept in a store, tagged incrementally, searched,
  made into playlists, written into the files (and into beets: ``beetsplug/tfmusictag.py``).
* :mod:`tfmusictag.reproduction` — the thesis's Tables 4.3–4.10, their presets and runner.
* :mod:`tfmusictag.errors` — the error types.

Programs (:mod:`tfmusictag.cli`): ``python -m tfmusictag.train | evaluate | export | predict | tune |
demo | transfer_demo | experiments | library | pretrained``.
"""

import importlib

from tfmusictag.constants import DEFAULT_MODEL

__version__ = "0.1.0"
#: What ``from tfmusictag import *`` gives: the functions below (TensorFlow loads when one is called).
__all__ = ["tag_files", "tag_file", "tag_waveform", "train", "DEFAULT_MODEL"]
#: Submodules, imported on first use (``tfmusictag.serving``, ...).
SUBMODULES = ("audio", "frontend", "errors", "constants", "stages", "reduction", "temporal", "classifier", "tagger",
              "variants", "rundir", "data", "training", "evaluation", "serving", "metrics", "registry", "pretrained",
              "tagging", "thresholds", "calibration", "decisions", "taggram", "kernels", "library")


def tag_files(paths, model=DEFAULT_MODEL, **kwargs):
    """Tag every audio file under ``paths``: one record per track, in order, as they are tagged.
    :func:`tfmusictag.tagging.tag_files` (its arguments and records)."""
    from tfmusictag.tagging import tag_files as run

    return run(paths, model, **kwargs)


def tag_file(path, model=DEFAULT_MODEL, **kwargs) -> dict:
    """One file's record, or its error raised: :func:`tfmusictag.tagging.tag_file`."""
    from tfmusictag.tagging import tag_file as run

    return run(path, model, **kwargs)


def tag_waveform(y, sample_rate, model=DEFAULT_MODEL, **kwargs) -> dict:
    """Tag samples already in memory (any length, any rate): :func:`tfmusictag.tagging.tag_waveform`."""
    from tfmusictag.tagging import tag_waveform as run

    return run(y, sample_rate, model, **kwargs)


def train(config, model_dir, **kwargs):
    """Train (or resume, ``resume=True``) a run into ``model_dir`` from a
    :class:`~tfmusictag.training.config.TrainConfig`; returns its evaluation report:
    :func:`tfmusictag.training.trainer.train`."""
    from tfmusictag.training.trainer import train as run

    return run(config, model_dir, **kwargs)


def __getattr__(name):
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
