"""Reduction stage ``Y = D(X)``: MFCC, PCA(-whitening) or the 5-layer 2D CNN (thesis Sec. 2.2).

Every reduction takes the segmented log-mel spectrogram ``(batch, segments, frames, n_mels)``
with its frame mask (:class:`tfmusictag.features.SegmentFrames`) and returns features at one of
two levels, named by its ``level`` attribute:

* ``'frame'`` — one vector per frame, ``(batch, segments, frames, dim)`` with the frame mask
  (MFCC, Alg. 4–5; PCA, Alg. 2–3; ``identity``: the log-mel frames themselves);
* ``'segment'`` — one vector per 29.12 s segment, ``(batch, segments, dim)`` with the segment
  mask (the CNN of Alg. 20).

Configs are dataclasses; :data:`REDUCTIONS` maps ``ReductionConfig.type`` to a builder.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import keras
import tensorflow as tf

from tfmusictag import constants
from tfmusictag.errors import ParameterError
from tfmusictag.features import MFCC, PCAWhitening
from tfmusictag.registry import Registry

__all__ = ["ReductionConfig", "MFCCConfig", "PCAConfig", "CNNConfig", "MusicnnConfig", "VGGConfig", "CRNNConfig",
           "REDUCTIONS", "build_reduction", "build_conv_blocks", "FrameReduction", "ChoiCNN", "ChoiCRNN"]

_PACKAGE = "tfmusictag"


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
    """musicnn (Pons & Serra 2019, :class:`~tfmusictag.musicnn.MusicnnCNN`); defaults are the
    released ``MTT_musicnn``/``MSD_musicnn`` sizes (``MSD_musicnn_big``, not in the PyPI sdist, has 512
    mid-end filters)."""

    n_mels: int = 96
    frontend_filters: float = 1.6
    midend_filters: int = 64


@dataclasses.dataclass(frozen=True)
class VGGConfig:
    """musicnn's VGG-like CNN (:class:`~tfmusictag.musicnn.MusicnnVGG`): 128 filters per layer."""

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
    ``'identity'``, Choi's ``'crnn'``, or the pretrained source-task CNNs ``'musicnn'`` and ``'vgg'``."""

    type: str = "mfcc"
    mfcc: MFCCConfig = dataclasses.field(default_factory=MFCCConfig)
    pca: PCAConfig = dataclasses.field(default_factory=PCAConfig)
    cnn: CNNConfig = dataclasses.field(default_factory=CNNConfig)
    musicnn: MusicnnConfig = dataclasses.field(default_factory=MusicnnConfig)
    vgg: VGGConfig = dataclasses.field(default_factory=VGGConfig)
    crnn: CRNNConfig = dataclasses.field(default_factory=CRNNConfig)


REDUCTIONS = Registry("reduction")


def build_reduction(config: ReductionConfig, name: str = "reduction"):
    return REDUCTIONS.get(config.type)(config, name)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FrameReduction(keras.layers.Layer):
    """Apply a frame-wise layer (MFCC, PCA, identity) to segmented frames; keeps the frame mask.

    Args:
        frame_layer: a Keras layer mapping ``(..., n_mels)`` to ``(..., dim)``, or ``None`` for
            the identity (log-mel frames are the features).

    Call arguments:
        segments: ``(batch, segments, frames, n_mels)``.
        frame_mask: ``(batch, segments, frames)`` bool.

    Returns:
        ``(features, frame_mask)``, features ``(batch, segments, frames, dim)``.
    """

    level = "frame"

    def __init__(self, frame_layer: Optional[keras.layers.Layer] = None, **kwargs):
        super().__init__(**kwargs)
        self.frame_layer = frame_layer

    def build(self, segments_shape, frame_mask_shape=None):
        if self.frame_layer is not None and not self.frame_layer.built:
            self.frame_layer.build(segments_shape)

    def call(self, segments, frame_mask, training=None):
        y = segments if self.frame_layer is None else self.frame_layer(segments)
        return y, frame_mask

    def output_dim(self, n_mels, n_frames=None):
        if self.frame_layer is None:
            return n_mels
        return self.frame_layer.compute_output_shape((None, n_mels))[-1]

    def get_config(self):
        config = super().get_config()
        config["frame_layer"] = None if self.frame_layer is None else keras.saving.serialize_keras_object(self.frame_layer)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = config.pop("frame_layer")
        return cls(frame_layer=None if layer is None else keras.saving.deserialize_keras_object(layer), **config)


