"""Choi et al.'s CNNs as reductions: the thesis's 5-layer 2D CNN (Algorithm 20) and the CRNN.

Both map every 29.12 s segment (1366 frames × 96 mel bands) to one vector
(:class:`~tfmusictag.stages.ReductionStage` of level ``'segment'``); their sizes are those of
Choi's released MSD weights (:mod:`tfmusictag.pretrained.choi2016`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfmusictag import constants
from tfmusictag.errors import ParameterError
from tfmusictag.reduction.config import READOUTS, REDUCTIONS, ReductionConfig
from tfmusictag.shapes import batch_safe, merge_dims
from tfmusictag.stages import ReductionStage

__all__ = ["ChoiCNN", "ChoiCRNN", "keras1_hard_sigmoid", "build_conv_blocks"]

_PACKAGE = "tfmusictag"


def build_conv_blocks(input_norm, convs, norms, pooling, shape):
    """Build ``input_norm`` then each (conv → norm → pool) block from ``shape``; returns the
    shape after the last pool (shared by the CNNs of this module and :mod:`tfmusictag.reduction.musicnn`)."""
    input_norm.build(shape)
    for conv, norm, pool in zip(convs, norms, pooling):
        conv.build(shape)
        shape = conv.compute_output_shape(shape)
        norm.build(shape)
        shape = pool.compute_output_shape(shape)
    return shape


def block_stats(x):
    """``(N, h, w, C)`` feature map → ``(N, 2·C)``: its mean and maximum over (h, w), interleaved per
    block as ``[means, maxima]`` — one block's part of the ``'all_layers'`` readout
    (:class:`~tfmusictag.reduction.config.ReductionConfig`)."""
    return tf.concat([tf.reduce_mean(x, [1, 2]), tf.reduce_max(x, [1, 2])], -1)


def readout_groups(readout: str, last_dim: int, all_dim: int) -> tuple:
    """Feature-group sizes of a block CNN's segment vector for ``readout`` (``last_dim``: the last
    block flattened; ``all_dim``: the mean and max of every block)."""
    return {"last": (last_dim,), "all_layers": (all_dim,), "last_and_all_layers": (last_dim, all_dim)}[readout]


def assemble_readout(readout: str, last, stats):
    """A block CNN's ``(N, dim)`` segment vectors: its last block ``(N, h, w, C)`` flattened, the
    blocks' :func:`block_stats`, or both (last first)."""
    parts = []
    if readout != "all_layers":
        parts.append(merge_dims(last, 1, last.shape.rank))
    if readout != "last":
        parts.append(tf.concat(stats, -1))
    return parts[0] if len(parts) == 1 else tf.concat(parts, -1)


def check_readout(readout: str, owner: str) -> str:
    if readout not in READOUTS:
        raise ParameterError(f"{owner}: readout={readout!r} must be one of {READOUTS}")
    return readout


@REDUCTIONS.register("cnn")
def _build_cnn(config: ReductionConfig, name):
    c = config.cnn
    return ChoiCNN(filters=c.filters, pools=c.pools, kernel_size=c.kernel_size,
                   input_norm_axis=c.input_norm_axis, dropout=c.dropout, bn_epsilon=c.bn_epsilon,
                   readout=config.readout, name=name)


