"""Reduction stage ``Y = D(X)``: MFCC, PCA(-whitening) or a CNN per segment (thesis Sec. 2.2).

Every reduction is a :class:`~tfmusictag.stages.ReductionStage`: it takes the segmented log-mel
spectrogram ``(batch, segments, frames, n_mels)`` with its frame mask
(:class:`tfmusictag.frontend.SegmentFrames`) and returns features at its ``level``:

* ``'frame'`` — one vector per frame, ``(batch, segments, frames, dim)`` with the frame mask
  (:mod:`~tfmusictag.reduction.frame`: MFCC, Alg. 4–5; PCA, Alg. 2–3; ``identity``);
* ``'segment'`` — one vector per segment, ``(batch, segments, dim)`` with the segment mask
  (:mod:`~tfmusictag.reduction.choi`: the CNN of Alg. 20 and Choi's CRNN;
  :mod:`~tfmusictag.reduction.musicnn`: the source-task CNNs of the pretrained MagnaTagATune models;
  :mod:`~tfmusictag.reduction.ensemble`: several of those side by side).

Configs are dataclasses (:mod:`~tfmusictag.reduction.config`); :data:`REDUCTIONS` maps
``ReductionConfig.type`` to a builder.
"""

from tfmusictag.reduction.config import (CNNConfig, CRNNConfig, MFCCConfig, MusicnnConfig, PCAConfig,  # noqa: F401
                                         REDUCTIONS, ReductionConfig, VGGConfig)
from tfmusictag.reduction.frame import MFCC, FrameReduction, PCAWhitening, dct_matrix  # noqa: F401
from tfmusictag.reduction.choi import ChoiCNN, ChoiCRNN, build_conv_blocks, keras1_hard_sigmoid  # noqa: F401
from tfmusictag.reduction.musicnn import MusicnnCNN, MusicnnVGG  # noqa: F401
from tfmusictag.reduction.ensemble import EnsembleReduction  # noqa: F401

__all__ = ["ReductionConfig", "MFCCConfig", "PCAConfig", "CNNConfig", "MusicnnConfig", "VGGConfig", "CRNNConfig",
           "REDUCTIONS", "build_reduction", "FrameReduction", "MFCC", "PCAWhitening", "dct_matrix", "ChoiCNN",
           "ChoiCRNN", "MusicnnCNN", "MusicnnVGG", "EnsembleReduction", "build_conv_blocks"]


def build_reduction(config: ReductionConfig, name: str = "reduction"):
    """The reduction stage named by ``config.type`` (a :class:`~tfmusictag.stages.ReductionStage`);
    the stage modules imported above have registered their builders."""
    return REDUCTIONS.get(config.type)(config, name)