def build_conv_blocks(input_norm, convs, norms, pooling, shape):
    """Build ``input_norm`` then each (conv → norm → pool) block from ``shape``; returns the
    shape after the last pool (shared by the CNNs of this module and :mod:`tfmusictag.musicnn`)."""
    input_norm.build(shape)
    for conv, norm, pool in zip(convs, norms, pooling):
        conv.build(shape)
        shape = conv.compute_output_shape(shape)
        norm.build(shape)
        shape = pool.compute_output_shape(shape)
    return shape


@REDUCTIONS.register("mfcc")
def _build_mfcc(config: ReductionConfig, name):
    return FrameReduction(MFCC(config.mfcc.n_mfcc, name="mfcc"), name=name)


@REDUCTIONS.register("pca")
def _build_pca(config: ReductionConfig, name):
    return FrameReduction(PCAWhitening(config.pca.n_components, whiten=config.pca.whiten, name="pca"), name=name)


@REDUCTIONS.register("identity")
def _build_identity(config: ReductionConfig, name):
    return FrameReduction(None, name=name)


@REDUCTIONS.register("cnn")
def _build_cnn(config: ReductionConfig, name):
    c = config.cnn
    return ChoiCNN(filters=c.filters, pools=c.pools, kernel_size=c.kernel_size,
                   input_norm_axis=c.input_norm_axis, dropout=c.dropout, bn_epsilon=c.bn_epsilon, name=name)


_NORM_AXES = ("freq", "time")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ChoiCNN(keras.layers.Layer):
    """The 5-layer 2D CNN of Algorithm 20: one vector per 29.12 s segment.

    ``BatchNorm`` over the input bands, then per layer ``k``: 3×3 convolution → batch norm over
    channels (``Spatial_Bn``) → ELU → MaxPool ``pools[k]`` over (mel, time) → optional dropout;
    finally flatten. Segments are folded into the batch, so a whole track is one call (no Python
    loop over segments). Sub-layers are named as in Choi's released weights
    (``bn_0_freq``, ``conv1``…``conv5``, ``bn1``…``bn5``) so they can be loaded by name.

    Layer groups (thesis Tables 4.5–4.8): ``cnn_low`` = input norm + layers 1–2,
    ``cnn_high`` = layers 3–5 (see :meth:`groups`).

    Args:
        filters: filters per layer. Defaults to ``(32, 128, 128, 192, 256)``.
        pools: (mel, time) pool sizes per layer. Defaults to ``((2,4), (2,4), (2,4), (3,5), (4,4))``.
        kernel_size: int, square kernel size. Defaults to 3.
        input_norm_axis: ``'freq'`` (thesis) or ``'time'`` (Choi's released weights).
        dropout: float in [0, 1), dropout after each pool. Defaults to 0.
        bn_epsilon: float > 0, the batch norms' epsilon. Defaults to 1e-3 (Keras); Choi's
            released weights were trained with Keras 1's 1e-6.

    Call arguments:
        segments: ``(batch, segments, frames, n_mels)`` log-mel segments.
        frame_mask: ``(batch, segments, frames)``; only its segment-level summary is used.

    Returns:
        ``(features, segment_mask)``: ``(batch, segments, dim)`` and ``(batch, segments)``.
    """

    level = "segment"

    def __init__(self, filters=(32, 128, 128, 192, 256), pools=((2, 4), (2, 4), (2, 4), (3, 5), (4, 4)),
                 kernel_size: int = 3, input_norm_axis: str = "freq", dropout: float = 0.0, bn_epsilon: float = 1e-3,
                 **kwargs):
        super().__init__(**kwargs)
        filters, pools = tuple(int(f) for f in filters), tuple(tuple(int(x) for x in p) for p in pools)
        if len(filters) != len(pools) or not filters:
            raise ParameterError(f"filters={filters} and pools={pools} must be non-empty and of equal length")
        if input_norm_axis not in _NORM_AXES:
            raise ParameterError(f"input_norm_axis={input_norm_axis!r} must be one of {_NORM_AXES}")
        if not 0 <= dropout < 1:
            raise ParameterError(f"dropout={dropout!r} must be in [0, 1)")
        self.filters, self.pools, self.kernel_size = filters, pools, int(kernel_size)
        self.input_norm_axis, self.dropout = input_norm_axis, float(dropout)
        # (N, n_mels, frames, 1): axis 1 is frequency, axis 2 time
        self.bn_epsilon = float(bn_epsilon)
        self.input_norm = keras.layers.BatchNormalization(axis=1 if input_norm_axis == "freq" else 2,
                                                          epsilon=self.bn_epsilon,
                                                          name="bn_0_freq")
        self.convs, self.norms, self.pooling, self.drops = [], [], [], []
        for i, (f, p) in enumerate(zip(filters, pools), start=1):
            self.convs.append(keras.layers.Conv2D(f, self.kernel_size, padding="same", name=f"conv{i}"))
            self.norms.append(keras.layers.BatchNormalization(axis=-1, epsilon=self.bn_epsilon, name=f"bn{i}"))
            self.pooling.append(keras.layers.MaxPooling2D(p, name=f"pool{i}"))
            self.drops.append(keras.layers.Dropout(self.dropout, name=f"dropout{i}"))

    def groups(self):
        """Layer groups for freezing / per-group learning rates (Tables 4.5–4.8)."""
        low = [self.input_norm] + [l for i in range(min(2, len(self.convs))) for l in (self.convs[i], self.norms[i])]
        high = [l for i in range(2, len(self.convs)) for l in (self.convs[i], self.norms[i])]
        return {"cnn_low": low, "cnn_high": high}

    def output_dim(self, n_mels, n_frames=constants.SEGMENT_FRAMES):
        h, w = n_mels, n_frames
        for ph, pw in self.pools:
            h, w = h // ph, w // pw
        if h < 1 or w < 1:
            raise ParameterError(f"pools={self.pools} reduce a {n_mels}×{n_frames} segment to nothing")
        return h * w * self.filters[-1]

    def build(self, segments_shape, frame_mask_shape=None):
        n_frames, n_mels = segments_shape[-2], segments_shape[-1]
        self.output_dim(n_mels, n_frames)
        build_conv_blocks(self.input_norm, self.convs, self.norms, self.pooling, (None, n_mels, n_frames, 1))

    def call(self, segments, frame_mask, training=None):
        shape = tf.shape(segments)
        b, s, f, m = shape[0], shape[1], segments.shape[2], segments.shape[3]
        x = tf.transpose(tf.reshape(segments, [-1, f, m]), [0, 2, 1])[..., None]  # (N, mels, frames, 1)
        x = self.input_norm(x, training=training)
        for conv, norm, pool, drop in zip(self.convs, self.norms, self.pooling, self.drops):
            x = pool(tf.nn.elu(norm(conv(x), training=training)))
            if self.dropout:
                x = drop(x, training=training)
        x = tf.reshape(x, [b, s, self.output_dim(m, f)])
        return x, tf.reduce_any(frame_mask, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": list(self.filters), "pools": [list(p) for p in self.pools],
                       "kernel_size": self.kernel_size, "input_norm_axis": self.input_norm_axis,
                       "dropout": self.dropout, "bn_epsilon": self.bn_epsilon})
        return config



