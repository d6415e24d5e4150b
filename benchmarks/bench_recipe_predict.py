"""Tagging with a small-catalog recipe model (``MTT_vgg`` + ``MSD_musicnn``, mean/std/max, linear
heads), whole processes: this checkout's ``predict`` against another checkout's (``--baseline``), in
one run on the same real files.

The recipe model is trained once on ``demo_catalog/tiny`` (its speed does not depend on how well it
is trained) and exported as a SavedModel; both checkouts tag the same files with it, from their own
code (``PYTHONPATH``), alternating, ``--repeats`` times: median wall time and peak resident set. The
tags of the two must agree (the SavedModel holds the graph the exporting checkout traced, so the
model is exported by each checkout from the same run directory).

Usage::

    git worktree add /tmp/baseline <commit>      # e.g. the commit before a speed change
    .venv/bin/python benchmarks/bench_recipe_predict.py --baseline /tmp/baseline [--tracks 6]

Writes ``benchmarks/results/recipe_predict.json``.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from _music import fetch, save_result, total_seconds  # noqa: E402
from bench_musicnn import machine  # noqa: E402

WORK = os.path.join(HERE, "_work", "recipe_predict")
PEAK = os.path.join(HERE, "_peak_rss.py")


def env_for(checkout):
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=checkout, CUDA_VISIBLE_DEVICES="")


def run(cmd, checkout, stdout=subprocess.DEVNULL):
    with tempfile.NamedTemporaryFile("r") as rss:
        t = time.perf_counter()
        subprocess.run([sys.executable, PEAK, rss.name, *cmd], check=True, env=env_for(checkout), stdout=stdout,
                       stderr=subprocess.DEVNULL, cwd=checkout)
        return time.perf_counter() - t, int(open(rss.name).read()) / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, help="another checkout of tfmusictag (git worktree)")
    p.add_argument("--tracks", type=int, default=6)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--output", default=os.path.join(HERE, "results", "recipe_predict.json"))
    args = p.parse_args()

    files = sorted(fetch(), key=lambda f: -sf.info(f).duration)[:args.tracks]
    run_dir = os.path.join(WORK, "run")
    if not os.path.exists(os.path.join(run_dir, "model.keras")):  # the recipe, briefly trained by the
        # baseline (a newer checkout reads an older model; not always the other way round)
        subprocess.run([sys.executable, "-m", "tfmusictag.train", "--dataset=demo_catalog/tiny",
                        f"--data_dir={os.path.join(WORK, 'tfds')}", f"--model_dir={run_dir}", "--steps=20",
                        "--noprogress"], check=True, env=env_for(os.path.abspath(args.baseline)),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=os.path.abspath(args.baseline))
    checkouts = {"this checkout": ROOT, "baseline": os.path.abspath(args.baseline)}
    models = {}
    for key, checkout in checkouts.items():
        base = os.path.join(WORK, "saved_models", key.replace(" ", "_"))
        out = subprocess.run([sys.executable, "-m", "tfmusictag.export", f"--model_dir={run_dir}",
                              f"--base_dir={base}", "--name=recipe"], check=True, env=env_for(checkout),
                             capture_output=True, text=True, cwd=checkout)
        models[key] = out.stdout.strip().splitlines()[-1]
    runs = {k: [] for k in checkouts}
    for _ in range(args.repeats):
        for key, checkout in checkouts.items():
            runs[key].append(run([sys.executable, "-m", "tfmusictag.predict", f"--model={models[key]}",
                                  "--top_k=0", *files], checkout))
    tags = {}
    for key, checkout in checkouts.items():
        with tempfile.TemporaryFile("w+") as out:
            run([sys.executable, "-m", "tfmusictag.predict", f"--model={models[key]}", "--top_k=0", *files],
                checkout, stdout=out)
            out.seek(0)
            tags[key] = [json.loads(line)["tags"] for line in out]
    worst = max(abs(a[t] - b[t]) for ra, rb in zip(tags["this checkout"], tags["baseline"])
                for a, b in [(ra, rb)] for t in a)
    audio_seconds = total_seconds(files)
    base_seconds = statistics.median(s for s, _ in runs["baseline"])
    result = {"what": "predict with an exported small-catalog recipe model (MTT_vgg + MSD_musicnn), whole "
                      "processes, medians of alternating runs",
              "machine": machine(), "date": datetime.date.today().isoformat(),
              "baseline_commit": subprocess.run(["git", "-C", checkouts["baseline"], "rev-parse", "--short", "HEAD"],
                                         capture_output=True, text=True).stdout.strip(),
              "files": [os.path.basename(f) for f in files], "audio_seconds": round(audio_seconds, 1),
              "max_tag_difference": worst}
    for key, values in runs.items():
        seconds = statistics.median(s for s, _ in values)
        result[key] = {"seconds": round(seconds, 2), "peak_mb": round(statistics.median(m for _, m in values)),
                       "x_realtime": round(audio_seconds / seconds, 1),
                       "speed_vs_baseline": round(base_seconds / seconds, 2)}
    print(json.dumps(result, indent=2))
    save_result(args.output, result)


if __name__ == "__main__":
    main()
