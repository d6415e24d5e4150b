"""tfmusictag — whole-track music tagging with TensorFlow/Keras.

Implements the pipeline of the master thesis "Analyses of Convolutional Neural Networks for
Automatic tagging of music tracks": audio → log-mel spectrogram (representation) → MFCC, PCA
or CNN (reduction) → Bag of Frames or LSTM over 29.1 s segments (temporal approximation) →
two-layer perceptron (classifier).

Tagging from Python is one call, ``tfmusictag.tag_files(paths, model)`` (paths and a model in,
one record per track out: :func:`tfmusictag.tagging.tag_files`). Submodules are imported on
first use, so ``import tfmusictag`` stays cheap. They follow the
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

__version__ = "0.1.0"
__all__ = ["audio", "frontend", "errors", "constants", "stages", "reduction", "temporal", "classifier", "tagger",
           "variants", "rundir", "data", "training", "evaluation", "serving", "metrics", "registry", "pretrained",
           "tagging", "thresholds", "tag_files"]


#: Functions offered at the top level (imported on first use): ``tfmusictag.tag_files(paths, model)``.
_FUNCTIONS = {"tag_files": "tagging"}


def __getattr__(name):
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"{__name__}.{_FUNCTIONS[name]}"), name)
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
