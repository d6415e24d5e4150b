"""Forward-pass time per minute of audio for every model variant, at the thesis's sizes.

Each variant (Z = H = T = 1024, p = 0.3, Choi's CNN 32/128/128/192/256) tags one 5-minute
track (waveform at 12 kHz → tags, front end included) inside a compiled ``tf.function``; the
figure is the median of ``--repeats`` runs after a warm-up, divided by the track's minutes.
The front end alone is timed too, so the model's own share can be read off.

Usage::

    python benchmarks/bench_models.py [--minutes 5] [--repeats 3] [--variants a,b]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmusictag.temporal import BagOfFrames  # noqa: E402
from tfmusictag.variants import VARIANTS, build_variant  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _music import save_result  # noqa: E402


def music_like(minutes, sr=12000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(minutes * 60 * sr)) / sr
    notes = 110 * 2 ** (rng.integers(0, 36, size=len(t) // sr + 1) / 12)
    f = np.repeat(notes, sr)[: len(t)]
    return (0.3 * np.sin(2 * np.pi * np.cumsum(f) / sr) + 0.03 * rng.normal(size=len(t))).astype(np.float32)


def timed(fn, x, repeats):
    fn(x)  # trace and warm up
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.asarray(fn(x))
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS.names()))
    ap.add_argument("--json", default=os.path.join(HERE, "results", "models.json"))
    args = ap.parse_args()

    x = tf.constant(music_like(args.minutes)[None])
    tags = [f"tag{i}" for i in range(63)]  # the thesis's target vocabulary size
    results = {"machine_cores": os.cpu_count(), "track_minutes": args.minutes, "variants": {}}

    front = build_variant("mfcc_bof", tags).front_end
    front_fn = tf.function(lambda a: front(a), input_signature=[tf.TensorSpec([1, None], tf.float32)])
    t = timed(front_fn, x, args.repeats)
    results["front_end_s_per_min"] = round(t / args.minutes, 4)
    print(f"front end (log-mel) alone: {t / args.minutes:.3f} s per minute of audio")

    print("| variant | parameters | forward pass, s per minute of audio | × real time |")
    print("|---|---|---|---|")
    for name in args.variants.split(","):
        model = build_variant(name, tags)
        if isinstance(model.temporal, BagOfFrames):
            log_mel, n = model._features(x)
            y, m = model.reduction(*model.segmenter(log_mel, n))
            if int(tf.reduce_sum(tf.cast(m, tf.int32))) >= model.temporal.num_clusters:
                model.temporal.epochs = 1
                model.temporal.adapt((y, m))
        fn = tf.function(model.call, input_signature=[tf.TensorSpec([1, None], tf.float32)])
        t = timed(fn, x, args.repeats)
        per_min = t / args.minutes
        params = int(sum(np.prod(v.shape) for v in model.weights))
        results["variants"][name] = {"s_per_min": round(per_min, 4), "x_realtime": round(60 / per_min, 1),
                                     "parameters": params}
        print(f"| {name} | {params / 1e6:.2f} M | {per_min:.3f} | {60 / per_min:.0f} |")
        sys.stdout.flush()
    save_result(args.json, results)


if __name__ == "__main__":
    main()
