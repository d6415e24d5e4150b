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
50`` for VGG) is the classifier stage (:class:`~tfmusictag.classifier.TwoLayerPerceptron` with
``input_norm``/``hidden_norm``, or ``hidden=0``), and musicnn's whole-track tags are the mean of
its per-patch tags (temporal ``'tag_mean'``).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfmusictag.errors import ParameterError
from tfmusictag.reduction.choi import assemble_readout, block_stats, build_conv_blocks, check_readout, readout_groups
from tfmusictag.reduction.config import REDUCTIONS, ReductionConfig
from tfmusictag.shapes import batch_safe
from tfmusictag.stages import ReductionStage

__all__ = ["MusicnnCNN", "MusicnnVGG"]

_PACKAGE = "tfmusictag"


#: Patches computed at once: bounds memory for tracks of any length (a 3 s patch's timbral
#: feature maps take 13 MB, so an hour at once would need 16 GB), and small chunks stay in the
#: CPU's cache, which makes them faster too (``benchmarks/bench_models.py``).
PATCH_CHUNK = 2


def _chunked(fn, x, chunk=PATCH_CHUNK):
    """``fn`` over the first axis of ``x`` in chunks of ``chunk`` (one graph, no Python loop)."""
    n = tf.shape(x)[0]
    padded = tf.pad(x, tf.concat([[[0, (chunk - n % chunk) % chunk]], tf.zeros([tf.rank(x) - 1, 2], tf.int32)], 0))
    parts = tf.reshape(padded, tf.concat([[-1, chunk], tf.shape(x)[1:]], 0))
    out = tf.map_fn(fn, parts, fn_output_signature=x.dtype, parallel_iterations=1)
    return tf.reshape(out, tf.concat([[-1], tf.shape(out)[2:]], 0))[:n]


def _conv_bn_max(conv, norm, x):
    """``max over frequency of BN(ReLU(conv(x)))`` at inference — musicnn's front-end blocks.

    At inference batch norm is a per-filter affine map ``s·v + t`` and ReLU is monotonic, so the
    maximum over frequency commutes with both once the sign of ``s`` is known: it is
    ``s·ReLU(max z + b) + t`` where ``s ≥ 0`` and ``s·ReLU(min z + b) + t`` where ``s < 0``
    (``z``: the convolution without bias). The full-size feature map is then read twice
    (max, min) instead of being written and read by bias, ReLU, batch norm and the pooling; the
    result is the same up to float rounding. (In training batch norm uses the statistics of the
    full map, so :meth:`MusicnnCNN._front_train` keeps the direct form.)
    """
    z = conv.convolution_op(x, conv.kernel)
    scale, shift = _affine(norm)
    v = tf.where(scale >= 0, tf.reduce_max(z, axis=2), tf.reduce_min(z, axis=2)) + conv.bias
    return tf.nn.relu(v) * scale + shift


def _toeplitz(kernel, frames: int):
    """A ``(k, F)`` 'same'-padded convolution over time as a ``(frames, frames·F)`` matrix: row ``s``,
    column ``(t, f)`` holds ``kernel[s − t + (k − 1) // 2, f]`` (zero outside the kernel)."""
    k = kernel.shape[0]
    lag = tf.range(frames)[:, None] - tf.range(frames)[None, :] + (k - 1) // 2  # (s, t)
    inside = (lag >= 0) & (lag < k)
    t = tf.where(inside[..., None], tf.gather(kernel, tf.clip_by_value(lag, 0, k - 1)), 0.0)  # (s, t, F)
    return tf.reshape(t, [frames, frames * kernel.shape[-1]])


#: Largest change of a front-end filter's output (after its batch norm) that folding allows: a
#: filter is folded into a constant when ``|s|·Σ|W|·B`` is below it (``s``: its batch-norm scale,
#: ``W``: its kernel, ``B``: a bound on the normalised input, from ``log10(1 + 10000·x) ≤ 10``).
FOLD_TOLERANCE = 1e-5
#: The bound on the raw input ``log10(1 + 10000·mel power)`` used by :meth:`MusicnnCNN.fold`; a
#: full-scale signal's mel power stays below 1e5 (value 9), so 10 is a safe margin.
_INPUT_MAX = 10.0


_TIME_PAD = [[0, 0], [3, 3], [0, 0], [0, 0]]
_MID_PAD = [[0, 0], [3, 3], [0, 0]]


