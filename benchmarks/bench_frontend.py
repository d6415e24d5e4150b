"""File → log-mel throughput and memory: tfmusictag against librosa, in one run.

What a user would otherwise write (the reference)::

    y, _ = librosa.load(path, sr=12000)                       # soundfile + soxr_hq, mono
    S = librosa.feature.melspectrogram(y=y, sr=12000, n_fft=512, hop_length=256,
                                       window="hamming", n_mels=96, htk=True, norm=None)
    X = np.log(np.maximum(S, 1e-10))

against tfmusictag's ``tf.data`` pipeline: ``audio.audio_dataset`` (parallel blockwise decode and
resample) → ``LogMelSpectrogram`` in the graph, the same parameters (Table 4.1 of the thesis).

Data: real full-length recordings from Debian's ``wesnoth-1.16-music`` (fetched, never committed).
Throughput is audio seconds per wall second, median of ``--repeats`` alternating runs, after a
warm-up run of each (file cache and JIT warm). Memory: peak resident set size of a fresh process
that turns one 60-minute 44.1 kHz stereo FLAC file into a log-mel spectrogram, with the resident
size after imports (the libraries' own footprint) shown alongside.

Usage::

    python benchmarks/bench_frontend.py [--max_tracks N] [--repeats 3] [--json results.json]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from _music import HERE, fetch, save_result, total_seconds  # noqa: E402

MEL = dict(sr=12000, n_fft=512, hop_length=256, window="hamming", n_mels=96, htk=True, norm=None)


def run_librosa(files):
    import librosa

    for f in files:
        y, _ = librosa.load(f, sr=12000)
        np.log(np.maximum(librosa.feature.melspectrogram(y=y, **MEL), 1e-10))


def make_tfmusictag_runner():
    import tensorflow as tf

    from tfmusictag import audio

    from tfmusictag.audio import tfdata
    from tfmusictag.frontend import LogMelSpectrogram

    layer = LogMelSpectrogram()
    log_mel = tf.function(lambda a: layer(a[None])[0], input_signature=[tf.TensorSpec([None], tf.float32)])

    def run(files):
        ds = tfdata.audio_dataset(files).map(lambda x: log_mel(x["audio"]), num_parallel_calls=audio.usable_cores())
        for _ in ds.prefetch(2):
            pass

    return run


def decode_only(files, which):
    if which == "librosa":
        import librosa

        for f in files:
            librosa.load(f, sr=12000)
    else:
        from tfmusictag import audio

        for f in files:
            audio.load(f)


MEMORY_SCRIPT = r"""
import os, resource, sys, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
def rss_mb():  # current resident set size
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
which, path = sys.argv[1], sys.argv[2]
if which == "librosa":
    import librosa
    base = rss_mb()
    y, _ = librosa.load(path, sr=12000)
    X = np.log(np.maximum(librosa.feature.melspectrogram(y=y, **%(mel)r), 1e-10)).T
else:
    import tensorflow as tf
    from tfmusictag import audio
    from tfmusictag.frontend import LogMelSpectrogram
    layer = LogMelSpectrogram()
    layer(np.zeros((1, 12000), np.float32))
    base = rss_mb()
    X = layer(audio.load(path)[None])[0].numpy()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"after_imports_mb": base, "peak_mb": peak, "frames": int(X.shape[0])}))
""" % {"mel": MEL}


def make_long_file(files, minutes=60.0):
    """Concatenate real tracks into one ``minutes``-long 44.1 kHz stereo FLAC file (cached)."""
    import soundfile as sf

    path = os.path.join(HERE, "_work", f"concatenated_{int(minutes)}min.flac")
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    need = int(minutes * 60 * 44100)
    with sf.SoundFile(path + ".tmp", "w", 44100, 2, format="FLAC", subtype="PCM_16") as out:
        while need > 0:
            for f in files:
                with sf.SoundFile(f) as src:
                    assert src.samplerate == 44100 and src.channels == 2, f
                    for block in src.blocks(blocksize=1 << 16, dtype="float32"):
                        block = block[:need]
                        out.write(block)
                        need -= len(block)
                        if need <= 0:
                            break
                if need <= 0:
                    break
    os.replace(path + ".tmp", path)
    return path


def peak_memory(which, path):
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, which, path], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max_tracks", type=int, default=0, help="use at most N tracks (0: all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=os.path.join(HERE, "results", "frontend.json"))
    ap.add_argument("--skip_memory", action="store_true")
    args = ap.parse_args()

    files = fetch()
    if args.max_tracks:
        files = files[: args.max_tracks]
    seconds = total_seconds(files)
    print(f"{len(files)} tracks, {seconds / 60:.1f} min of audio, {os.cpu_count()} cores")

    runners = {"librosa": run_librosa, "tfmusictag": make_tfmusictag_runner()}
    for run in runners.values():  # warm-up: file cache, numba, graph tracing
        run(files[:2])
    times = {k: [] for k in runners}
    for _ in range(args.repeats):
        for name, run in runners.items():
            t = time.perf_counter()
            run(files)
            times[name].append(time.perf_counter() - t)
    speed = {k: seconds / statistics.median(v) for k, v in times.items()}

    decode = {}
    for which in ("librosa", "tfmusictag"):
        t = time.perf_counter()
        decode_only(files, which)
        decode[which] = seconds / (time.perf_counter() - t)

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "tracks": len(files),
        "audio_minutes": round(seconds / 60, 1),
        "file_to_logmel_x_realtime": {k: round(v, 1) for k, v in speed.items()},
        "ratio_tfmusictag_over_librosa": round(speed["tfmusictag"] / speed["librosa"], 2),
        "decode_only_single_process_x_realtime": {k: round(v, 1) for k, v in decode.items()},
        "runs_seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
    }
    if not args.skip_memory:
        long_file = make_long_file(files)
        result["memory_60min_flac_44k_stereo"] = {w: peak_memory(w, long_file) for w in ("librosa", "tfmusictag")}

    print(json.dumps(result, indent=2))
    print("\n| pipeline | file → log-mel (× real time) | decode only, 1 process (× real time) |")
    print("|---|---|---|")
    for k in ("librosa", "tfmusictag"):
        print(f"| {k} | {speed[k]:.0f} | {decode[k]:.0f} |")
    print(f"\nratio tfmusictag / librosa: {result['ratio_tfmusictag_over_librosa']:.2f}×")
    if "memory_60min_flac_44k_stereo" in result:
        for k, m in result["memory_60min_flac_44k_stereo"].items():
            print(f"60-min track, {k}: peak RSS {m['peak_mb']:.0f} MB "
                  f"({m['peak_mb'] - m['after_imports_mb']:.0f} MB above the {m['after_imports_mb']:.0f} MB after imports)")
    save_result(args.json, result)


if __name__ == "__main__":
    main()
