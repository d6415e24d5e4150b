"""tfmusictag — whole-track music tagging with TensorFlow/Keras.

Implements the pipeline of the master thesis "Analyses of Convolutional Neural Networks for
Automatic tagging of music tracks": audio → log-mel spectrogram (representation) → MFCC, PCA
or CNN (reduction) → Bag of Frames or LSTM over 29.1 s segments (temporal approximation) →
two-layer perceptron (classifier).

Submodules are imported on first use, so ``import tfmusictag`` stays cheap:

* :mod:`tfmusictag.audio` — decode any audio file to mono float32 (soundfile + soxr).
* :mod:`tfmusictag.features` — Keras layers: log-mel, MFCC, PCA whitening, segments.
* :mod:`tfmusictag.reduction`, :mod:`tfmusictag.temporal`, :mod:`tfmusictag.classifier` — the stages;
  :mod:`tfmusictag.musicnn` — musicnn's CNNs as reductions.
* :mod:`tfmusictag.pretrained` — musicnn's MagnaTagATune/MSD and Choi et al.'s MSD models, converted.
* :mod:`tfmusictag.tagger`, :mod:`tfmusictag.variants` — the model and the thesis's variants.
* :mod:`tfmusictag.data`, :mod:`tfmusictag.training`, :mod:`tfmusictag.metrics` — data, training, evaluation.
* :mod:`tfmusictag.errors` — the error types.

Programs: ``python -m tfmusictag.train | evaluate | export | predict | tune | demo | transfer_demo |
pretrained``.
"""

import importlib

__version__ = "0.1.0"
__all__ = ["audio", "features", "errors", "constants", "reduction", "musicnn", "temporal", "classifier", "tagger",
           "variants", "data", "training", "metrics", "registry", "pretrained"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
