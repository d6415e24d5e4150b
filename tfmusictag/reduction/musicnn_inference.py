"""musicnn's networks at inference: the same outputs as their layers' direct form, computed faster.

The layers (:mod:`tfmusictag.reduction.musicnn`) own the weights, the training forms and the
configuration; this module computes their inference from those weights:

* **Dead filters folded.** The released checkpoints carry filters whose output is a constant:
  front-end kernels of ~1e-30 (:func:`fold_cnn`, :func:`fold_vgg`, within :data:`FOLD_TOLERANCE`)
  and mid-end filters whose ReLU is 0 for every input the front end can give, proved by interval
  arithmetic over the input's range (:func:`front_bounds`, exact). Their convolutions are skipped
  and their constants put back in place, borders included (:func:`mid_plan`, :func:`vgg_first_blocks`).
* **The front end's pooling through the convolution's extremes** (:func:`conv_bn_max`), taken by
  max pooling of a sign-flipped convolution (:func:`front_plan`), and the long temporal
  convolutions as Toeplitz matrix products (:func:`toeplitz`, :func:`front_plan`).
* **Bounded memory**: patches in chunks of :data:`PATCH_CHUNK` (:func:`chunked`).

Every function here is checked against the direct form by ``tests/test_pretrained.py``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfmusictag.reduction.choi import block_stats

__all__ = ["PATCH_CHUNK", "CHUNKS_AT_ONCE", "FOLD_TOLERANCE", "INPUT_MAX", "chunked", "affine", "input_bound",
           "conv_bn_max", "toeplitz", "front_bounds", "fold_cnn", "front_plan", "front_infer", "mid_plan", "mid_infer",
           "fold_vgg", "vgg_first_blocks"]

#: Patches computed at once: bounds memory for tracks of any length (a 3 s patch's timbral
#: feature maps take 13 MB, so an hour at once would need 16 GB), and small chunks stay in the
#: CPU's cache, which makes them faster too (``benchmarks/bench_models.py``).
PATCH_CHUNK = 2


#: Chunks computed at the same time. The operations of one chunk are too small for TensorFlow to
#: split over cores, so one chunk at a time keeps one core busy; two keep two busy when a single
#: track is tagged (and cost two chunks' memory, a few MB). Whole-process figures:
#: ``benchmarks/bench_musicnn.py``.
CHUNKS_AT_ONCE = 2


def chunked(fn, x, chunk=PATCH_CHUNK):
    """``fn`` over the first axis of ``x`` in chunks of ``chunk`` (one graph, no Python loop;
    :data:`CHUNKS_AT_ONCE` chunks at a time, the output in order)."""
    n = tf.shape(x)[0]
    padded = tf.pad(x, tf.concat([[[0, (chunk - n % chunk) % chunk]], tf.zeros([tf.rank(x) - 1, 2], tf.int32)], 0))
    parts = tf.reshape(padded, tf.concat([[-1, chunk], tf.shape(x)[1:]], 0))
    out = tf.map_fn(fn, parts, fn_output_signature=x.dtype, parallel_iterations=CHUNKS_AT_ONCE)
    return tf.reshape(out, tf.concat([[-1], tf.shape(out)[2:]], 0))[:n]


def conv_bn_max(conv, norm, x):
    """``max over frequency of BN(ReLU(conv(x)))`` at inference — musicnn's front-end blocks.

    At inference batch norm is a per-filter affine map ``s·v + t`` and ReLU is monotonic, so the
    maximum over frequency commutes with both once the sign of ``s`` is known: it is
    ``s·ReLU(max z + b) + t`` where ``s ≥ 0`` and ``s·ReLU(min z + b) + t`` where ``s < 0``
    (``z``: the convolution without bias). The full-size feature map is then read twice
    (max, min) instead of being written and read by bias, ReLU, batch norm and the pooling; the
    result is the same up to float rounding. (In training batch norm uses the statistics of the
    full map, so :meth:`~tfmusictag.reduction.musicnn.MusicnnCNN._front_train` keeps the direct form.)
    """
    z = conv.convolution_op(x, conv.kernel)
    scale, shift = affine(norm)
    v = tf.where(scale >= 0, tf.reduce_max(z, axis=2), tf.reduce_min(z, axis=2)) + conv.bias
    return tf.nn.relu(v) * scale + shift


def toeplitz(kernel, frames: int):
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
#: The bound on the raw input ``log10(1 + 10000·mel power)`` used by the folding rules (:func:`fold_cnn`, :func:`fold_vgg`); a
#: full-scale signal's mel power stays below 1e5 (value 9), so 10 is a safe margin.
INPUT_MAX = 10.0

#: 'Same' padding in time of musicnn's width-7 convolutions: the timbral front end's (4-D input)
#: and the mid end's (3-D).
TIME_PAD = [[0, 0], [3, 3], [0, 0], [0, 0]]
MID_PAD = [[0, 0], [3, 3], [0, 0]]


def affine(norm):
    """A batch norm at inference as ``(scale, shift)``: ``norm(v) = scale·v + shift``."""
    scale = norm.gamma * tf.math.rsqrt(norm.moving_variance + norm.epsilon)
    return scale, norm.beta - norm.moving_mean * scale


def input_bound(norm) -> float:
    """The largest ``|a·x + b|`` of the input batch norm ``norm`` over raw inputs ``x`` in
    ``[0, INPUT_MAX]`` (a bound on the normalised log-mel, used by the folding rules)."""
    a = norm.gamma.numpy() / np.sqrt(norm.moving_variance.numpy() + norm.epsilon)
    b = norm.beta.numpy() - norm.moving_mean.numpy() * a
    return float(np.abs(a).max() * INPUT_MAX + np.abs(b).max())


def _live_filters(conv, norm, bound: float, tolerance: float):
    """The filters of ``conv`` (then ReLU, then batch norm ``norm``) whose output can move by more than
    ``tolerance`` for inputs within ``±bound``: ``|s|·Σ|W|·bound > tolerance``; at least one (it
    sets the output's shape)."""
    s = np.abs(norm.gamma.numpy() / np.sqrt(norm.moving_variance.numpy() + norm.epsilon))
    change = s * np.abs(conv.kernel.numpy()).reshape(-1, conv.filters).sum(0) * bound
    return [int(i) for i in np.flatnonzero(change > tolerance)] or [int(np.argmax(change))]


def front_bounds(layer):
    """Each front-end output's range ``(lo, hi)`` (561 values each) over every input the
    network can get — the normalised log-mel within ``[0, 10]`` (:data:`INPUT_MAX`) and the
    zero padding — by interval arithmetic through convolution, ReLU and batch norm (the
    maximum over frequency stays within the range of the values it takes)."""
    a, b = (v.numpy() for v in affine(layer.input_norm))
    inputs = np.array([0.0, *b, *(a * INPUT_MAX + b)])
    x_lo, x_hi = inputs.min(), inputs.max()
    los, his = [], []
    for conv, norm in layer.timbral + layer.temporal:
        w = conv.kernel.numpy().reshape(-1, conv.filters)
        z_lo = np.minimum(w * x_lo, w * x_hi).sum(0) + conv.bias.numpy()
        z_hi = np.maximum(w * x_lo, w * x_hi).sum(0) + conv.bias.numpy()
        s, t = (v.numpy() for v in affine(norm))
        ends = np.stack([s * np.maximum(z_lo, 0) + t, s * np.maximum(z_hi, 0) + t])
        los.append(ends.min(0))
        his.append(ends.max(0))
    return np.concatenate(los), np.concatenate(his)


def fold_cnn(layer, tolerance: float = FOLD_TOLERANCE):
    """The filters of a :class:`~tfmusictag.reduction.musicnn.MusicnnCNN` that inference convolves (its
    :meth:`~tfmusictag.reduction.musicnn.MusicnnCNN.fold`, where the rules are given): returns
    ``(live, report)``, ``{conv name: [live filter indices]}`` and ``{conv name: (live, filters)}``."""
    bound = input_bound(layer.input_norm)
    live, report = {}, {}
    for conv, norm in layer.timbral + layer.temporal:
        live[conv.name] = _live_filters(conv, norm, bound, tolerance)
        report[conv.name] = (len(live[conv.name]), conv.filters)
    lo, hi = front_bounds(layer)
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)  # the zero padding in time
    conv = layer.midend[0][0]
    w = conv.kernel.numpy()  # (7, 561, filters)
    top = np.maximum(w * lo[None, :, None], w * hi[None, :, None]).sum((0, 1)) + conv.bias.numpy()
    live[conv.name] = [int(i) for i in np.flatnonzero(top > 0)] or [int(np.argmax(top))]
    report[conv.name] = (len(live[conv.name]), conv.filters)
    return live, report


