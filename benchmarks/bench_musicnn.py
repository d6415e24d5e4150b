"""Tagging a batch of real tracks, whole processes side by side: ``predict`` against the original musicnn.

What a user runs, timed from start to exit, on the same files in one run (``--tracks`` longest
recordings of Debian's ``wesnoth-1.16-music``, Ogg Vorbis 44.1 kHz stereo):

* **musicnn** — the original package 0.1.0 in its own environment (``--musicnn_python``; ``make
  musicnn-reference`` builds it): one process, ``musicnn.extractor.extractor(file, model)`` once on
  a 3 s clip (its warm-up) and once per file (``_musicnn_worker.py --whole``);
* **Essentia** — ``TensorflowPredictMusiCNN`` of ``essentia-tensorflow`` (``--essentia_python``;
  ``make essentia-reference`` builds its environment) on a frozen graph of the same checkpoint
  (frozen in musicnn's environment: ``_freeze_musicnn.py``), model loaded once, non-overlapping
  3 s patches, batches of 64 (``_essentia_worker.py``);
* **predict** — ``python -m tfmusictag.predict --model=NAME FILES`` (the default: the CPU kernels
  :func:`tfmusictag.kernels.choose_kernels` picks for this CPU, dead filters folded), the other
  kernels (``--kernels=onednn`` or ``--kernels=tensorflow``), and, on a CPU with bfloat16
  instructions, ``--precision=bfloat16`` (its tags compared with float32's per patch and per track).

Each system runs ``--repeats`` times, alternating; the median wall time and the median peak
resident set (``ru_maxrss`` of the process, launched from a small process: ``_peak_rss.py``) are
reported, with ratios to musicnn and × real time. The tags are compared too: the largest
difference from musicnn's taggram over every 3 s patch of every file, for ``predict --timeline``
(its JSON rounds to 4 decimals) and for Essentia.

Usage::

    make musicnn-reference
    .venv/bin/python benchmarks/bench_musicnn.py --musicnn_python .venv-musicnn/bin/python \\
        [--essentia_python .venv-essentia/bin/python] [--models MTT_musicnn MTT_vgg] [--tracks 6] [--repeats 3]

Writes ``benchmarks/results/musicnn.json``.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _music import fetch, save_result, total_seconds  # noqa: E402

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
PEAK = os.path.join(HERE, "_peak_rss.py")


def timed(cmd, stdout=subprocess.DEVNULL):
    """(wall seconds, peak resident MB) of one process."""
    with tempfile.NamedTemporaryFile("r") as rss:
        t = time.perf_counter()
        subprocess.run([sys.executable, PEAK, rss.name, *cmd], check=True, env=ENV, stdout=stdout,
                       stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - t
        return seconds, int(open(rss.name).read()) / 1024


def freeze(musicnn_python, name):
    """Essentia's graph of musicnn's checkpoint ``name`` (made once, in musicnn's environment)."""
    out = os.path.join(HERE, "_work", "essentia", f"{name}.pb")
    if not os.path.exists(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run([musicnn_python, os.path.join(HERE, "_freeze_musicnn.py"), name, out], check=True, env=ENV,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--musicnn_python", required=True, help="python of a venv with musicnn 0.1.0 installed")
    p.add_argument("--essentia_python", help="python of a venv with essentia-tensorflow installed")
    p.add_argument("--models", nargs="+", default=["MTT_musicnn", "MTT_vgg"])
    p.add_argument("--tracks", type=int, default=6)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--output", default=os.path.join(HERE, "results", "musicnn.json"))
    args = p.parse_args()

    files = sorted(fetch(), key=lambda f: -sf.info(f).duration)[:args.tracks]
    audio_seconds = total_seconds(files)
    for name in args.models:  # conversion is a one-off; not timed
        subprocess.run([sys.executable, "-m", "tfmusictag.pretrained", "convert", name], check=True, env=ENV,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from tfmusictag import kernels

    default = kernels.choose_kernels("auto") or "tensorflow"
    other = "tensorflow" if default == "onednn" else "onednn"
    try:
        kernels.check_precision("bfloat16", environ={})
        bf16 = True
    except Exception:  # noqa: BLE001 - a CPU without bfloat16: the system is left out
        bf16 = False
    results = {}
    for name in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            ref_npz, out_jsonl = os.path.join(tmp, "ref.npz"), os.path.join(tmp, "tags.jsonl")
            systems = {
                "musicnn": [args.musicnn_python, os.path.join(HERE, "_musicnn_worker.py"), "--whole", name, ref_npz,
                            *files],
                **({"essentia": [args.essentia_python, os.path.join(HERE, "_essentia_worker.py"),
                                 freeze(args.musicnn_python, name), os.path.join(tmp, "essentia.npz"), *files]}
                   if args.essentia_python else {}),
                "predict": [sys.executable, "-m", "tfmusictag.predict", f"--model={name}", "--top_k=0", *files],
                f"predict --kernels={other}": [sys.executable, "-m", "tfmusictag.predict", f"--model={name}",
                                               "--top_k=0", f"--kernels={other}", *files],
                **({"predict --precision=bfloat16": [sys.executable, "-m", "tfmusictag.predict", f"--model={name}",
                                                     "--top_k=0", "--precision=bfloat16", *files]} if bf16 else {}),
            }
            runs = {k: [] for k in systems}
            for _ in range(args.repeats):
                for key, cmd in systems.items():
                    runs[key].append(timed(cmd))
            # the tags: predict's taggram (its --timeline) against musicnn's
            with open(out_jsonl, "w") as out:
                timed(systems["predict"] + ["--timeline"], stdout=out)
            rows = [json.loads(line) for line in open(out_jsonl)]
            ref = np.load(ref_npz)
            tags = [line.strip() for line in open(os.path.join(os.path.expanduser(
                os.environ.get("TFMUSICTAG_HOME", "~/.cache/tfmusictag")), "pretrained", name, "tags.txt"))
                if line.strip()]
            worst = worst_track = 0.0
            for i, row in enumerate(rows):
                seg = np.array([[s["tags"][t] for t in tags] for s in row["timeline"]])
                taggram = ref[f"taggram_{i}"]
                assert seg.shape == taggram.shape, (row["path"], seg.shape, taggram.shape)
                worst = max(worst, float(np.abs(seg - taggram).max()))
                worst_track = max(worst_track, float(np.abs(seg.mean(0) - taggram.mean(0)).max()))
            precision = {}
            if bf16:  # bfloat16's tags against float32's (predict's own), per 3 s patch and per track
                low_jsonl = os.path.join(tmp, "bf16.jsonl")
                with open(low_jsonl, "w") as out:
                    timed(systems["predict --precision=bfloat16"] + ["--timeline"], stdout=out)
                patch = track = 0.0
                same_decisions = 0
                for row, low in zip(rows, (json.loads(line) for line in open(low_jsonl))):
                    a = np.array([[s["tags"][t] for t in tags] for s in row["timeline"]])
                    b = np.array([[s["tags"][t] for t in tags] for s in low["timeline"]])
                    patch = max(patch, float(np.abs(a - b).max()))
                    track = max(track, max(abs(row["tags"][t] - low["tags"][t]) for t in tags))
                    same_decisions += row["decided"] == low["decided"]
                precision = {"max_patch_difference": float(f"{patch:.2e}"), "max_track_difference": float(f"{track:.2e}"),
                             "tracks_with_the_same_decided_tags": f"{same_decisions}/{len(rows)}"}
            essentia_taggrams = {}
            if args.essentia_python:
                ess = np.load(os.path.join(tmp, "essentia.npz"))
                diffs, track_diffs = [], []
                for i in range(len(files)):
                    a, b = ess[f"taggram_{i}"], ref[f"taggram_{i}"]
                    n = min(len(a), len(b))  # Essentia's last patch: padded, where musicnn drops it
                    diffs.append(float(np.abs(a[:n] - b[:n]).max()))
                    track_diffs.append(float(np.abs(a[:n].mean(0) - b[:n].mean(0)).max()))
                essentia_taggrams["essentia"] = float(f"{max(diffs):.2e}")
                essentia_taggrams["essentia_track"] = float(f"{max(track_diffs):.2e}")
        base = statistics.median(s for s, _ in runs["musicnn"])
        entry = {}
        for key, values in runs.items():
            seconds = statistics.median(s for s, _ in values)
            entry[key] = {"seconds": round(seconds, 2), "peak_mb": round(statistics.median(m for _, m in values)),
                          "x_realtime": round(audio_seconds / seconds, 1),
                          "speed_vs_musicnn": round(base / seconds, 2), "all_seconds": [round(s, 2) for s, _ in values]}
        entry["musicnn"]["file_seconds"] = round(float(ref["seconds"].sum()), 2)  # its extractor calls alone
        entry["repeats"] = args.repeats
        entry["max_taggram_difference"] = float(f"{worst:.2e}")
        entry["max_track_tag_difference"] = float(f"{worst_track:.2e}")
        if "essentia" in essentia_taggrams:
            entry["essentia"]["max_taggram_difference"] = essentia_taggrams["essentia"]
            entry["essentia"]["max_track_tag_difference"] = essentia_taggrams["essentia_track"]
        if precision:
            entry["predict --precision=bfloat16"].update(precision)
        entry["default_kernels"] = default
        results[name] = entry
        print(json.dumps({name: entry}, indent=2), flush=True)

    if os.path.exists(args.output):  # models measured before (another --models) stay, unless measured now
        with open(args.output) as f:
            previous = json.load(f)
        if previous.get("files") == [os.path.basename(f) for f in files]:
            results = {**previous.get("models", {}), **results}
    save_result(args.output, {
        "what": "whole processes tagging the same files (start to exit), medians of alternating runs",
        "machine": machine(), "date": datetime.date.today().isoformat(),
        "files": [os.path.basename(f) for f in files], "audio_seconds": round(audio_seconds, 1),
        "repeats": args.repeats, "models": results,
        "note": "predict's taggram is rounded to 4 decimals in its JSON output",
    })


if __name__ == "__main__":
    main()
