"""Reduction configs and their registry: ``ReductionConfig.type`` names the builder (thesis Sec. 2.2)."""

from __future__ import annotations

import dataclasses
from typing import Tuple

from tfmusictag import constants
from tfmusictag.registry import Registry

__all__ = ["ReductionConfig", "MFCCConfig", "PCAConfig", "CNNConfig", "MusicnnConfig", "VGGConfig", "CRNNConfig",
           "REDUCTIONS", "READOUTS", "ENSEMBLE_MEMBERS"]


@dataclasses.dataclass(frozen=True)
class MFCCConfig:
    """Algorithm 4–5: ``n_mfcc`` DCT-II coefficients of the log-mel bands (thesis: 90 of 96)."""

    n_mfcc: int = constants.N_MFCC


@dataclasses.dataclass(frozen=True)
class PCAConfig:
    """Algorithms 2–3: PCA fitted with ``adapt`` on training frames; ``whiten`` for PCA whitening."""

    n_components: int = 64
    whiten: bool = True


@dataclasses.dataclass(frozen=True)
class CNNConfig:
    """Algorithm 20 (Choi, Fazekas & Sandler 2016), sized to the published MSD weights.

    The thesis's Algorithm 20 lists MaxPool (2, 4) after every layer, no pool after layer 5 and
    a 1024-d output. Those sizes do not fit any released weights and 1366 frames pooled by 4
    five times do not give 1024 values; the layer sizes here are those of Choi's published
    ``music_tagger_cnn`` weights (filters 32/128/128/192/256, pools (2,4), (2,4), (2,4), (3,5),
    (4,4) over (mel, time)), which reduce a 96 × 1366 segment to a 256-d vector.

    ``input_norm_axis``: the first batch normalisation. The thesis (and Choi's paper) normalise
    each *frequency* band (``'freq'``, 96 parameters); Choi's released TensorFlow weights
    normalise each *time* step (``'time'``, 1366 parameters: the ``freq_axis`` of the Theano code
    applied to TensorFlow's dimension order). Use ``'time'`` to load those weights.
    """

    filters: Tuple[int, ...] = (32, 128, 128, 192, 256)
    pools: Tuple[Tuple[int, int], ...] = ((2, 4), (2, 4), (2, 4), (3, 5), (4, 4))
    kernel_size: int = 3
    input_norm_axis: str = "freq"
    dropout: float = 0.0
    bn_epsilon: float = 1e-3


@dataclasses.dataclass(frozen=True)
class MusicnnConfig:
    """musicnn (Pons & Serra 2019, :class:`~tfmusictag.reduction.musicnn.MusicnnCNN`); defaults are the
    released ``MTT_musicnn``/``MSD_musicnn`` sizes (``MSD_musicnn_big``, not in the PyPI sdist, has 512
    mid-end filters)."""

    n_mels: int = 96
    frontend_filters: float = 1.6
    midend_filters: int = 64


@dataclasses.dataclass(frozen=True)
class VGGConfig:
    """musicnn's VGG-like CNN (:class:`~tfmusictag.reduction.musicnn.MusicnnVGG`): 128 filters per layer."""

    filters: int = 128
    dropout: float = 0.25


@dataclasses.dataclass(frozen=True)
class CRNNConfig:
    """Choi et al.'s CRNN (:class:`ChoiCRNN`), sized to the released MSD weights."""

    filters: Tuple[int, ...] = (64, 128, 128, 128)
    pools: Tuple[Tuple[int, int], ...] = ((2, 2), (3, 3), (4, 4), (4, 4))
    gru_units: Tuple[int, ...] = (32, 32)
    time_pad: int = 37
    dropout: float = 0.1
    bn_epsilon: float = 1e-6


@dataclasses.dataclass(frozen=True)
class ReductionConfig:
    """One of the reductions, chosen by ``type``: ``'mfcc'``, ``'pca'``, ``'cnn'`` (the thesis's),
    ``'identity'``, Choi's ``'crnn'``, the pretrained source-task CNNs ``'musicnn'`` and ``'vgg'``, or
    ``'ensemble'``: the segment CNNs named by ``members`` (e.g. ``('vgg', 'musicnn')``) side by side on
    the same segments, each built from this config's sub-config of its type
    (:class:`~tfmusictag.reduction.ensemble.EnsembleReduction`; ``--init_from=MTT_vgg,MSD_musicnn``).

    ``readout`` says which layers of a block CNN (``'cnn'``, ``'vgg'``) give a segment's vector:
    ``'last'`` (the network's output, as in the thesis) or ``'all_layers'``: the mean and the
    maximum over (time, frequency) of every block's output, concatenated (Choi, Fazekas, Sandler &
    Cho 2017, "Transfer learning for music classification and regression tasks": the features of
    all layers transfer better to a new task than the last layer's alone). musicnn's vector is
    already a readout of all its layers, so every value gives it. ``'last_and_all_layers'`` gives
    both, the last block's vector first: two feature groups (:meth:`ReductionStage.feature_groups`)
    that a classifier with ``heads='per_readout'`` reads with one head each. The weights are the
    same whatever the readout, so a source network is transferred whatever its readout.
    """

    type: str = "mfcc"
    readout: str = "last"
    members: Tuple[str, ...] = ()
    mfcc: MFCCConfig = dataclasses.field(default_factory=MFCCConfig)
    pca: PCAConfig = dataclasses.field(default_factory=PCAConfig)
    cnn: CNNConfig = dataclasses.field(default_factory=CNNConfig)
    musicnn: MusicnnConfig = dataclasses.field(default_factory=MusicnnConfig)
    vgg: VGGConfig = dataclasses.field(default_factory=VGGConfig)
    crnn: CRNNConfig = dataclasses.field(default_factory=CRNNConfig)


REDUCTIONS = Registry("reduction")
#: Values of ``ReductionConfig.readout``; ``'all_layers'`` only for the block CNNs (and musicnn, where it is the same).
READOUTS = ("last", "all_layers", "last_and_all_layers")
ALL_LAYER_READOUTS = ("cnn", "vgg", "musicnn")
#: Reduction types an ``'ensemble'`` can join: the segment CNNs.
ENSEMBLE_MEMBERS = ("cnn", "crnn", "musicnn", "vgg")