def _affine(norm):
    """A batch norm at inference as ``(scale, shift)``: ``norm(v) = scale·v + shift``."""
    scale = norm.gamma * tf.math.rsqrt(norm.moving_variance + norm.epsilon)
    return scale, norm.beta - norm.moving_mean * scale


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

    Inference convolves only the front-end filters that :meth:`fold` found alive (:attr:`live`);
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
            plan = {"front": self._front_plan(segments.shape[2]), "mid": self._mid_plan(shape[2])}
            y = _chunked(lambda c: self._patches(c, training, plan), x)
        return tf.reshape(y, [shape[0], shape[1], self.output_dim()]), tf.reduce_any(frame_mask, axis=-1)

    def _patches(self, x, training, plan=None):
        """(N, frames, mels) → (N, 1506)."""
        front = self._front_train(x[..., None]) if training else self._front_infer(x[..., None], plan["front"])
        front = tf.concat(front, -1)  # (N, frames, 561)
        dense, h, first = [front], front, 0
        if not training and plan["mid"] is not None:  # the first two mid-end layers with conv 1's dead filters folded
            h = self._mid_infer(front, plan["mid"])
            dense, first = dense + h, 2
            h = h[-1]
        for i, (conv, norm) in list(enumerate(self.midend))[first:]:
            y = norm(batch_safe(conv, tf.pad(h, _MID_PAD), bool(training)), training=training)
            h = y if i == 0 else y + h  # residual connections in layers 2 and 3
            dense.append(h)
        features = tf.concat(dense, -1)  # (N, frames, 753)
        pooled = tf.stack([tf.reduce_max(features, 1), tf.reduce_mean(features, 1)], -1)  # (N, 753, 2)
        return tf.reshape(pooled, [-1, self.output_dim()])

    def _front_plan(self, frames):
        """What inference computes for each front-end convolution, prepared once per call (outside
        the loop over patch chunks): the live filters' kernel, bias and batch-norm affine map,
        the dead filters' constants and where they go, and how the convolution runs.

        The temporal convolutions (k×1 over time, one input channel) run as matrix products: as a
        Toeplitz matrix when the kernel spans at least half the patch (``2k ≥ frames``: 128 of 187),
        otherwise as a 1-D convolution with the mel bands in the batch. TensorFlow's 2-D
        convolution handles a single input channel poorly, both forms well (whole-process figures:
        ``benchmarks/bench_musicnn.py``); the timbral ones stay 2-D convolutions.
        """
        live = self.live or {}
        plan = []
        for kind, (conv, norm) in [("timbral", p) for p in self.timbral] + [("temporal", p) for p in self.temporal]:
            scale, shift = _affine(norm)
            step = {"kind": kind, "kernel": conv.kernel, "bias": conv.bias, "scale": scale, "shift": shift}
            keep = live.get(conv.name)
            if keep is not None and len(keep) < conv.filters:
                dead = sorted(set(range(conv.filters)) - set(keep))
                step.update({k: tf.gather(v, keep, axis=-1) for k, v in step.items() if k != "kind"})
                step["const"] = tf.nn.relu(tf.gather(conv.bias, dead)) * tf.gather(scale, dead) + tf.gather(shift, dead)
                position = {f: j for j, f in enumerate(list(keep) + dead)}
                step["order"] = [position[f] for f in range(conv.filters)]
            if kind == "temporal":
                k = conv.kernel.shape[0]
                if frames is not None and 2 * k >= frames:
                    step["toeplitz"] = _toeplitz(step["kernel"][:, 0, 0, :], frames)
                else:
                    step["conv1d"] = step["kernel"][:, 0]  # (k, 1, F)
            plan.append(step)
        return plan

    def _front_infer(self, x, plan):
        """The front end at inference: ``max over frequency of BN(ReLU(conv(x)))`` per filter,
        through the max/min of the convolution (:func:`_conv_bn_max`), for the live filters only."""
        x = self.input_norm(x, training=False)  # (N, frames, mels, 1)
        padded = tf.pad(x, _TIME_PAD)  # 'same' in time, 'valid' in frequency
        n, frames, mels = tf.shape(x)[0], tf.shape(x)[1], x.shape[2]
        bands = tf.transpose(x[..., 0], [0, 2, 1])  # (N, mels, frames): the temporal filters' input
        out = []
        for step in plan:
            if step["kind"] == "timbral":
                z, axis = tf.nn.conv2d(padded, step["kernel"], 1, "VALID"), 2  # (N, frames, bands', F)
            elif "toeplitz" in step:
                z = tf.matmul(tf.reshape(bands, [-1, frames]), step["toeplitz"])
                z, axis = tf.reshape(z, [n, mels, frames, -1]), 1
            else:
                z = tf.nn.conv1d(tf.reshape(bands, [-1, frames, 1]), step["conv1d"], 1, "SAME")
                z, axis = tf.reshape(z, [n, mels, frames, -1]), 1
            v = tf.where(step["scale"] >= 0, tf.reduce_max(z, axis), tf.reduce_min(z, axis)) + step["bias"]
            y = tf.nn.relu(v) * step["scale"] + step["shift"]  # (N, frames, live filters)
            if "const" in step:  # the dead filters' constants, put back in place
                const = tf.broadcast_to(step["const"], tf.concat([tf.shape(y)[:2], tf.shape(step["const"])], 0))
                y = tf.gather(tf.concat([y, const], -1), step["order"], axis=-1)
            out.append(y)
        return out

    def _mid_plan(self, frames):
        """The first two mid-end layers at inference with the first one's dead filters folded
        (:meth:`fold`), prepared once per call; ``None`` when every filter is live.

        A dead filter's ReLU is 0 for every input the front end can give, so after its batch norm
        it is its shift ``t``, in every frame. Layer 1 convolves the live filters only, and
        layer 2 convolves only their maps: what the constant maps add to layer 2 is one
        ``(frames, 64)`` term, computed once by convolving the constant maps (zero-padded like the
        real ones, so the first and last three frames are exact too) — the same values as the
        direct form, up to float rounding.
        """
        live = (self.live or {}).get(self.midend[0][0].name)
        (conv1, norm1), (conv2, _) = self.midend[:2]
        if live is None or len(live) == conv1.filters:
            return None
        dead = sorted(set(range(conv1.filters)) - set(live))
        scale, shift = _affine(norm1)
        const = tf.gather(shift, dead)
        constant_maps = tf.broadcast_to(const, tf.stack([1, frames, len(dead)]))
        border = tf.nn.conv1d(tf.pad(constant_maps, _MID_PAD), tf.gather(conv2.kernel, dead, axis=1), 1, "VALID")
        position = {f: j for j, f in enumerate(list(live) + dead)}
        return {"kernel1": tf.gather(conv1.kernel, live, axis=-1), "bias1": tf.gather(conv1.bias, live),
                "scale1": tf.gather(scale, live), "shift1": tf.gather(shift, live), "const1": const,
                "order1": [position[f] for f in range(conv1.filters)],
                "kernel2": tf.gather(conv2.kernel, live, axis=1), "bias2": border[0] + conv2.bias}

    def _mid_infer(self, front, plan):
        """Mid-end layers 1 and 2 (``[h1, h2]``) from the front end's maps, by :meth:`_mid_plan`."""
        norm2 = self.midend[1][1]
        y1 = tf.nn.relu(tf.nn.conv1d(tf.pad(front, _MID_PAD), plan["kernel1"], 1, "VALID") + plan["bias1"])
        y1 = y1 * plan["scale1"] + plan["shift1"]  # (N, frames, live filters)
        const = tf.broadcast_to(plan["const1"], tf.concat([tf.shape(y1)[:2], tf.shape(plan["const1"])], 0))
        h1 = tf.gather(tf.concat([y1, const], -1), plan["order1"], axis=-1)
        y2 = tf.nn.relu(tf.nn.conv1d(tf.pad(y1, _MID_PAD), plan["kernel2"], 1, "VALID") + plan["bias2"])
        return [h1, norm2(y2, training=False) + h1]

    def _front_bounds(self):
        """Each front-end output's range ``(lo, hi)`` (561 values each) over every input the
        network can get — the normalised log-mel within ``[0, 10]`` (:data:`_INPUT_MAX`) and the
        zero padding — by interval arithmetic through convolution, ReLU and batch norm (the
        maximum over frequency stays within the range of the values it takes)."""
        import numpy as np

        a, b = (v.numpy() for v in _affine(self.input_norm))
        inputs = np.array([0.0, *b, *(a * _INPUT_MAX + b)])
        x_lo, x_hi = inputs.min(), inputs.max()
        los, his = [], []
        for conv, norm in self.timbral + self.temporal:
            w = conv.kernel.numpy().reshape(-1, conv.filters)
            z_lo = np.minimum(w * x_lo, w * x_hi).sum(0) + conv.bias.numpy()
            z_hi = np.maximum(w * x_lo, w * x_hi).sum(0) + conv.bias.numpy()
            s, t = (v.numpy() for v in _affine(norm))
            ends = np.stack([s * np.maximum(z_lo, 0) + t, s * np.maximum(z_hi, 0) + t])
            los.append(ends.min(0))
            his.append(ends.max(0))
        return np.concatenate(los), np.concatenate(his)

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
        ranges (:meth:`_front_bounds`) outputs 0 always; its batch-normed map is a constant
        (:meth:`_mid_plan`). MTT_musicnn has 43 such filters of 64, MSD_musicnn 44.
        """
        import numpy as np

        bn = self.input_norm
        a = bn.gamma.numpy() / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
        b = bn.beta.numpy() - bn.moving_mean.numpy() * a
        bound = float(np.abs(a).max() * _INPUT_MAX + np.abs(b).max())
        live, report = {}, {}
        for conv, norm in self.timbral + self.temporal:
            w = np.abs(conv.kernel.numpy()).reshape(-1, conv.filters).sum(0)
            s = np.abs(norm.gamma.numpy() / np.sqrt(norm.moving_variance.numpy() + norm.epsilon))
            change = s * w * bound
            # at least one filter is convolved (it sets the output's shape)
            live[conv.name] = [int(i) for i in np.flatnonzero(change > tolerance)] or [int(np.argmax(change))]
            report[conv.name] = (len(live[conv.name]), conv.filters)
        lo, hi = self._front_bounds()
        lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)  # the zero padding in time
        conv = self.midend[0][0]
        w = conv.kernel.numpy()  # (7, 561, filters)
        top = np.maximum(w * lo[None, :, None], w * hi[None, :, None]).sum((0, 1)) + conv.bias.numpy()
        live[conv.name] = [int(i) for i in np.flatnonzero(top > 0)] or [int(np.argmax(top))]
        report[conv.name] = (len(live[conv.name]), conv.filters)
        self.live = live
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
        import numpy as np

        bn = self.input_norm
        a = bn.gamma.numpy() / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
        b = bn.beta.numpy() - bn.moving_mean.numpy() * a
        bound = float(np.abs(a).max() * _INPUT_MAX + np.abs(b).max())
        conv, norm = self.convs[0], self.norms[0]
        s = np.abs(norm.gamma.numpy() / np.sqrt(norm.moving_variance.numpy() + norm.epsilon))
        change = s * np.abs(conv.kernel.numpy()).reshape(-1, conv.filters).sum(0) * bound
        self.live = [int(i) for i in np.flatnonzero(change > tolerance)] or [int(np.argmax(change))]
        return {conv.name: (len(self.live), conv.filters)}

    def unfold(self):
        """Convolve every filter again at inference."""
        self.live = None

    def _folded_first_blocks(self, x, stats):
        """Blocks 1 and 2 at inference with the first layer's dead filters folded (:meth:`fold`):
        returns block 2's pooled output, appending both blocks' :func:`block_stats` to ``stats``
        when the readout needs them."""
        conv1, norm1, pool1 = self.convs[0], self.norms[0], self.pooling[0]
        conv2, norm2, pool2 = self.convs[1], self.norms[1], self.pooling[1]
        live = self.live
        dead = sorted(set(range(conv1.filters)) - set(live))
        scale = norm1.gamma * tf.math.rsqrt(norm1.moving_variance + norm1.epsilon)
        shift = norm1.beta - norm1.moving_mean * scale
        g = lambda v, idx: tf.gather(v, idx, axis=-1)  # noqa: E731
        y = tf.nn.relu(tf.nn.conv2d(x, g(conv1.kernel, live), 1, "SAME") + g(conv1.bias, live))
        y = pool1(y * g(scale, live) + g(shift, live))  # (N, h, w, live)
        const = tf.nn.relu(g(conv1.bias, dead)) * g(scale, dead) + g(shift, dead)  # the dead maps' values
        if self.readout != "last":
            position = {f: j for j, f in enumerate(list(live) + dead)}
            order = [position[f] for f in range(conv1.filters)]
            n = tf.shape(y)[0]
            const_stats = tf.broadcast_to(const, tf.stack([n, len(dead)]))
            mean = tf.gather(tf.concat([tf.reduce_mean(y, [1, 2]), const_stats], -1), order, axis=-1)
            top = tf.gather(tf.concat([tf.reduce_max(y, [1, 2]), const_stats], -1), order, axis=-1)
            stats.append(tf.concat([mean, top], -1))
        # the second layer: live channels convolved, the constant ones as one all-ones convolution
        w2 = conv2.kernel
        z = tf.nn.conv2d(y, tf.gather(w2, live, axis=2), 1, "SAME")
        v = tf.reduce_sum(tf.gather(w2, dead, axis=2) * const[None, None, :, None], axis=2, keepdims=True)
        ones = tf.ones(tf.concat([[1], tf.shape(y)[1:3], [1]], 0))
        z = z + tf.nn.conv2d(ones, v, 1, "SAME") + conv2.bias
        y2 = pool2(norm2(tf.nn.relu(z), training=False))
        if self.readout != "last":
            stats.append(block_stats(y2))
        return y2

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
        y = self._patches(x, training) if training else _chunked(lambda c: self._patches(c, training), x)
        return tf.reshape(y, [shape[0], shape[1], self.output_dim(m, f)]), tf.reduce_any(frame_mask, axis=-1)

    def _patches(self, x, training):
        f, m = x.shape[1], x.shape[2]
        x = self.input_norm(x[..., None], training=training)
        stats = []
        folded = not training and self.live is not None and len(self.live) < self.filters
        if folded:  # blocks 1-2 with the first layer's dead filters folded (dropout is off at inference)
            x = self._folded_first_blocks(x, stats)
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