@keras.saving.register_keras_serializable(package=_PACKAGE)
def keras1_hard_sigmoid(x):
    """Keras 1's ``hard_sigmoid``: ``clip(0.2·x + 0.5, 0, 1)`` (Keras 3's has slope 1/6)."""
    return tf.clip_by_value(0.2 * x + 0.5, 0.0, 1.0)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ChoiCRNN(keras.layers.Layer):
    """Choi, Fazekas, Sandler & Cho's convolutional recurrent network (ICASSP 2017): 4 conv blocks
    and 2 GRUs summarise each 29.12 s segment into one vector (32 values).

    As released (``music_tagger_crnn``): the 96 × 1366 segment is zero-padded by 37 frames on
    both sides (1440 frames), batch-normalised per time step, then per block 3×3 convolution →
    batch norm → ELU → max-pool (2,2), (3,3), (4,4), (4,4) over (mel, time) → dropout; the
    remaining 1 × 15 × 128 map is read as 15 steps of 128 values by two GRUs (Keras 1 GRU:
    ``hard_sigmoid`` gates, reset gate applied before the recurrent product).

    Args:
        filters: per conv block. Defaults to ``(64, 128, 128, 128)``.
        pools: (mel, time) pools. Defaults to ``((2,2), (3,3), (4,4), (4,4))``.
        gru_units: units of each GRU. Defaults to ``(32, 32)``.
        time_pad: frames of zero padding on each side. Defaults to 37.
        dropout: after each pool. Defaults to 0.1.
        bn_epsilon: the batch norms' epsilon. Defaults to 1e-6 (Keras 1).

    Call arguments / Returns: as :class:`ChoiCNN` (``(batch, segments, gru_units[-1])``).
    """

    level = "segment"

    def __init__(self, filters=(64, 128, 128, 128), pools=((2, 2), (3, 3), (4, 4), (4, 4)), gru_units=(32, 32),
                 time_pad: int = 37, dropout: float = 0.1, bn_epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.pools = tuple(int(f) for f in filters), tuple(tuple(int(x) for x in p) for p in pools)
        self.gru_units, self.time_pad = tuple(int(u) for u in gru_units), int(time_pad)
        self.dropout, self.bn_epsilon = float(dropout), float(bn_epsilon)
        if len(self.filters) != len(self.pools) or not self.filters or not self.gru_units:
            raise ParameterError(f"filters={self.filters}, pools={self.pools}, gru_units={self.gru_units} must be "
                                 "non-empty (filters and pools of equal length)")
        self.input_norm = keras.layers.BatchNormalization(axis=2, epsilon=self.bn_epsilon, name="bn_0_freq")
        self.convs = [keras.layers.Conv2D(f, 3, padding="same", name=f"conv{i}") for i, f in enumerate(self.filters, 1)]
        self.norms = [keras.layers.BatchNormalization(epsilon=self.bn_epsilon, name=f"bn{i}")
                      for i in range(1, len(self.filters) + 1)]
        self.pooling = [keras.layers.MaxPooling2D(p, name=f"pool{i}") for i, p in enumerate(self.pools, 1)]
        self.drop = keras.layers.Dropout(self.dropout)
        self.grus = [keras.layers.GRU(u, recurrent_activation=keras1_hard_sigmoid, reset_after=False,
                                      return_sequences=i < len(self.gru_units), name=f"gru{i}")
                     for i, u in enumerate(self.gru_units, 1)]

    def groups(self):
        """``cnn_low``: input norm + blocks 1–2; ``cnn_high``: blocks 3–4 and the GRUs."""
        pairs = [(c, n) for c, n in zip(self.convs, self.norms)]
        return {"cnn_low": [self.input_norm] + [l for p in pairs[:2] for l in p],
                "cnn_high": [l for p in pairs[2:] for l in p] + list(self.grus)}

    def _map_shape(self, n_mels, n_frames):
        h, w = n_mels, n_frames + 2 * self.time_pad
        for ph, pw in self.pools:
            h, w = h // ph, w // pw
        if h < 1 or w < 1:
            raise ParameterError(f"pools={self.pools} reduce a {n_mels}×{n_frames} segment to nothing")
        return h, w

    def output_dim(self, n_mels=None, n_frames=None):
        return self.gru_units[-1]

    def build(self, segments_shape, frame_mask_shape=None):
        n_frames, n_mels = segments_shape[-2], segments_shape[-1]
        build_conv_blocks(self.input_norm, self.convs, self.norms, self.pooling,
                          (None, n_mels, n_frames + 2 * self.time_pad, 1))
        h, w = self._map_shape(n_mels, n_frames)
        seq = (None, w, h * self.filters[-1])
        for gru in self.grus:
            gru.build(seq)
            seq = (None, w, gru.units)

    def call(self, segments, frame_mask, training=None):
        shape = tf.shape(segments)
        f, m = segments.shape[2], segments.shape[3]
        x = tf.transpose(tf.reshape(segments, [-1, f, m]), [0, 2, 1])[..., None]  # (N, mels, frames, 1)
        x = tf.pad(x, [[0, 0], [0, 0], [self.time_pad, self.time_pad], [0, 0]])
        x = self.input_norm(x, training=training)
        for conv, norm, pool in zip(self.convs, self.norms, self.pooling):
            x = self.drop(pool(tf.nn.elu(norm(conv(x), training=training))), training=training)
        h, w = self._map_shape(m, f)
        x = tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [-1, w, h * self.filters[-1]])  # (N, time steps, features)
        for gru in self.grus:
            x = gru(x, training=training)
        return tf.reshape(x, [shape[0], shape[1], self.gru_units[-1]]), tf.reduce_any(frame_mask, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": list(self.filters), "pools": [list(p) for p in self.pools],
                       "gru_units": list(self.gru_units), "time_pad": self.time_pad, "dropout": self.dropout,
                       "bn_epsilon": self.bn_epsilon})
        return config


@REDUCTIONS.register("crnn")
def _build_crnn(config: ReductionConfig, name):
    c = config.crnn
    return ChoiCRNN(c.filters, c.pools, c.gru_units, c.time_pad, c.dropout, c.bn_epsilon, name=name)


# The source-task CNNs of the pretrained models register themselves ('musicnn', 'vgg').
from tfmusictag import musicnn as _musicnn  # noqa: E402,F401  (import for registration)
