"""Why MFCC + LSTM (Alg. 24) did not learn: gradients through the 1366-step frame LSTM, measured.

For ``mfcc_finetuned_lstm`` with and without the LSTM's input standardisation
(``temporal.lstm.standardize``), this trains for ``--steps`` steps on ``demo_catalog/small`` and
records at a few steps:

* the gradient norm of each layer group (frame LSTM, segment LSTM, classifier);
* the gradient of the loss with respect to the MFCC frames, by position inside the 29.1 s
  segment: the ratio of its norm over the first 100 frames to the last 100 — how much of the
  segment the sequence-to-one frame LSTM can still learn from (1.0: all frames alike; below
  1e-3: the start of every segment is forgotten, the vanishing-gradient problem);
* the fraction of the frame LSTM's gate pre-activations beyond ±3 (saturated sigmoid / tanh).

Writes ``benchmarks/results/lstm_diagnostics.json``. Tests check the standardisation itself
(``tests/test_variants.py``); this only measures what it changes.

    python benchmarks/lstm_diagnostics.py --steps=200
"""

import argparse
import json
import os
import time

import numpy as np


def gate_saturation(model, v, m) -> float:
    import tensorflow as tf

    lstm = model.temporal.frame_lstm
    x = model.temporal._standardized(v)
    x = tf.reshape(x, [-1, x.shape[-1]])
    keep = tf.reshape(m, [-1])
    z = tf.boolean_mask(tf.matmul(x, lstm.cell.kernel) + lstm.cell.bias, keep)
    return float(tf.reduce_mean(tf.cast(tf.abs(z) > 3.0, tf.float32)))


def run(standardize: bool, steps: int, seed: int, data_dir, every: int):
    import keras
    import tensorflow as tf

    from tfmusictag import data
    from tfmusictag.tagger import TrackTagger
    from tfmusictag.training import LearningRates, GroupSchedule, Trainer
    from tfmusictag.variants import variant_config

    keras.utils.set_random_seed(seed)
    train_ds, tags = data.load_split("demo_catalog/small", "train", data_dir)
    config = variant_config("mfcc_finetuned_lstm", tags, {"temporal.lstm.units": 64, "classifier.hidden": 128,
                                                           "temporal.lstm.standardize": standardize})
    model = TrackTagger(config)
    pipe = data.PipelineConfig(batch_size=8, shuffle_buffer=64, cache="", max_seconds=60.0, seed=seed)
    batches = data.track_pipeline(train_ds, tags, model.tags, model.front_end_config, pipe)
    batches = batches.map(lambda x, y: ({"log_mel": x["log_mel"], "num_frames": x["num_frames"]}, y))
    model.fit_unsupervised(batches)
    lr = GroupSchedule(3e-3, 3000)
    trainer = Trainer(model, LearningRates(temporal=lr, classifier=lr))
    loss_fn = keras.losses.BinaryCrossentropy()
    probe_x, probe_y = next(iter(batches))
    records = []

    def measure(step):
        v, m = model.reduce(probe_x["log_mel"], probe_x["num_frames"])
        with tf.GradientTape() as tape:
            tape.watch(v)
            f = model.temporal(v, m, training=False)
            loss = loss_fn(probe_y, model.classifier(f, training=False))
        groups = {"frame_lstm": model.temporal.frame_lstm.trainable_weights,
                  "segment_lstm": model.temporal.segment_lstm.trainable_weights,
                  "classifier": model.classifier.trainable_weights}
        names = list(groups)
        grads = tape.gradient(loss, [v] + [w for n in names for w in groups[n]])
        gv, rest = grads[0], grads[1:]
        norms, i = {}, 0
        for n in names:
            k = len(groups[n])
            norms[n] = float(tf.linalg.global_norm(rest[i:i + k]))
            i += k
        # d loss / d frame, by position in the segment (valid segments that are full only)
        per_frame = tf.norm(gv, axis=-1)  # (B, S, F)
        full = tf.reduce_all(m, -1)  # (B, S)
        rows = tf.boolean_mask(per_frame, full).numpy()
        first, last = rows[:, :100].mean(), rows[:, -100:].mean()
        # where the gradient is: mean norm in 10 windows along the segment, relative to the last one
        windows = [float(w.mean() / last) if last > 0 else None for w in np.array_split(rows, 10, axis=1)]
        first_live = next((i for i, w in enumerate(windows) if w and w > 1e-3), None)  # first tenth that learns
        records.append({"step": step, "loss": float(loss), "grad_norm": norms,
                        "input_grad_first100_over_last100": float(first / last) if last > 0 else None,
                        "input_grad_by_tenth_of_segment": windows,
                        "segment_fraction_with_gradient_above_1e-3_of_last":
                            None if first_live is None else (10 - first_live) / 10,
                        "gate_saturation": gate_saturation(model, v, m)})
        print(json.dumps({"standardize": standardize, **records[-1]}), flush=True)

    measure(0)
    t0 = time.time()
    while int(trainer.step.numpy()) < steps:
        for x, y in trainer.distribute(batches):
            trainer.train_step(x, y)
            s = int(trainer.step.numpy())
            if s % every == 0 or s == steps:
                measure(s)
            if s >= steps:
                break
    return {"standardize": standardize, "seed": seed, "steps": steps, "seconds": round(time.time() - t0, 1),
            "records": records}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "lstm_diagnostics.json"))
    args = parser.parse_args()
    results = [run(s, args.steps, args.seed, args.data_dir, args.every) for s in (False, True)]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"variant": "mfcc_finetuned_lstm", "dataset": "demo_catalog/small", "T": 64, "H": 128,
                   "runs": results}, f, indent=2)
    print(f"wrote {args.out}")
    for r in results:
        a, b = r["records"][0], r["records"][-1]
        print(f"standardize={r['standardize']}: gate saturation {a['gate_saturation']:.2f} -> {b['gate_saturation']:.2f}, "
              f"first/last-100-frame input gradient {a['input_grad_first100_over_last100']:.2e} -> "
              f"{b['input_grad_first100_over_last100']:.2e}, part of the segment that gets gradient "
              f"{a['segment_fraction_with_gradient_above_1e-3_of_last']} -> "
              f"{b['segment_fraction_with_gradient_above_1e-3_of_last']}, frame-LSTM grad norm "
              f"{a['grad_norm']['frame_lstm']:.2e} -> {b['grad_norm']['frame_lstm']:.2e}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
