"""File → MagnaTagATune tags: tfmusictag's converted MTT_musicnn against the original musicnn.

Both tag the same whole real recordings (the three longest tracks of Debian's
``wesnoth-1.16-music``, 6–9 min, Ogg Vorbis 44.1 kHz stereo), in one run:

* the original: ``musicnn.extractor.extractor(file, model='MTT_musicnn')`` per file, in musicnn's
  own virtual environment (``--musicnn_python``; ``make musicnn-reference`` builds it),
  timed per call inside that process. musicnn rebuilds its graph on every call; that fixed cost
  (timed on a 3 s clip) is reported, and a ratio without it too;
* tfmusictag: ``predict_files(files, 'MTT_musicnn', timeline=True)`` — parallel decoding, the
  front end and the model, including loading the model, timed in this process;
* the outputs: the largest difference between the two taggrams over every patch of every file.

Runs alternate (ours, original, ours, original); the best of each is kept.

Usage::

    make musicnn-reference      # builds .venv-musicnn (or: make bench, which runs this script)
    .venv/bin/python benchmarks/bench_musicnn.py --musicnn_python .venv-musicnn/bin/python
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from _music import HERE, fetch, save_result, total_seconds  # noqa: E402


def run_original(python, model, files):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ref.npz")
        subprocess.run([python, os.path.join(HERE, "_musicnn_worker.py"), model, out, *files], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
        r = np.load(out)
        return float(r["seconds"].sum()), float(r["fixed_seconds"]), [r[f"taggram_{i}"] for i in range(len(files))]


def run_ours(model, files):
    from tfmusictag.cli.predict import predict_files

    out = io.StringIO()
    t = time.perf_counter()
    ok, failed = predict_files(files, model, out, top_k=0, timeline=True)
    seconds = time.perf_counter() - t
    assert (ok, failed) == (len(files), 0)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    return seconds, rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--musicnn_python", required=True, help="python of a venv with musicnn 0.1.0 installed")
    p.add_argument("--model", default="MTT_musicnn")
    p.add_argument("--tracks", type=int, default=3)
    p.add_argument("--output", default=os.path.join(HERE, "results", "musicnn.json"))
    args = p.parse_args()

    from tfmusictag import pretrained

    files = sorted(fetch(), key=lambda f: -sf.info(f).duration)[:args.tracks]
    audio_seconds = total_seconds(files)
    pretrained.convert(args.model)  # conversion is a one-off; not timed
    ours, orig = [], []
    for _ in range(2):
        ours.append(run_ours(args.model, files))
        orig.append(run_original(args.musicnn_python, args.model, files))
    ours_s, rows = min(ours, key=lambda r: r[0])
    orig_s, fixed, taggrams = min(orig, key=lambda r: r[0])

    tags = list(pretrained.load(args.model).tags)
    worst = 0.0
    for row, ref in zip(rows, taggrams):
        seg = np.array([[s["tags"][t] for t in tags] for s in row["timeline"]])
        n = min(len(seg), len(ref))
        assert abs(len(seg) - len(ref)) == 0, (row["path"], len(seg), len(ref))
        worst = max(worst, float(np.abs(seg[:n] - ref[:n]).max()))

    result = {
        "model": args.model, "files": [os.path.basename(f) for f in files], "audio_seconds": round(audio_seconds, 1),
        "cores": os.cpu_count(),
        "musicnn_seconds": round(orig_s, 2), "musicnn_fixed_seconds_per_call": round(fixed, 2),
        "tfmusictag_seconds": round(ours_s, 2),
        "musicnn_x_realtime": round(audio_seconds / orig_s, 1),
        "tfmusictag_x_realtime": round(audio_seconds / ours_s, 1),
        "speedup": round(orig_s / ours_s, 2),
        "speedup_without_musicnn_fixed_cost": round((orig_s - fixed * len(files)) / ours_s, 2),
        "max_taggram_difference": float(f"{worst:.2e}"),
        "note": "taggram values are rounded to 4 decimals in predict's JSON output",
    }
    print(json.dumps(result, indent=2))
    save_result(args.output, result)


if __name__ == "__main__":
    main()
