"""Peak memory of ``python -m tfmusictag.predict`` per model and track length, beside the original musicnn.

Each measurement is a fresh process's peak resident set (``ru_maxrss`` from ``wait4``, what
``/usr/bin/time`` reports): TensorFlow's own runtime (about 0.7 GB here just to import it), the
loaded model, the decoder and the model's activations. ``tracemalloc`` would see none of those.

Inputs: one track of each length in ``--minutes`` (a real recording from Debian's
``wesnoth-1.16-music`` repeated to the length, Ogg Vorbis at 44.1 kHz stereo), and the four
longest recordings of that package together (one call, several tracks). Models: an exported
MFCC + Bag-of-Frames tagger sized like the demo's (``Z = H = 128``), and the converted pretrained
models whose weights are present (``MTT_musicnn``, ``MTT_vgg``, ``choi2016_cnn``, ...). With
``--musicnn_python`` (``make musicnn-reference`` builds that environment) the original musicnn
runs on the same files for the comparison.

Usage::

    .venv/bin/python benchmarks/bench_memory.py [--minutes 10 60] [--musicnn_python .venv-musicnn/bin/python]

Writes ``benchmarks/results/memory.json``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _music import fetch  # noqa: E402

WORK = os.path.join(HERE, "_work", "memory")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def peak_mb(cmd, env=ENV):
    """(peak resident MB, seconds, exit status) of one subprocess, launched from a small process:
    Linux would otherwise count this process's own memory (TensorFlow is loaded here) in the child's
    peak (``_peak_rss.py``)."""
    import time

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, os.path.join(HERE, "_peak_rss.py"), os.path.join(tmp, "rss"), *cmd],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - t
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return None, round(seconds, 1), out.returncode
        with open(os.path.join(tmp, "rss")) as f:
            return round(int(f.read()) / 1024, 1), round(seconds, 1), 0


def long_track(source, minutes):
    """``source`` repeated to ``minutes``, Ogg Vorbis, written block by block."""
    path = os.path.join(WORK, f"long{minutes:g}min.ogg")
    if os.path.exists(path):
        return path
    y, sr = sf.read(source, dtype="float32", always_2d=True)
    n = int(minutes * 60 * sr)
    with sf.SoundFile(path + ".tmp", "w", sr, y.shape[1], "VORBIS", format="OGG") as f:
        done = 0
        while done < n:
            block = y[: min(len(y), n - done)]
            for i in range(0, len(block), 1 << 15):
                f.write(block[i:i + (1 << 15)])
            done += len(block)
    os.replace(path + ".tmp", path)
    return path


def models(names=None):
    """``{label: --model value}``: the demo-sized MFCC + BoF tagger (exported) and the pretrained models
    (``names``: only these)."""
    from tfmusictag import pretrained
    from tfmusictag.rundir import RunDir
    from tfmusictag.serving import export_saved_model
    from tfmusictag.training import TrainConfig, train

    out = {}
    run = os.path.join(WORK, "run_mfcc_bof")
    if not RunDir(run).is_model():
        train(TrainConfig(dataset="demo_catalog/tiny", data_dir=os.path.join(WORK, "tfds"), variant="mfcc_bof", steps=5,
                          batch_size=4)
              .with_overrides({"model.temporal.bof.num_clusters": 128, "model.classifier.hidden": 128,
                               "model.temporal.bof.epochs": 1}), run, progress=False)
    exported = os.path.join(WORK, "saved_models", "demo_tagger")
    out["exported MFCC + BoF (demo size)"] = (
        os.path.join(exported, "1") if os.path.isdir(os.path.join(exported, "1"))
        else export_saved_model(pretrained.load_model(run), os.path.join(WORK, "saved_models"), "demo_tagger", 1))
    for name in pretrained.names():
        if names and name not in names:
            continue
        try:
            pretrained.convert(name)
        except Exception as exc:  # noqa: BLE001 - weights not downloaded: left out, said why
            print(f"skipping {name}: {exc}", file=sys.stderr)
            continue
        out[name] = name
    return out


ORIGINAL = """
import sys
from musicnn.extractor import extractor
for path in sys.argv[2:]:
    extractor(path, model=sys.argv[1], extract_features=False)
"""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    p.add_argument("--musicnn_python", default=None, help="python of a venv with musicnn 0.1.0 (optional)")
    p.add_argument("--models", nargs="*", default=None, help="pretrained models to measure (default: all present)")
    p.add_argument("--json", default=os.path.join(HERE, "results", "memory.json"))
    args = p.parse_args()
    os.makedirs(WORK, exist_ok=True)
    files = sorted(fetch(), key=lambda f: -sf.info(f).duration)
    inputs = {f"one {m:g}-min track": [long_track(files[0], m)] for m in args.minutes}
    inputs[f"{len(files[:4])} tracks, {sum(sf.info(f).duration for f in files[:4]) / 60:.1f} min"] = files[:4]
    results = []
    for label, model in models(args.models).items():
        for what, paths in inputs.items():
            mb, seconds, code = peak_mb([sys.executable, "-m", "tfmusictag.predict", *paths, f"--model={model}"])
            results.append({"system": "tfmusictag", "model": label, "input": what, "peak_mb": mb,
                            "seconds": seconds, "exit": code})
            print(json.dumps(results[-1]), flush=True)
    if args.musicnn_python:
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(ORIGINAL)
        for model in ("MTT_musicnn", "MTT_vgg"):
            for what, paths in inputs.items():
                mb, seconds, code = peak_mb([args.musicnn_python, f.name, model, *paths])
                results.append({"system": "original musicnn 0.1.0", "model": model, "input": what, "peak_mb": mb,
                                "seconds": seconds, "exit": code})
                print(json.dumps(results[-1]), flush=True)
    import tensorflow as tf

    with open(args.json, "w") as f:
        json.dump({"machine": f"{os.cpu_count()} cores", "tensorflow": tf.__version__,
                   "import_tensorflow_mb": peak_mb([sys.executable, "-c", "import tensorflow"])[0],
                   "results": results}, f, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