_NORM_AXES = ("freq", "time")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ChoiCNN(ReductionStage):
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
        readout: ``'last'`` (the flattened last block, thesis) or ``'all_layers'`` (mean and max
            of every block: ``2·sum(filters)`` values; see :func:`block_stats`).

    Call arguments:
        segments: ``(batch, segments, frames, n_mels)`` log-mel segments.
        frame_mask: ``(batch, segments, frames)``; only its segment-level summary is used.

    Returns:
        ``(features, segment_mask)``: ``(batch, segments, dim)`` and ``(batch, segments)``.
    """

    level = "segment"

    def __init__(self, filters=(32, 128, 128, 192, 256), pools=((2, 4), (2, 4), (2, 4), (3, 5), (4, 4)),
                 kernel_size: int = 3, input_norm_axis: str = "freq", dropout: float = 0.0, bn_epsilon: float = 1e-3,
                 readout: str = "last", **kwargs):
        super().__init__(**kwargs)
        self.readout = check_readout(readout, "ChoiCNN")
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
        self.input_norm = keras.layers.BatchNormalization(synchronized=True, axis=1 if input_norm_axis == "freq" else 2,
                                                          epsilon=self.bn_epsilon,
                                                          name="bn_0_freq")
        self.convs, self.norms, self.pooling, self.drops = [], [], [], []
        for i, (f, p) in enumerate(zip(filters, pools), start=1):
            self.convs.append(keras.layers.Conv2D(f, self.kernel_size, padding="same", name=f"conv{i}"))
            self.norms.append(keras.layers.BatchNormalization(synchronized=True, axis=-1, epsilon=self.bn_epsilon, name=f"bn{i}"))
            self.pooling.append(keras.layers.MaxPooling2D(p, name=f"pool{i}"))
            self.drops.append(keras.layers.Dropout(self.dropout, name=f"dropout{i}"))

    def groups(self):
        """Layer groups for freezing / per-group learning rates (Tables 4.5–4.8)."""
        low = [self.input_norm] + [l for i in range(min(2, len(self.convs))) for l in (self.convs[i], self.norms[i])]
        high = [l for i in range(2, len(self.convs)) for l in (self.convs[i], self.norms[i])]
        return {"cnn_low": low, "cnn_high": high}

    def output_dim(self, n_mels, n_frames=constants.SEGMENT_FRAMES):
        return sum(self.feature_groups(n_mels, n_frames))

    def feature_groups(self, n_mels, n_frames=constants.SEGMENT_FRAMES):
        h, w = n_mels, n_frames
        for ph, pw in self.pools:
            h, w = h // ph, w // pw
        if h < 1 or w < 1:
            raise ParameterError(f"pools={self.pools} reduce a {n_mels}×{n_frames} segment to nothing")
        return readout_groups(self.readout, h * w * self.filters[-1], 2 * sum(self.filters))

    def build(self, segments_shape, frame_mask_shape=None):
        n_frames, n_mels = segments_shape[-2], segments_shape[-1]
        self.output_dim(n_mels, n_frames)
        build_conv_blocks(self.input_norm, self.convs, self.norms, self.pooling, (None, n_mels, n_frames, 1))

    def call(self, segments, frame_mask, training=None):
        shape = tf.shape(segments)
        b, s, f, m = shape[0], shape[1], segments.shape[2], segments.shape[3]
        x = tf.transpose(tf.reshape(segments, [-1, f, m]), [0, 2, 1])[..., None]  # (N, mels, frames, 1)
        x = self.input_norm(x, training=training)
        stats = []
        for conv, norm, pool, drop in zip(self.convs, self.norms, self.pooling, self.drops):
            x = batch_safe(pool, tf.nn.elu(norm(batch_safe(conv, x, bool(training)), training=training)), bool(training))
            if self.readout != "last":
                stats.append(block_stats(x))
            if self.dropout:
                x = drop(x, training=training)
        x = tf.reshape(assemble_readout(self.readout, x, stats), [b, s, self.output_dim(m, f)])
        return x, tf.reduce_any(frame_mask, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": list(self.filters), "pools": [list(p) for p in self.pools],
                       "kernel_size": self.kernel_size, "input_norm_axis": self.input_norm_axis,
                       "dropout": self.dropout, "bn_epsilon": self.bn_epsilon, "readout": self.readout})
        return config



@keras.saving.register_keras_serializable(package=_PACKAGE)
def keras1_hard_sigmoid(x):
    """Keras 1's ``hard_sigmoid``: ``clip(0.2·x + 0.5, 0, 1)`` (Keras 3's has slope 1/6)."""
    return tf.clip_by_value(0.2 * x + 0.5, 0.0, 1.0)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ChoiCRNN(ReductionStage):
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
        self.input_norm = keras.layers.BatchNormalization(synchronized=True, axis=2, epsilon=self.bn_epsilon, name="bn_0_freq")
        self.convs = [keras.layers.Conv2D(f, 3, padding="same", name=f"conv{i}") for i, f in enumerate(self.filters, 1)]
        self.norms = [keras.layers.BatchNormalization(synchronized=True, epsilon=self.bn_epsilon, name=f"bn{i}")
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
            x = tf.nn.elu(norm(batch_safe(conv, x, bool(training)), training=training))
            x = self.drop(batch_safe(pool, x, bool(training)), training=training)
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