def front_plan(layer, frames):
    """What inference computes for each front-end convolution, prepared once per call (outside
    the loop over patch chunks): the live filters' kernel, bias and batch-norm affine map,
    the dead filters' constants and where they go, and how the convolution runs.

    :func:`conv_bn_max` needs, per filter, the maximum over frequency of the convolution where
    its batch-norm scale ``s`` is ≥ 0 and the minimum where ``s < 0``. The plan convolves with
    ``sign(s)·W`` instead (``sign``: +1 or −1 per filter), so that one max pooling gives every
    filter's extreme: ``min z = −max(−z)``, and the convolution of ``−W`` is exactly ``−z``
    (negation is exact in floating point). One pooling instead of a maximum, a minimum and a
    selection: oneDNN runs the pooling in the convolution's own layout and precision (with
    bfloat16, a reduction over a bfloat16 tensor is TensorFlow's slow elementwise path;
    whole-process figures: ``benchmarks/bench_musicnn.py``).

    The temporal convolutions (k×1 over time, one input channel) run as matrix products: as a
    Toeplitz matrix when the kernel spans at least half the patch (``2k ≥ frames``: 128 of 187),
    otherwise as a 1-D convolution with the mel bands in the batch. TensorFlow's 2-D
    convolution handles a single input channel poorly, both forms well (whole-process figures:
    ``benchmarks/bench_musicnn.py``); the timbral ones stay 2-D convolutions.
    """
    live = layer.live or {}
    plan = []
    for kind, (conv, norm) in [("timbral", p) for p in layer.timbral] + [("temporal", p) for p in layer.temporal]:
        scale, shift = affine(norm)
        step = {"kind": kind, "kernel": conv.kernel, "bias": conv.bias, "scale": scale, "shift": shift}
        keep = live.get(conv.name)
        if keep is not None and len(keep) < conv.filters:
            dead = sorted(set(range(conv.filters)) - set(keep))
            step.update({k: tf.gather(v, keep, axis=-1) for k, v in step.items() if k != "kind"})
            step["const"] = tf.nn.relu(tf.gather(conv.bias, dead)) * tf.gather(scale, dead) + tf.gather(shift, dead)
            position = {f: j for j, f in enumerate(list(keep) + dead)}
            step["order"] = [position[f] for f in range(conv.filters)]
        step["sign"] = tf.where(step["scale"] >= 0, 1.0, -1.0)
        step["kernel"] = step["kernel"] * step["sign"]  # max pooling of its output: max z (s ≥ 0), −min z (s < 0)
        if kind == "temporal":
            k = conv.kernel.shape[0]
            if frames is not None and 2 * k >= frames:
                step["toeplitz"] = toeplitz(step["kernel"][:, 0, 0, :], frames)
            else:
                step["conv1d"] = step["kernel"][:, 0]  # (k, 1, F)
        plan.append(step)
    return plan


