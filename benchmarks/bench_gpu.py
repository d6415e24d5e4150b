"""Tagging and training on a GPU, against the CPU of the same machine, in one run.

Run where ``nvidia-smi`` finds a GPU (``make`` then installs TensorFlow's CUDA build). Measured:

* **the front end** (waveform → log-mel, ``tf.signal`` inside a ``tf.function``) on a batch of
  30 s clips, on the GPU and on the CPU: seconds of audio per second, and the device the result
  was computed on (TensorFlow places the graph on the first GPU when there is one);
* **tagging**: ``tag_files`` with ``MTT_musicnn`` over generated 3-minute tracks (WAV), decoding
  included: tracks per second and audio-hours per hour;
* **training**: steps per second of :class:`tfmusictag.training.steps.Trainer` (the step ``train``
  runs) for three variants (MFCC + LSTM, the thesis's fine-tuned CNN + LSTM, the CNN + mean), on
  batches of 16 tracks of 30 s of log-mel;
* **peak memory**: the GPU's peak allocation (``tf.config.experimental.get_memory_info``), or the
  process's peak resident set on the CPU.

No mixed precision is used: the models train and tag in float32 on either device.

``--device=cpu`` runs the same code with the GPU hidden (what the test suite runs, ``--quick``),
so every path of this script is exercised on a machine without one.

Usage::

    python benchmarks/bench_gpu.py [--device gpu|cpu] [--quick] [--output results/gpu.json]
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

#: The variants whose training steps are timed.
TRAINED = ("mfcc_finetuned_lstm", "finetuned_cnn_finetuned_lstm", "cnn_mean")


def has_gpu() -> bool:
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def median_seconds(fn, repeats):
    fn()  # trace and warm up
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def front_end(tf, devices, quick):
    """Audio seconds per second of the log-mel front end on each device, and where it ran."""
    import numpy as np

    from tfmusictag.variants import build_variant

    front = build_variant("mfcc_bof", ["a", "b"]).front_end
    sr = 12000
    clips, seconds = (4, 10) if quick else (64, 30)
    x = np.random.default_rng(0).normal(0, 0.1, (clips, seconds * sr)).astype(np.float32)
    out = {}
    for device in devices:
        with tf.device(device):
            fn = tf.function(lambda a: front(a))
            batch = tf.constant(x)
            result = fn(batch)
            t = median_seconds(lambda: fn(batch).numpy(), 2 if quick else 5)
        out[device] = {"audio_seconds_per_second": round(clips * seconds / t, 1), "computed_on": result.device}
    return out


def tagging(work, quick):
    """Tracks per second and audio-hours per hour of ``tag_files`` with MTT_musicnn."""
    import numpy as np
    import soundfile as sf

    from tfmusictag.serving import InferenceModel
    from tfmusictag.tagging import tag_files

    tracks, seconds, sr = (2, 20, 16000) if quick else (24, 180, 16000)
    rng = np.random.default_rng(1)
    files = []
    for i in range(tracks):
        t = np.arange(seconds * sr) / sr
        y = 0.3 * np.sin(2 * np.pi * (110 + 20 * i) * t) + 0.02 * rng.normal(size=len(t))
        files.append(os.path.join(work, f"track{i:02d}.wav"))
        sf.write(files[-1], y.astype(np.float32), sr)
    tagger = InferenceModel("MTT_musicnn")
    list(tag_files(files[:1], tagger))  # warm up: traces the model
    t = time.perf_counter()
    records = list(tag_files(files, tagger, top_k=0))
    elapsed = time.perf_counter() - t
    assert all("error" not in r for r in records), records
    return {"tracks": tracks, "track_seconds": seconds, "tracks_per_second": round(tracks / elapsed, 2),
            "audio_hours_per_hour": round(tracks * seconds / elapsed, 1)}


def training(tf, quick):
    """Steps per second of the training step for :data:`TRAINED`."""
    from tfmusictag.training.config import LearningRates
    from tfmusictag.training.steps import Trainer
    from tfmusictag.variants import build_variant

    batch, frames = (2, 300) if quick else (16, 1366)  # 1366 frames: 29.1 s at 12 kHz, hop 256
    tags = [f"tag{i}" for i in range(50)]
    small = {"reduction.cnn.filters": [8, 8, 8, 8, 8], "temporal.lstm.units": 16, "classifier.hidden": 16} if quick else {}
    out = {}
    for name in TRAINED:
        model = build_variant(name, tags, small)
        trainer = Trainer(model, LearningRates())
        x = {"log_mel": tf.random.stateless_normal([batch, frames, 96], [1, 2]),
             "num_frames": tf.fill([batch], frames)}
        y = tf.cast(tf.random.stateless_uniform([batch, len(tags)], [3, 4]) < 0.1, tf.float32)
        steps = 2 if quick else 20

        def run():
            for _ in range(steps):
                trainer.train_step(x, y)

        t = median_seconds(run, 1 if quick else 3)
        out[name] = {"steps_per_second": round(steps / t, 2), "batch": batch, "frames": frames,
                     "parameters": int(sum(int(tf.size(v)) for v in model.trainable_variables))}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: the code paths, not figures")
    ap.add_argument("--output", default=os.path.join(HERE, "results", "gpu.json"))
    args = ap.parse_args()
    if args.device == "gpu" and not has_gpu():
        print("bench_gpu: nvidia-smi finds no GPU here; run it on a machine with one (or --device=cpu)",
              file=sys.stderr)
        return 2
    import tensorflow as tf

    if args.device == "cpu":
        tf.config.set_visible_devices([], "GPU")
    gpus = tf.config.list_physical_devices("GPU")
    if args.device == "gpu" and not gpus:
        print("bench_gpu: nvidia-smi sees a GPU but TensorFlow does not (a CPU-only TensorFlow build? "
              "`make` installs the CUDA build where nvidia-smi works)", file=sys.stderr)
        return 2
    devices = (["/GPU:0"] if gpus else []) + ["/CPU:0"]
    work = tempfile.mkdtemp(prefix="bench_gpu_")
    try:
        result = {"device": args.device, "quick": args.quick, "front_end": front_end(tf, devices, args.quick),
                  "tagging": tagging(work, args.quick), "training": training(tf, args.quick)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if gpus:
        result["gpu"] = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        result["peak_gpu_memory_mb"] = round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2 ** 20)
        if "/CPU:0" in result["front_end"]:
            g, c = result["front_end"]["/GPU:0"], result["front_end"]["/CPU:0"]
            result["front_end_gpu_over_cpu"] = round(g["audio_seconds_per_second"] / c["audio_seconds_per_second"], 2)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    from _music import save_result

    save_result(args.output, result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
