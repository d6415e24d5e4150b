"""Tagging throughput against decode-only throughput, and peak memory on a 60-minute track.

``python -m tfmusictag.predict`` decodes on all cores inside ``tf.data`` while the model tags the
previous track. This script measures, in one run, on real full-length recordings (Debian's
``wesnoth-1.16-music``, fetched, never committed):

* decode-only: the same parallel decoder (``audio.audio_dataset``) with no model;
* tagging: ``predict_files`` with an exported SavedModel (thesis front end, MFCC + BoF);
* their ratio (goal ≥ 0.8: tagging costs little beyond decoding);
* peak resident memory of ``python -m tfmusictag.predict`` on one 60-minute 44.1 kHz stereo file.

The SavedModel is ``--model`` or, if absent, a small one trained here on ``demo_catalog/tiny``.

Usage::

    python benchmarks/bench_predict.py [--model saved_models/demo_tagger/1] [--max_tracks N]
"""

import argparse
import io
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _music import HERE, fetch, save_result, total_seconds  # noqa: E402


def ensure_model(path):
    if path:
        return path
    work = os.path.join(HERE, "_work")
    target = os.path.join(work, "saved_models", "bench_tagger", "1")
    if os.path.exists(target):
        return target
    from tfmusictag.serving import export_saved_model
    from tfmusictag.pretrained import load_model as load_trained
    from tfmusictag.rundir import RunDir
    from tfmusictag.training import TrainConfig, train

    run = os.path.join(work, "bench_run")
    cfg = TrainConfig(dataset="demo_catalog/tiny", data_dir=os.path.join(work, "tfds"), variant="mfcc_bof",
                      steps=20, batch_size=4).with_overrides(
        {"model.temporal.bof.num_clusters": 64, "model.classifier.hidden": 64})
    train(cfg, run, resume=RunDir(run).has_run(), progress=False)
    return export_saved_model(load_trained(run), os.path.join(work, "saved_models"), "bench_tagger", version=1)


# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec(), so a child of a big parent would
# report the parent's size; VmHWM belongs to the new address space.
PEAK_SCRIPT = """
import atexit, runpy, sys
def peak():
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
    sys.stderr.write("PEAK_RSS_MB %f\\n" % (int(hwm) / 1024))
atexit.register(peak)
sys.argv = ["tfmusictag.predict", sys.argv[1], "--model=" + sys.argv[2]]
runpy.run_module("tfmusictag.predict", run_name="__main__")
"""


def peak_rss_of_predict(path, model):
    """Peak resident memory (MB) of ``python -m tfmusictag.predict path`` as the process reports it."""
    err = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, path, model], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, check=True).stderr
    return float(err.rsplit("PEAK_RSS_MB", 1)[1].split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--max_tracks", type=int, default=0)
    ap.add_argument("--json", default=os.path.join(HERE, "results", "predict.json"))
    args = ap.parse_args()

    from tfmusictag.audio import tfdata
    from tfmusictag.cli.predict import predict_files

    files = fetch()
    if args.max_tracks:
        files = files[: args.max_tracks]
    seconds = total_seconds(files)
    model = ensure_model(args.model)
    print(f"{len(files)} tracks, {seconds / 60:.1f} min; model {model}", flush=True)

    predict_files(files[:2], model, io.StringIO())  # warm-up: graph, file cache
    decode_runs, tag_runs = [], []
    for _ in range(2):  # alternate, keep the best of each: robust to a busy neighbour
        t = time.perf_counter()
        for _ in tfdata.audio_dataset(files).prefetch(1):
            pass
        decode_runs.append(seconds / (time.perf_counter() - t))
        t = time.perf_counter()
        ok, failed = predict_files(files, model, io.StringIO())
        tag_runs.append(seconds / (time.perf_counter() - t))
        assert ok == len(files) and not failed
    decode, tagging = max(decode_runs), max(tag_runs)

    from bench_frontend import make_long_file

    long_file = make_long_file(files)
    peaks = [peak_rss_of_predict(long_file, model) for _ in range(3)]
    result = {"tracks": len(files), "audio_minutes": round(seconds / 60, 1),
              "decode_only_x_realtime": round(decode, 1), "tagging_x_realtime": round(tagging, 1),
              "tagging_over_decode": round(tagging / decode, 3),
              "peak_rss_mb_60min_track": {"median": round(sorted(peaks)[1]), "runs": [round(p) for p in peaks]}}
    print(json.dumps(result, indent=2))
    save_result(args.json, result)


if __name__ == "__main__":
    main()