def front_infer(layer, x, plan):
    """The front end at inference: ``max over frequency of BN(ReLU(conv(x)))`` per filter,
    through the max/min of the convolution (:func:`conv_bn_max`; one max pooling of the
    sign-flipped convolution, :func:`front_plan`), for the live filters only."""
    x = layer.input_norm(x, training=False)  # (N, frames, mels, 1)
    padded = tf.pad(x, TIME_PAD)  # 'same' in time, 'valid' in frequency
    n, frames, mels = tf.shape(x)[0], tf.shape(x)[1], x.shape[2]
    bands = tf.transpose(x[..., 0], [0, 2, 1])  # (N, mels, frames): the temporal filters' input
    out = []
    for step in plan:
        if step["kind"] == "timbral":
            z = tf.nn.conv2d(padded, step["kernel"], 1, "VALID")  # (N, frames, bands', F)
            extreme = tf.nn.max_pool2d(z, [1, z.shape[2]], [1, z.shape[2]], "VALID")[:, :, 0]
        else:
            if "toeplitz" in step:
                z = tf.matmul(tf.reshape(bands, [-1, frames]), step["toeplitz"])
            else:
                z = tf.nn.conv1d(tf.reshape(bands, [-1, frames, 1]), step["conv1d"], 1, "SAME")
            z = tf.reshape(z, [n, mels, frames, -1])  # (N, mels, frames, F)
            extreme = tf.nn.max_pool2d(z, [mels, 1], [mels, 1], "VALID")[:, 0]
        v = extreme * step["sign"] + step["bias"]  # max z where s ≥ 0, min z where s < 0
        y = tf.nn.relu(v) * step["scale"] + step["shift"]  # (N, frames, live filters)
        if "const" in step:  # the dead filters' constants, put back in place
            const = tf.broadcast_to(step["const"], tf.concat([tf.shape(y)[:2], tf.shape(step["const"])], 0))
            y = tf.gather(tf.concat([y, const], -1), step["order"], axis=-1)
        out.append(y)
    return out


