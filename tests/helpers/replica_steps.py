"""``python tests/helpers/replica_steps.py [CASE ...]``: every stage (or the named cases) trained on two CPU replicas
(``MirroredStrategy``) against one device, with global batches of 1 (one replica's share is empty:
1 + 0, a global batch smaller than the number of replicas), 3 (2 + 1) and 1 again. Prints one JSON
line ``{case: {"first": max |Δ| over the weights after the first step, "all": after all three}}``:
after a 1 + 0 step the replicas' sums are the one device's plus exact zeros.

A separate process because the CPU must be split into two logical devices before TensorFlow starts.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tfmusictag.training.steps import Trainer, _relaxed_spec  # noqa: E402
from tfmusictag.training.trainer import frozen_outputs  # noqa: E402
from tfmusictag.variants import build_variant  # noqa: E402

TAGS = ("piano", "drums", "strings")
CNN = {"reduction.cnn.filters": [2, 2, 2, 2, 4], "classifier.hidden": 4}
LSTM = {"temporal.lstm.units": 4, "temporal.lstm.dropout": 0.0, "classifier.hidden": 4, "classifier.dropout": 0.0}
#: case → (variant, overrides, input form): every temporal stage, and the three input forms of
#: TrackTagger (log-mel, cached segment vectors, cached track embedding)
CASES = {
    "bof": ("mfcc_bof", {"temporal.bof.num_clusters": 4, "reduction.mfcc.n_mfcc": 13, "classifier.hidden": 4,
                         "classifier.dropout": 0.0}, "log_mel"),
    "hierarchical_lstm": ("mfcc_finetuned_lstm", {**LSTM, "reduction.mfcc.n_mfcc": 13}, "log_mel"),
    "cnn_lstm": ("finetuned_cnn_finetuned_lstm", {**CNN, **LSTM}, "log_mel"),
    "mean": ("cnn_mean", {**CNN, "classifier.dropout": 0.0}, "log_mel"),
    "max": ("cnn_max", {**CNN, "classifier.dropout": 0.0}, "log_mel"),
    "cached_segments_lstm": ("blackbox_cnn_finetuned_lstm", {**CNN, **LSTM}, "segments"),
    "cached_embedding": ("transfer_stats", {"reduction.cnn.filters": [2, 2, 2, 2, 4]}, "embedding"),
    # musicnn (3 s patches): its front end's input norm, convolutions and mid end's 1-D convolutions
    "musicnn": ("cnn_mean", {"reduction.type": "musicnn", "reduction.musicnn.frontend_filters": 0.05,
                             "reduction.musicnn.midend_filters": 4, "segments.segment_frames": 187,
                             "classifier.hidden": 4, "classifier.dropout": 0.0}, "log_mel"),
    "vgg": ("cnn_mean", {"reduction.type": "vgg", "reduction.vgg.filters": 2, "reduction.vgg.dropout": 0.0,
                         "segments.segment_frames": 187, "classifier.hidden": 4, "classifier.dropout": 0.0}, "log_mel"),
}
SIZES = (1, 3, 1)


def batches(model, form):
    rng = np.random.default_rng(0)
    out = []
    for i, b in enumerate(SIZES):
        n = rng.integers(900, 3000, size=b).astype(np.int32)
        x = {"log_mel": tf.constant(rng.normal(size=(b, int(n.max()), 96)).astype(np.float32)),
             "num_frames": tf.constant(n)}
        if form != "log_mel":
            x = frozen_outputs(model, x)
        out.append((x, tf.constant(rng.integers(0, 2, size=(b, len(TAGS))).astype(np.float32))))
    return out


def fit(model, x):
    model.fit_unsupervised(tf.data.Dataset.from_tensors((x, tf.zeros([len(x["num_frames"]), len(TAGS)]))))


def train(model, data, strategy):
    """Weights after the first step and after every step."""
    trainer = Trainer(model, strategy=strategy)
    spec = tf.nest.map_structure(_relaxed_spec, data[0])  # batch size and length open, as in training
    states = []
    for x, y in trainer.distribute(tf.data.Dataset.from_generator(lambda: iter(data), output_signature=spec)):
        trainer.train_step(x, y)
        states.append({v.path: v.numpy() for v in model.weights})
    return states[0], states[-1]


def max_diff(a, b):
    return max(float(np.max(np.abs(a[k] - b[k]))) if a[k].size else 0.0 for k in a)


def main(cases):
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        raise SystemExit(f"unknown cases {unknown}; choose from {sorted(CASES)}")
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    result = {}
    for case in cases:
        variant, overrides, form = CASES[case]
        one = build_variant(variant, TAGS, overrides)
        rng = np.random.default_rng(1)
        fit(one, {"log_mel": tf.constant(rng.normal(size=(2, 3000, 96)).astype(np.float32)),
                  "num_frames": tf.constant([3000, 2000])})
        data = batches(one, form)
        one(data[0][0])
        initial = one.get_weights()
        with mirrored.scope():
            two = build_variant(variant, TAGS, overrides)
            two(data[0][0])
            two.set_weights(initial)
        (a1, a3), (b1, b3) = train(one, data, None), train(two, data, mirrored)
        result[case] = {"first": max_diff(a1, b1), "all": max_diff(a3, b3)}
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(CASES)))
