"""Pons & Serra's musicnn and VGG-like CNNs (ISMIR-LBD 2019) as reduction stages ``Y = D(X)``.

These are the networks behind the only MagnaTagATune-trained weights that can be obtained here
(the ``musicnn`` package on PyPI, :mod:`tfmusictag.pretrained`): the thesis's *source task*
(Sec. 3.2, MagnaTagATune → target catalog). Like :class:`~tfmusictag.reduction.choi.ChoiCNN` they map
every segment (here a 3 s patch of 187 frames × 96 mel bands, ``log10(1 + 10000·x)``; front end
``'musicnn'``) to one vector, so they can replace the thesis's CNN in any variant, black-box or
fine-tuned, and train with the thesis's per-group learning rates (Tables 4.5–4.8).

* :class:`MusicnnCNN` — ``musicnn.models.build_musicnn`` without its back end: input batch
  norm; *front end* of musically motivated filters (two timbral convolutions 7×38 and 7×67 over
  (time, mel) with 204 filters each, three temporal ones 128/64/32×1 with 51 filters each, each
  max-pooled over frequency); *mid end* of three 1-D convolutions (64 filters, width 7) with
  residual connections; then max and mean over time of the dense concatenation of all four
  (561 + 3·64 = 753 channels) → 1506 values per patch, interleaved ``[max₀, mean₀, max₁, …]``
  exactly as the original flattens them.
* :class:`MusicnnVGG` — ``musicnn.models.vgg``: five 3×3 conv (128) → batch norm → max-pool
  blocks → 256 values per 187-frame patch.

The back end of both (``batch norm → dense 200 → batch norm → dense 50`` for musicnn, ``dense
50`` for VGG) is the classifier stage (:class:`~tfmusictag.classifier.TagClassifier` with
``input_norm``/``hidden_norm``, or ``hidden=0``), and musicnn's whole-track tags are the mean of
its per-patch tags (temporal ``'tag_mean'``).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfmusictag.errors import ParameterError
from tfmusictag.reduction import musicnn_inference as inference
from tfmusictag.reduction.choi import assemble_readout, block_stats, build_conv_blocks, check_readout, readout_groups
from tfmusictag.reduction.config import REDUCTIONS, ReductionConfig
from tfmusictag.reduction.musicnn_inference import FOLD_TOLERANCE, MID_PAD as _MID_PAD, TIME_PAD as _TIME_PAD
from tfmusictag.shapes import batch_safe
from tfmusictag.stages import ReductionStage

__all__ = ["MusicnnCNN", "MusicnnVGG"]

_PACKAGE = "tfmusictag"


def _bn(name):
    # TF1 ``tf.compat.v1.layers.batch_normalization`` defaults: epsilon 1e-3, momentum 0.99.
    return keras.layers.BatchNormalization(synchronized=True, axis=-1, epsilon=1e-3, momentum=0.99, name=name)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MusicnnCNN(ReductionStage):
    """musicnn's front and mid end (Pons & Serra 2019): one 1506-d vector per patch.

    Args:
        n_mels: int > 0, mel bands of the input (the timbral kernels span 40 % and 70 % of them,
            ``int(0.4·n_mels)`` and ``int(0.7·n_mels)``). Defaults to 96.
        frontend_filters: float > 0, musicnn's ``num_filt`` (timbral filters ``int(1.6·128)``
            = 204, temporal ``int(1.6·32)`` = 51). Defaults to 1.6.
        midend_filters: int > 0, filters of each mid-end layer (64; 512 for ``MSD_musicnn_big``).

    Inference (:mod:`tfmusictag.reduction.musicnn_inference`) convolves only the filters that
    :meth:`fold` found alive (:attr:`live`);
    the released musicnn checkpoints carry many filters whose kernels are ~1e-30 (MTT_musicnn
    keeps 109 and 77 of 204 timbral filters, MSD_musicnn 23 and 14), each of which outputs a
    constant. Folding is derived from the weights, not configuration: the model loaders fold
    (:func:`tfmusictag.rundir.load_model`), training folds a frozen network after loading its
    weights and every network once trained. Training itself always uses every filter.

    Call arguments:
        segments: ``(batch, segments, frames, n_mels)`` log-mel patches (any ``frames``).
        frame_mask: ``(batch, segments, frames)``; only its segment-level summary is used.

    Returns:
        ``(features, segment_mask)``: ``(batch, segments, 2·(561+3·midend_filters))`` and
        ``(batch, segments)``.
    """

    level = "segment"

    def __init__(self, n_mels: int = 96, frontend_filters: float = 1.6, midend_filters: int = 64, **kwargs):
        super().__init__(**kwargs)
        #: ``{conv name: [live filter indices]}`` used at inference (:meth:`fold`): the front end's
        #: five convolutions and the mid end's first (``midend_1``); ``None``: all.
        self.live = None
        if int(n_mels) < 3 or int(midend_filters) <= 0 or not frontend_filters > 0:
            raise ParameterError(f"n_mels={n_mels!r} (>= 3), frontend_filters={frontend_filters!r} (> 0) and "
                                 f"midend_filters={midend_filters!r} (> 0) are out of range")
        self.n_mels, self.frontend_filters, self.midend_filters = int(n_mels), float(frontend_filters), int(midend_filters)
        timbral, temporal = int(self.frontend_filters * 128), int(self.frontend_filters * 32)
        self.timbral = [(keras.layers.Conv2D(timbral, (7, int(r * self.n_mels)), activation="relu",
                                             name=f"timbral_{k}"), _bn(f"timbral_{k}_bn"))
                        for k, r in (("74", 0.4), ("77", 0.7))]
        self.temporal = [(keras.layers.Conv2D(temporal, (k, 1), padding="same", activation="relu",
                                              name=f"temporal_{k}"), _bn(f"temporal_{k}_bn"))
                         for k in (128, 64, 32)]
        self.input_norm = _bn("input_bn")
        self.midend = [(keras.layers.Conv1D(self.midend_filters, 7, activation="relu", name=f"midend_{i}"),
                        _bn(f"midend_{i}_bn")) for i in (1, 2, 3)]
        self.frontend_dim = 2 * timbral + 3 * temporal

    def groups(self):
        """``cnn_low``: input norm + the musically motivated front end; ``cnn_high``: the mid end."""
        low = [self.input_norm] + [l for pair in self.timbral + self.temporal for l in pair]
        return {"cnn_low": low, "cnn_high": [l for pair in self.midend for l in pair]}

    def output_dim(self, n_mels=None, n_frames=None):
        return 2 * (self.frontend_dim + 3 * self.midend_filters)

    def build(self, segments_shape, frame_mask_shape=None):
        n_mels = segments_shape[-1]
        if n_mels != self.n_mels:
            raise ParameterError(f"MusicnnCNN(n_mels={self.n_mels}) received {n_mels} mel bands")
        self.input_norm.build((None, None, n_mels, 1))
        for conv, norm in self.timbral:
            conv.build((None, None, n_mels, 1))
            norm.build((None, None, 1, conv.filters))
        for conv, norm in self.temporal:
            conv.build((None, None, n_mels, 1))
            norm.build((None, None, n_mels, conv.filters))
        width = self.frontend_dim
        for i, (conv, norm) in enumerate(self.midend):
            conv.build((None, None, width if i == 0 else self.midend_filters))
            norm.build((None, None, self.midend_filters))

    def call(self, segments, frame_mask, training=None):
        shape = tf.shape(segments)
        x = tf.reshape(segments, [-1, shape[2], self.n_mels])
        if training:
            y = self._patches(x, training)
        else:
            plan = {"front": inference.front_plan(self, segments.shape[2]), "mid": inference.mid_plan(self, shape[2])}
            y = inference.chunked(lambda c: self._patches(c, training, plan), x)
        return tf.reshape(y, [shape[0], shape[1], self.output_dim()]), tf.reduce_any(frame_mask, axis=-1)

    def _patches(self, x, training, plan=None):
        """(N, frames, mels) → (N, 1506)."""
        front = self._front_train(x[..., None]) if training else inference.front_infer(self, x[..., None], plan["front"])
        front = tf.concat(front, -1)  # (N, frames, 561)
        dense, h, first = [front], front, 0
        if not training and plan["mid"] is not None:  # the first two mid-end layers with conv 1's dead filters folded
            h = inference.mid_infer(self, front, plan["mid"])
            dense, first = dense + h, 2
            h = h[-1]
        for i, (conv, norm) in list(enumerate(self.midend))[first:]:
            y = norm(batch_safe(conv, tf.pad(h, _MID_PAD), bool(training)), training=training)
            h = y if i == 0 else y + h  # residual connections in layers 2 and 3
            dense.append(h)
        features = tf.concat(dense, -1)  # (N, frames, 753)
        pooled = tf.stack([tf.reduce_max(features, 1), tf.reduce_mean(features, 1)], -1)  # (N, 753, 2)
        return tf.reshape(pooled, [-1, self.output_dim()])

    def fold(self, tolerance: float = FOLD_TOLERANCE):
        """Find the front-end filters that change no output by more than ``tolerance`` and skip
        their convolutions at inference (:attr:`live`); returns ``{conv name: (live, filters)}``.

        A filter is dead when ``|s|·Σ|W|·B ≤ tolerance`` (``s``: its batch-norm scale, ``W``: its
        kernel, ``B``: the largest normalised input, from ``log10(1 + 10000·x) ≤ 10``): ReLU moves
        by at most ``|z| ≤ Σ|W|·B``, so its output is within ``tolerance`` of the constant
        ``s·ReLU(b) + t`` everywhere. Call it again after the front end's weights change (training
        does, after fine-tuning it); :meth:`unfold` undoes it.

        The mid end's first convolution (``midend_1``) is folded where it is exact: a filter whose
        pre-ReLU value ``b + Σ W·x`` is at most 0 for every ``x`` within the front end's output
        ranges (:func:`~tfmusictag.reduction.musicnn_inference.front_bounds`) outputs 0 always; its
        batch-normed map is a constant (:func:`~tfmusictag.reduction.musicnn_inference.mid_plan`).
        MTT_musicnn has 43 such filters of 64, MSD_musicnn 44.
        """
        self.live, report = inference.fold_cnn(self, tolerance)
        return report

    def unfold(self):
        """Convolve every filter again at inference (before training changes the front end)."""
        self.live = None

    def _front_train(self, x):
        """The front end in training, written so that no gradient flows into the spectrogram.

        The input batch norm is one affine map ``a·x + b`` (a single channel), and convolution
        is linear: ``conv(a·x + b) = a·conv(x) + b·conv(1)``, zero padding included. Written this
        way the gradients of ``a`` and ``b`` (the input norm's γ, β) are sums over the feature
        maps, and TensorFlow never computes the gradient with respect to the whole input through
        the 7×38 and 7×67 convolutions, the costliest part of a fine-tuning step. The two forms
        agree in values and gradients (``tests/test_pretrained.py``). Batch statistics and moving
        averages are Keras's.
        """
        bn = self.input_norm
        if bn.trainable:  # over the global batch, as every other batch norm (an empty replica share adds nothing)
            mean, var = keras.ops.moments(x, axes=[0, 1, 2, 3], synchronized=True)
            bn.moving_mean.assign(bn.moving_mean * bn.momentum + mean * (1.0 - bn.momentum))
            bn.moving_variance.assign(bn.moving_variance * bn.momentum + var * (1.0 - bn.momentum))
        else:
            mean, var = bn.moving_mean, bn.moving_variance
        a = bn.gamma * tf.math.rsqrt(var + bn.epsilon)
        b = bn.beta - mean * a
        ones = tf.ones(tf.concat([[1], tf.shape(x)[1:]], 0), x.dtype)  # one track of ones, also for an empty batch
        out = []
        for convs, pad in ((self.timbral, _TIME_PAD), (self.temporal, None)):
            raw, unit = (tf.pad(x, pad), tf.pad(ones, pad)) if pad else (x, ones)
            for conv, norm in convs:
                z = (a * batch_safe(lambda v: conv.convolution_op(v, conv.kernel), raw)
                     + b * conv.convolution_op(unit, conv.kernel) + conv.bias)
                out.append(tf.reduce_max(norm(tf.nn.relu(z), training=True), axis=2))
        return out

    def get_config(self):
        config = super().get_config()
        config.update({"n_mels": self.n_mels, "frontend_filters": self.frontend_filters,
                       "midend_filters": self.midend_filters})
        return config


_VGG_POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MusicnnVGG(ReductionStage):
    """musicnn's VGG-like baseline: five blocks of 3×3 conv → ReLU → batch norm → max-pool.

    Pools over (time, mel): (4, 1) with stride 2, then (2, 2) three times, then (4, 4), so a
    187 × 96 patch gives 2 × 1 × ``filters`` values (256 for the released weights).

    Args:
        filters: int > 0, filters per layer. Defaults to 128.
        dropout: float in [0, 1), dropout after pools 1–4 (the original's 0.25). Defaults to 0.25.
        readout: ``'last'`` (the last pool, flattened: 256 values), ``'all_layers'`` (mean and max
            over (time, mel) of every block's pooled output: ``10·filters`` values, 1280) or
            ``'last_and_all_layers'`` (both, in that order: 1536).

    Call arguments / Returns: as :class:`MusicnnCNN`.
    """

    level = "segment"

    def __init__(self, filters: int = 128, dropout: float = 0.25, readout: str = "last", **kwargs):
        super().__init__(**kwargs)
        self.readout = check_readout(readout, "MusicnnVGG")
        if int(filters) <= 0 or not 0 <= dropout < 1:
            raise ParameterError(f"filters={filters!r} must be > 0 and dropout={dropout!r} in [0, 1)")
        self.filters, self.dropout = int(filters), float(dropout)
        #: the first layer's filters convolved at inference (:meth:`fold`); ``None``: all
        self.live = None
        self.input_norm = _bn("input_bn")
        self.convs = [keras.layers.Conv2D(self.filters, 3, padding="same", activation="relu", name=f"conv{i}")
                      for i in range(1, 6)]
        self.norms = [_bn(f"bn{i}") for i in range(1, 6)]
        self.pooling = [keras.layers.MaxPooling2D(p, s, name=f"pool{i}") for i, (p, s) in enumerate(_VGG_POOLS, 1)]
        self.drops = [keras.layers.Dropout(self.dropout) for _ in range(4)]

    def fold(self, tolerance: float = FOLD_TOLERANCE):
        """Find the first layer's filters that change no output by more than ``tolerance`` (as
        :meth:`MusicnnCNN.fold`) and skip them at inference (:attr:`live`); returns ``{'conv1':
        (live, filters)}``.

        Such a filter's map is a constant ``c`` after its batch norm and pooling. The second layer
        then convolves only the live channels and adds the constants' contribution as one
        convolution of an all-ones map with ``Σ_k c_k·W2[:, :, k, :]``: exact at the borders too,
        where the zero padding makes that contribution vary (MTT_vgg keeps 85 of 128 filters,
        MSD_vgg 49). Training always uses every filter; :meth:`unfold` undoes it.
        """
        self.live, report = inference.fold_vgg(self, tolerance)
        return report

    def unfold(self):
        """Convolve every filter again at inference."""
        self.live = None

    def groups(self):
        """``cnn_low``: input norm + layers 1–2; ``cnn_high``: layers 3–5 (as for the thesis's CNN)."""
        return {"cnn_low": [self.input_norm] + [l for i in (0, 1) for l in (self.convs[i], self.norms[i])],
                "cnn_high": [l for i in (2, 3, 4) for l in (self.convs[i], self.norms[i])]}

    def output_dim(self, n_mels, n_frames):
        return sum(self.feature_groups(n_mels, n_frames))

    def feature_groups(self, n_mels, n_frames):
        t, f = n_frames, n_mels
        for (pt, pf), (st, sf) in _VGG_POOLS:
            t, f = (t - pt) // st + 1, (f - pf) // sf + 1
            if t < 1 or f < 1:
                raise ParameterError(f"MusicnnVGG pools reduce a {n_frames}×{n_mels} patch to nothing")
        return readout_groups(self.readout, t * f * self.filters, 2 * len(_VGG_POOLS) * self.filters)

    def build(self, segments_shape, frame_mask_shape=None):
        n_frames, n_mels = segments_shape[-2], segments_shape[-1]
        self.output_dim(n_mels, n_frames)
        build_conv_blocks(self.input_norm, self.convs, self.norms, self.pooling, (None, n_frames, n_mels, 1))

    def call(self, segments, frame_mask, training=None):
        shape = tf.shape(segments)
        f, m = segments.shape[2], segments.shape[3]
        x = tf.reshape(segments, [-1, f, m])
        y = self._patches(x, training) if training else inference.chunked(lambda c: self._patches(c, training), x)
        return tf.reshape(y, [shape[0], shape[1], self.output_dim(m, f)]), tf.reduce_any(frame_mask, axis=-1)

    def _patches(self, x, training):
        f, m = x.shape[1], x.shape[2]
        x = self.input_norm(x[..., None], training=training)
        stats = []
        folded = not training and self.live is not None and len(self.live) < self.filters
        if folded:  # blocks 1-2 with the first layer's dead filters folded (dropout is off at inference)
            x = inference.vgg_first_blocks(self, x, stats)
        for i, (conv, norm, pool) in enumerate(zip(self.convs, self.norms, self.pooling)):
            if folded and i < 2:
                continue
            x = batch_safe(pool, norm(batch_safe(conv, x, bool(training)), training=training), bool(training))
            if self.readout != "last":
                stats.append(block_stats(x))
            if i < 4 and self.dropout:
                x = self.drops[i](x, training=training)
        return tf.reshape(assemble_readout(self.readout, x, stats), [-1, self.output_dim(m, f)])

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "dropout": self.dropout, "readout": self.readout})
        return config


@REDUCTIONS.register("musicnn")
def _build_musicnn(config: ReductionConfig, name):
    c = config.musicnn
    return MusicnnCNN(c.n_mels, c.frontend_filters, c.midend_filters, name=name)


@REDUCTIONS.register("vgg")
def _build_vgg(config: ReductionConfig, name):
    return MusicnnVGG(config.vgg.filters, config.vgg.dropout, config.readout, name=name)