def mid_plan(layer, frames):
    """The first two mid-end layers at inference with the first one's dead filters folded
    (:meth:`~tfmusictag.reduction.musicnn.MusicnnCNN.fold`), prepared once per call; ``None`` when every filter is live.

    A dead filter's ReLU is 0 for every input the front end can give, so after its batch norm
    it is its shift ``t``, in every frame. Layer 1 convolves the live filters only, and
    layer 2 convolves only their maps: what the constant maps add to layer 2 is one
    ``(frames, 64)`` term, computed once by convolving the constant maps (zero-padded like the
    real ones, so the first and last three frames are exact too) — the same values as the
    direct form, up to float rounding.
    """
    live = (layer.live or {}).get(layer.midend[0][0].name)
    (conv1, norm1), (conv2, _) = layer.midend[:2]
    if live is None or len(live) == conv1.filters:
        return None
    dead = sorted(set(range(conv1.filters)) - set(live))
    scale, shift = affine(norm1)
    const = tf.gather(shift, dead)
    constant_maps = tf.broadcast_to(const, tf.stack([1, frames, len(dead)]))
    border = tf.nn.conv1d(tf.pad(constant_maps, MID_PAD), tf.gather(conv2.kernel, dead, axis=1), 1, "VALID")
    position = {f: j for j, f in enumerate(list(live) + dead)}
    return {"kernel1": tf.gather(conv1.kernel, live, axis=-1), "bias1": tf.gather(conv1.bias, live),
            "scale1": tf.gather(scale, live), "shift1": tf.gather(shift, live), "const1": const,
            "order1": [position[f] for f in range(conv1.filters)],
            "kernel2": tf.gather(conv2.kernel, live, axis=1), "bias2": border[0] + conv2.bias}


def mid_infer(layer, front, plan):
    """Mid-end layers 1 and 2 (``[h1, h2]``) from the front end's maps, by :func:`mid_plan`."""
    norm2 = layer.midend[1][1]
    y1 = tf.nn.relu(tf.nn.conv1d(tf.pad(front, MID_PAD), plan["kernel1"], 1, "VALID") + plan["bias1"])
    y1 = y1 * plan["scale1"] + plan["shift1"]  # (N, frames, live filters)
    const = tf.broadcast_to(plan["const1"], tf.concat([tf.shape(y1)[:2], tf.shape(plan["const1"])], 0))
    h1 = tf.gather(tf.concat([y1, const], -1), plan["order1"], axis=-1)
    y2 = tf.nn.relu(tf.nn.conv1d(tf.pad(y1, MID_PAD), plan["kernel2"], 1, "VALID") + plan["bias2"])
    return [h1, norm2(y2, training=False) + h1]


def fold_vgg(layer, tolerance: float = FOLD_TOLERANCE):
    """The first layer's filters of a :class:`~tfmusictag.reduction.musicnn.MusicnnVGG` that inference
    convolves (its :meth:`~tfmusictag.reduction.musicnn.MusicnnVGG.fold`): returns ``(live, report)``."""
    conv = layer.convs[0]
    live = _live_filters(conv, layer.norms[0], input_bound(layer.input_norm), tolerance)
    return live, {conv.name: (len(live), conv.filters)}


def vgg_first_blocks(layer, x, stats):
    """Blocks 1 and 2 at inference with the first layer's dead filters folded (:meth:`~tfmusictag.reduction.musicnn.MusicnnCNN.fold`):
    returns block 2's pooled output, appending both blocks' :func:`block_stats` to ``stats``
    when the readout needs them."""
    conv1, norm1, pool1 = layer.convs[0], layer.norms[0], layer.pooling[0]
    conv2, norm2, pool2 = layer.convs[1], layer.norms[1], layer.pooling[1]
    live = layer.live
    dead = sorted(set(range(conv1.filters)) - set(live))
    scale, shift = affine(norm1)
    g = lambda v, idx: tf.gather(v, idx, axis=-1)  # noqa: E731
    y = tf.nn.relu(tf.nn.conv2d(x, g(conv1.kernel, live), 1, "SAME") + g(conv1.bias, live))
    y = pool1(y * g(scale, live) + g(shift, live))  # (N, h, w, live)
    const = tf.nn.relu(g(conv1.bias, dead)) * g(scale, dead) + g(shift, dead)  # the dead maps' values
    if layer.readout != "last":
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
    if layer.readout != "last":
        stats.append(block_stats(y2))
    return y2
