"""Does the ``tf.data`` pipeline keep up with training? Its throughput against the model's consumption.

On ``demo_catalog/small`` (whole tracks of 1–2.5 min, encoded FLAC/Ogg/MP3/WAV):

* pipeline: TFDS records → decode (all cores) → log-mel in the graph → padded batches, uncached,
  in audio seconds per wall second;
* consumption: training steps (forward + backward + Adam) of two variants at the thesis's sizes,
  on cached batches, in audio seconds per wall second.

A ratio above 1 means the pipeline feeds the model faster than it trains, so on this CPU the
first epoch (before the cache is warm) is not input-bound; on a GPU, consumption grows and the
cache (``PipelineConfig.cache``) carries later epochs.

Usage::

    python benchmarks/bench_pipeline.py [--batches 6]
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmusictag import data  # noqa: E402

sys.path.insert(0, HERE)
from _music import save_result  # noqa: E402
from tfmusictag.variants import build_variant  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=6)
    ap.add_argument("--batch_size", type=int, default=8)
    ap.add_argument("--data_dir", default=os.path.join(HERE, "_work", "tfds"))
    ap.add_argument("--json", default=os.path.join(HERE, "results", "pipeline.json"))
    args = ap.parse_args()

    ds, tags = data.load_split("demo_catalog/small", "train", args.data_dir)
    cfg = data.PipelineConfig(batch_size=args.batch_size, shuffle_buffer=0, cache=None)
    pipe = data.track_pipeline(ds, tags, config=cfg).take(args.batches)
    next(iter(pipe))  # warm-up
    t = time.perf_counter()
    frames = 0
    batches = []
    for inputs, labels in pipe:
        frames += int(tf.reduce_sum(inputs["num_frames"]))
        batches.append((inputs, labels))
    pipeline_speed = frames * 256 / 12000 / (time.perf_counter() - t)
    result = {"pipeline_audio_s_per_s": round(pipeline_speed, 1), "consumption_audio_s_per_s": {}}
    print(f"pipeline: {pipeline_speed:.0f} s of audio per second")

    for variant in ("mfcc_bof", "finetuned_cnn_finetuned_lstm"):
        model = build_variant(variant, tags)
        opt = keras.optimizers.Adam(1e-3)
        loss_fn = keras.losses.BinaryCrossentropy()

        @tf.function(reduce_retracing=True)
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model({"log_mel": x["log_mel"], "num_frames": x["num_frames"]}, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        step(*batches[0])
        t = time.perf_counter()
        for x, y in batches:
            step(x, y).numpy()
        speed = frames * 256 / 12000 / (time.perf_counter() - t)
        result["consumption_audio_s_per_s"][variant] = round(speed, 1)
        print(f"training {variant}: {speed:.0f} s of audio per second "
              f"(pipeline / consumption = {pipeline_speed / speed:.2f})")
        sys.stdout.flush()
    save_result(args.json, result)


if __name__ == "__main__":
    main()
