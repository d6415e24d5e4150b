"""Beyond one process, measured on this machine: training with 1 process against 2 workers
(``MultiWorkerMirroredStrategy`` on localhost), the all-reduce volume per step of every variant,
and catalog tagging with ``predict_beam`` (DirectRunner, 2 worker processes) against ``predict``.

* Training: ``python -m tfmusictag.train`` on ``demo_catalog/small`` (whole tracks), the same global
  batch and steps; throughput is ``metrics.json``'s ``train_tracks_per_second`` (supervised steps
  after the first, input included). With 2 workers on 2 cores each worker gets one core
  (``--threads_per_worker``, default 1: TensorFlow's intra- and inter-op pools), so the figure
  shows the cost of the all-reduce and the duplicated input on one machine — not the speed-up of
  a real cluster, where each worker has its own cores or GPU.
* All-reduce volume: the gradients of the trainable variables (float32) every step, per variant at
  the thesis's sizes with MagnaTagATune's 50 tags — bytes a ring all-reduce moves ≈ 2 × this per
  worker per step; with a link's bandwidth, it bounds the steps per second of a cluster.
* Tagging: a folder of tracks (demo compositions, 1–2 min, four formats) tagged by ``predict`` (one
  process: decoding one file ahead of the model) and by ``predict_beam`` with 2 worker processes;
  wall time of each command, start-up included (what a user waits for).

Usage::

    python benchmarks/bench_distributed.py [--steps 40] [--tracks 24]
"""

import argparse
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _music import save_result  # noqa: E402

PY = sys.executable


def _ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _threads_env(env, threads):
    # TensorFlow's intra- and inter-op thread pools of one process (read by TensorFlow when it starts)
    return dict(env, TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads),
                OMP_NUM_THREADS=str(threads))


def training(args, work):
    flags = ["--dataset=demo_catalog/small", f"--data_dir={args.data_dir}", f"--variant={args.variant}",
             f"--steps={args.steps}", f"--batch_size={args.batch_size}", f"--checkpoint_every={args.steps}",
             "--noprogress", "--set=max_seconds=60"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = {}
    one = os.path.join(work, "one")
    subprocess.run([PY, "-m", "tfmusictag.train", *flags, f"--model_dir={one}"], env=env, check=True,
                   capture_output=True)
    out["1 process"] = json.load(open(os.path.join(one, "metrics.json")))["train_tracks_per_second"]
    chief, worker = (f"localhost:{p}" for p in _ports(2))
    cluster = {"chief": [chief], "worker": [worker]}
    mw = os.path.join(work, "mw")
    procs = [subprocess.Popen([PY, "-m", "tfmusictag.train", *flags, f"--model_dir={mw}", "--strategy=multi_worker"],
                              env=_threads_env(dict(env, TF_CONFIG=json.dumps({"cluster": cluster,
                                                                               "task": {"type": t, "index": 0}})),
                                               args.threads_per_worker),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for t in ("chief", "worker")]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(p.stderr.read())
    out["2 workers"] = json.load(open(os.path.join(mw, "metrics.json")))["train_tracks_per_second"]
    return out


def allreduce_volume():
    import numpy as np
    import tensorflow as tf

    from tfmusictag.training import LearningRates, Trainer
    from tfmusictag.variants import VARIANTS, build_variant

    tags = [f"tag{i}" for i in range(50)]
    volume = {}
    for name in VARIANTS.names():
        model = build_variant(name, tags)
        x = {"log_mel": tf.zeros([1, 3000, model.front_end_config.n_mels]), "num_frames": tf.constant([3000])}
        model(x)  # built
        variables = Trainer(model, LearningRates()).variables  # what the optimizers update: all-reduced
        n = int(sum(np.prod(v.shape) for v in variables))
        volume[name] = {"trainable_parameters": n, "gradient_megabytes_per_step": round(4 * n / 1e6, 2)}
    return volume


def tagging(args, work):
    from tfmusictag.datasets.demo_catalog import compose

    music = os.path.join(work, "music")
    os.makedirs(music, exist_ok=True)
    formats = ["flac", "mp3", "ogg", "wav"]
    seconds = 0.0
    for i in range(args.tracks):
        t = compose.make_track(seed=900 + i, seconds=60.0 + 60.0 * (i % 2), style=["house", "ballad", "jazzy"][i % 3])
        with open(os.path.join(music, f"t{i:03d}.{formats[i % 4]}"), "wb") as f:
            f.write(compose.encode(t.audio, t.sample_rate, formats[i % 4]))
        seconds += len(t.audio) / t.sample_rate
    model = os.path.join(work, "saved_models", "bench", "1")
    if not os.path.exists(model):
        subprocess.run([PY, "-m", "tfmusictag.export", f"--model_dir={os.path.join(work, 'one')}", "--name=bench",
                        f"--base_dir={os.path.join(work, 'saved_models')}"], check=True, capture_output=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    t0 = time.perf_counter()
    subprocess.run([PY, "-m", "tfmusictag.predict", music, f"--model={model}", f"--output={work}/predict.jsonl"],
                   env=env, check=True, capture_output=True)
    t_predict = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([PY, "-m", "tfmusictag.predict_beam", f"--input={music}", f"--model={model}",
                    f"--output={work}/beam", "--direct_num_workers=2", "--direct_running_mode=multi_processing"],
                   env=env, check=True, capture_output=True)
    t_beam = time.perf_counter() - t0
    n = len(glob.glob(os.path.join(music, "*")))
    return {"tracks": n, "audio_minutes": round(seconds / 60, 1),
            "predict_tracks_per_second": round(n / t_predict, 3),
            "predict_beam_2_workers_tracks_per_second": round(n / t_beam, 3),
            "beam_over_predict": round(t_predict / t_beam, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data_dir", default=os.path.join(HERE, "_work", "tfds"))
    ap.add_argument("--variant", default="mfcc_bof")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch_size", type=int, default=8)
    ap.add_argument("--threads_per_worker", type=int, default=1)
    ap.add_argument("--tracks", type=int, default=24)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "distributed.json"))
    args = ap.parse_args()
    work = os.path.join(HERE, "_work", "distributed")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    result = {"machine": f"{os.cpu_count()} cores, no GPU", "variant": args.variant, "global_batch": args.batch_size,
              "steps": args.steps, "threads_per_worker": args.threads_per_worker}
    result["training_tracks_per_second"] = tr = training(args, work)
    result["training_2_workers_over_1_process"] = round(tr["2 workers"] / tr["1 process"], 2)
    print(json.dumps(result, indent=2), flush=True)
    result["tagging"] = tagging(args, work)
    print(json.dumps(result["tagging"], indent=2), flush=True)
    result["allreduce_per_step"] = allreduce_volume()
    print("| variant | trainable parameters | gradient MB all-reduced per step |")
    print("|---|---|---|")
    for name, v in result["allreduce_per_step"].items():
        print(f"| {name} | {v['trainable_parameters']:,} | {v['gradient_megabytes_per_step']} |")
    save_result(args.out, result)


if __name__ == "__main__":
    main()
