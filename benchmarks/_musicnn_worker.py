"""Run the ORIGINAL musicnn on files, timing each call; for bench_musicnn.py (runs in musicnn's venv).

Usage: <musicnn venv>/bin/python benchmarks/_musicnn_worker.py [--whole] MODEL OUT.npz FILE [FILE ...]
Writes every file's taggram and the seconds each ``extractor()`` call took, plus the seconds of a
call on a 3 s clip (musicnn rebuilds and restores its graph on every call: its fixed cost).
``--whole``: what a user's process does, one warm-up call on the clip and then the files (the
fixed cost is not measured separately).
"""

import os
import sys
import tempfile
import time

import numpy as np


def main(model, out, paths, whole=False):
    import soundfile as sf
    from musicnn.extractor import extractor

    with tempfile.TemporaryDirectory() as tmp:  # warm-up and fixed cost: a 3.1 s clip
        clip = os.path.join(tmp, "clip.wav")
        sf.write(clip, np.random.RandomState(0).uniform(-0.1, 0.1, 16000 * 31 // 10).astype("float32"), 16000)
        extractor(clip, model=model, extract_features=False)
        fixed = float("nan")
        if not whole:
            t = time.perf_counter()
            extractor(clip, model=model, extract_features=False)
            fixed = time.perf_counter() - t
    arrays, seconds = {}, []
    for i, path in enumerate(paths):
        t = time.perf_counter()
        taggram, _ = extractor(path, model=model, extract_features=False)
        seconds.append(time.perf_counter() - t)
        arrays[f"taggram_{i}"] = np.asarray(taggram, np.float32)
    np.savez(out, seconds=np.array(seconds), fixed_seconds=np.array(fixed), **arrays)


if __name__ == "__main__":
    whole = sys.argv[1] == "--whole"
    args = sys.argv[2:] if whole else sys.argv[1:]
    main(args[0], args[1], args[2:], whole)
