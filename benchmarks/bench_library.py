"""The tagged library's costs: what the store adds to tagging, a rescan, search, similar tracks and
file-tag writing — measured as whole processes or whole calls, in one run, with the machine recorded.

* first tagging of a generated collection: ``python -m tfmusictag.library update`` against
  ``python -m tfmusictag.predict`` over the same files and model, alternating, medians
  (goal: the store's overhead ≤ 5 %);
* a rescan of an unchanged collection: ``update`` over files the store already holds (synthetic
  store rows for generated files), seconds per 1,000 files, the model's loading counted apart;
* search (``dark piano -vocals``-style queries, sorted, limited) at 100,000 synthetic tracks;
* similar tracks at 100,000 and 1,000,000 synthetic embeddings (the memory-mapped matrix; its
  rebuild after a change is timed apart);
* writing the tags into files (MP3, FLAC, Ogg), files per second.

Usage::

    python benchmarks/bench_library.py [--tracks 12] [--seconds 60] [--quick]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from _music import HERE, save_result  # noqa: E402

MODEL = "MTT_musicnn"


def collection(folder, tracks, seconds, sr=22050):
    """Generated music-like tracks (chords, a beat, noise), WAV/FLAC/Ogg/MP3 in turn."""
    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(tracks):
        t = np.arange(int(seconds * sr)) / sr
        root = 110 * 2 ** (rng.integers(0, 12) / 12)
        chord = sum(np.sin(2 * np.pi * root * r * t) for r in (1, 1.25, 1.5)) / 3
        beat = (np.sin(2 * np.pi * 60 * t) * np.exp(-((t * 2) % 1) * 20))
        wave = (0.3 * chord + 0.3 * beat + 0.02 * rng.normal(size=len(t))).astype(np.float32)
        ext, fmt, subtype = [("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_16"), ("ogg", "OGG", "VORBIS"),
                             ("mp3", "MP3", "MPEG_LAYER_III")][i % 4]
        path = os.path.join(folder, f"track{i:03d}.{ext}")
        with sf.SoundFile(path, "w", sr, 2, format=fmt, subtype=subtype) as f:
            stereo = np.stack([wave, wave], 1)
            for j in range(0, len(stereo), 1 << 15):
                f.write(stereo[j:j + (1 << 15)])
        paths.append(path)
    return paths


def timed(cmd, env):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{cmd}: {out.stderr[-2000:]}")
    return time.perf_counter() - t0


def first_tagging(work, tracks, seconds, repeats):
    music = os.path.join(work, "music")
    collection(music, tracks, seconds)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    predict, library = [], []
    for r in range(repeats):  # alternating, each with a fresh store
        predict.append(timed([sys.executable, "-m", "tfmusictag.predict", music, f"--model={MODEL}", "--top_k=0",
                              f"--output={os.path.join(work, 'tags.jsonl')}"], env))
        store = os.path.join(work, f"lib{r}.db")
        library.append(timed([sys.executable, "-m", "tfmusictag.library", "update", music, f"--model={MODEL}",
                              f"--library={store}"], env))
    p, s = statistics.median(predict), statistics.median(library)
    return {"tracks": tracks, "seconds_each": seconds, "predict_seconds": predict, "library_update_seconds": library,
            "overhead": round(s / p - 1, 4)}, music


def rescan(work, files):
    """A store holding ``files`` generated tiny files unchanged; ``update`` over them."""
    from tfmusictag.library import Store, update
    from tfmusictag.library.store import file_digest, model_digest
    from tfmusictag.serving import InferenceModel

    folder = os.path.join(work, "many")
    os.makedirs(folder, exist_ok=True)
    tiny = (np.sin(np.arange(1600) / 5) * 0.1).astype(np.float32)
    sf.write(os.path.join(folder, "f00000.wav"), tiny, 16000)
    for i in range(1, files):
        shutil.copy(os.path.join(folder, "f00000.wav"), os.path.join(folder, f"f{i:05d}.wav"))
    t0 = time.perf_counter()
    tagger = InferenceModel(MODEL)
    load = time.perf_counter() - t0
    store = Store(os.path.join(work, "rescan.db"))
    digest = model_digest(tagger.path)
    model_id = store.model_id(digest, MODEL, tagger.tags, "no decisions (probabilities only)", tagger.path)
    probs = np.zeros(len(tagger.tags), np.float32)
    record = {"duration_seconds": 0.1, "decided": None}
    sha = file_digest(os.path.join(folder, "f00000.wav"))
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        store.record(path, os.stat(path), sha, model_id, tagger.tags, record, probs)
    t0 = time.perf_counter()
    counts = update([folder], tagger, store)
    scan = time.perf_counter() - t0
    assert counts["unchanged"] == files and counts["tagged"] == 0, counts
    store.close()
    return {"files": files, "seconds": round(scan, 3), "seconds_per_1000_files": round(scan / files * 1000, 3),
            "model_load_seconds": round(load, 2)}


def synthetic_store(path, tracks, tags, dim, rng):
    """A store of ``tracks`` rows with random probabilities, decisions and embeddings."""
    from tfmusictag.library import Store

    store = Store(path)
    model_id = store.model_id("synthetic", "synthetic", tags, "thresholds fitted in training")
    t0 = time.perf_counter()
    with store.transaction() as db:
        for start in range(0, tracks, 10000):
            n = min(10000, tracks - start)
            probs = rng.beta(0.5, 2.0, size=(n, len(tags))).astype(np.float32)
            emb = rng.normal(size=(n, dim)).astype(np.float32)
            db.executemany("INSERT INTO tracks (id, path, size, mtime_ns, sha256, status, duration, updated) "
                           "VALUES (?, ?, 1, 1, 's', 'tagged', 200.0, 0)",
                           [(start + i + 1, f"/music/{start + i:07d}.mp3".encode()) for i in range(n)])
            db.executemany("INSERT INTO results (track, model, sha256, probabilities, embedding, decided, tagged) "
                           "VALUES (?, ?, 's', ?, ?, ?, 0)",
                           [(start + i + 1, model_id, probs[i].tobytes(), emb[i].tobytes(),
                             json.dumps([t for t, p in zip(tags, probs[i]) if p >= 0.5])) for i in range(n)])
            db.executemany("INSERT INTO tags (track, model, tag, probability, decided) VALUES (?, ?, ?, ?, ?)",
                           [(start + i + 1, model_id, t, float(probs[i, j]), int(probs[i, j] >= 0.5))
                            for i in range(n) for j, t in enumerate(tags)])
        store._bump(db)
    return store, time.perf_counter() - t0


def search_and_similar(work, tracks, dim, queries=20):
    from tfmusictag.library import search, similar
    from tfmusictag.library.similar import embedding_matrix
    from tfmusictag.pretrained.musicnn import MTT_LABELS

    rng = np.random.default_rng(1)
    tags = list(MTT_LABELS)
    store, build = synthetic_store(os.path.join(work, f"synthetic{tracks}.db"), tracks, tags, dim, rng)
    out = {"tracks": tracks, "embedding_dim": dim, "store_build_seconds": round(build, 1)}
    searches = {"piano -drums (sorted by piano, first 50)": ("piano -drums", "piano", 50),
                "guitar rock>0.3": ("guitar rock>0.3", None, None),
                "every track, sorted by techno, first 100": ("", "techno", 100)}
    for name, (q, sort, limit) in searches.items():
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            found = search(store, q, sort=sort, limit=limit)
            times.append(time.perf_counter() - t0)
        out[f"search: {name}"] = {"median_seconds": round(statistics.median(times), 4), "found": len(found)}
    t0 = time.perf_counter()
    embedding_matrix(store, store.latest_model()["id"])
    out["similar: matrix rebuild seconds"] = round(time.perf_counter() - t0, 2)
    times = []
    for i in range(queries):
        t0 = time.perf_counter()
        similar(store, rng.normal(size=dim).astype(np.float32), 10)
        times.append(time.perf_counter() - t0)
    out["similar: median seconds per query"] = round(statistics.median(times), 4)
    store.close()
    return out


def similar_at(work, tracks, dim, queries=20):
    """Query latency of the similar-track search over ``tracks`` embeddings (the cached matrix
    written directly: a store of a million rows is not built for this figure)."""
    from tfmusictag.library import Store, similar

    rng = np.random.default_rng(2)
    store = Store(os.path.join(work, f"similar{tracks}.db"))
    model_id = store.model_id("synthetic", "synthetic", ["a"], "no decisions (probabilities only)")
    with store.transaction() as db:
        db.execute("INSERT INTO tracks (id, path, size, mtime_ns, sha256, status, updated) "
                   "VALUES (1, ?, 1, 1, 's', 'tagged', 0)", (b"/music/0.mp3",))
        store._bump(db)
    base = f"{store.path}.embeddings-{model_id}"
    matrix = np.lib.format.open_memmap(base + ".npy", mode="w+", dtype=np.float32, shape=(tracks, dim))
    for start in range(0, tracks, 100000):
        block = rng.normal(size=(min(100000, tracks - start), dim)).astype(np.float32)
        matrix[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    matrix.flush()
    del matrix
    np.save(base + ".ids.npy", np.ones(tracks, np.int64))  # every row the one stored track: paths resolve
    with open(base + ".json", "w") as f:
        json.dump({"revision": store.revision()}, f)
    times = []
    for _ in range(queries):
        t0 = time.perf_counter()
        similar(store, rng.normal(size=dim).astype(np.float32), 10)
        times.append(time.perf_counter() - t0)
    store.close()
    return {"tracks": tracks, "embedding_dim": dim, "median_seconds_per_query": round(statistics.median(times), 4),
            "max_seconds_per_query": round(max(times), 4)}


def file_tags(work, music):
    from tfmusictag.library import Store, search, update
    from tfmusictag.library.filetags import write_tags

    store = Store(os.path.join(work, "lib0.db"))
    update([music], MODEL, store)
    tracks = search(store)
    t0 = time.perf_counter()
    reports = write_tags(store, tracks, probabilities=True)
    seconds = time.perf_counter() - t0
    assert not [r for r in reports if "error" in r], reports
    store.close()
    return {"files": len(tracks), "seconds": round(seconds, 2), "files_per_second": round(len(tracks) / seconds, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run; not written to results)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "library.json"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench_library-")
    try:
        if args.quick:
            args.tracks, args.seconds, args.repeats = 4, 10.0, 1
        result = {"model": MODEL}
        result["first_tagging"], music = first_tagging(work, args.tracks, args.seconds, args.repeats)
        print(json.dumps(result["first_tagging"]), flush=True)
        result["rescan"] = rescan(work, 200 if args.quick else 10000)
        print(json.dumps(result["rescan"]), flush=True)
        result["search_100k"] = search_and_similar(work, 2000 if args.quick else 100000, 200)
        print(json.dumps(result["search_100k"]), flush=True)
        result["similar_1m"] = similar_at(work, 20000 if args.quick else 1000000, 200)
        print(json.dumps(result["similar_1m"]), flush=True)
        result["file_tags"] = file_tags(work, music)
        print(json.dumps(result["file_tags"]), flush=True)
        if not args.quick:
            save_result(args.out, result)
            print(f"wrote {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
