"""The catalog page at 100,000 tracks: how long it takes to write, how big it is, and how fast it
answers in a real browser (Debian's Chromium, headless, driven by Selenium) — load, filter by tags,
search by name, sort by a tag, turn a page, open a taggram — with the machine recorded.

The store is generated (the page reads only the store): MagnaTagATune's 50 tags with skewed
probabilities and decisions, paths of the usual ``artist/album/NN title.flac`` shape, lengths
of 2–7 minutes and a taggram per track of one column per 3 s (musicnn's patches). Every
interaction is timed inside the page (``performance.now()`` around the synchronous work: the
filter or sort over all tracks and the drawing of the page of rows), five times, medians.

Usage::

    python benchmarks/bench_catalog_page.py [--tracks 100000]
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from _music import HERE, save_result  # noqa: E402


def generated_store(path, tracks, rng):
    from tfmusictag.library import Store
    from tfmusictag.pretrained.musicnn import MTT_LABELS

    tags = list(MTT_LABELS)
    store = Store(path)
    model_id = store.model_id("generated", "MTT_musicnn", tags, "expected F1 per track (a label-free rule)")
    with store.transaction() as db:
        for start in range(0, tracks, 5000):
            n = min(5000, tracks - start)
            probs = rng.beta(0.4, 2.5, size=(n, len(tags))).astype(np.float32)
            durations = rng.uniform(120, 420, n)
            rows_t, rows_r = [], []
            for i in range(n):
                k = start + i
                columns = int(durations[i] // 3)
                walk = np.clip(probs[i] + np.cumsum(rng.normal(0, 0.03, (columns, len(tags))), 0), 0, 1)
                rows_t.append((k + 1, f"/music/Artist {k // 120:04d}/Album {k // 12 % 10}/{k % 12 + 1:02d} "
                                      f"Track number {k:06d}.flac".encode(), float(durations[i])))
                decided = [tags[j] for j in np.argsort(-probs[i]) if probs[i, j] > 0.45]
                rows_r.append((k + 1, model_id, probs[i].tobytes(), json.dumps(decided),
                               np.round(walk * 255).astype(np.uint8).tobytes()))
            db.executemany("INSERT INTO tracks (id, path, size, mtime_ns, sha256, status, duration, updated) "
                           "VALUES (?, ?, 1, 1, 's', 'tagged', ?, 0)", rows_t)
            db.executemany("INSERT INTO results (track, model, sha256, probabilities, decided, tagged, taggram, "
                           "taggram_seconds) VALUES (?, ?, 's', ?, ?, 0, ?, 3.0)", rows_r)
    return store


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--enable-precise-memory-info"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def timed(driver, script, repeats=5):
    """Median milliseconds of a synchronous action inside the page."""
    return round(statistics.median(driver.execute_script(
        f"const t = performance.now(); {script}; return performance.now() - t;") for _ in range(repeats)), 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--output", default=os.path.join(HERE, "results", "catalog_page.json"))
    args = parser.parse_args()
    from tfmusictag.library.page import write_page

    work = tempfile.mkdtemp(prefix="bench_catalog_")
    try:
        t0 = time.perf_counter()
        store = generated_store(os.path.join(work, "library.db"), args.tracks, np.random.default_rng(0))
        generate = time.perf_counter() - t0
        t0 = time.perf_counter()
        written = write_page(store, os.path.join(work, "catalog"))
        write_seconds = time.perf_counter() - t0
        index_bytes = os.path.getsize(written["index"])
        store.close()

        driver = browser()
        try:
            loads = []
            for _ in range(3):
                t0 = time.perf_counter()
                driver.get("file://" + written["index"])
                while not driver.execute_script("return !!(window.tfmusictag && window.tfmusictag.ready)"):
                    time.sleep(0.01)
                loads.append((time.perf_counter() - t0) * 1000)
            inside = driver.execute_script("return window.tfmusictag.timings.load_ms")
            heap = driver.execute_script("return performance.memory ? performance.memory.usedJSHeapSize : null")
            q, name, sort = ("document.getElementById('query')", "document.getElementById('name')",
                             "document.getElementById('sort')")
            update = "window.tfmusictag.update()"
            results = {
                "filter_by_tags_ms": timed(driver, f"{q}.value = 'guitar -vocals'; {update}; {q}.value = ''; {update}") / 2,
                "filter_probability_cut_ms": timed(driver, f"{q}.value = 'techno>0.3 fast'; {update}"),
                "name_search_ms": timed(driver, f"{q}.value = ''; {name}.value = '0042'; {update}; {name}.value = ''; "
                                                f"{update}") / 2,
                "sort_by_tag_ms": timed(driver, f"{sort}.value = 'tag:3'; {update}; {sort}.value = 'path'; {update}") / 2,
                "next_page_ms": timed(driver, "document.getElementById('next').click()"),
                "matches_after_guitar_minus_vocals": driver.execute_script(
                    f"{q}.value = 'guitar -vocals'; {update}; return window.tfmusictag.state.matches.length"),
            }
            driver.execute_script(f"{q}.value = ''; {update}")
            opens = []
            for track in (7, args.tracks // 2, args.tracks - 1):  # first, middle and last taggram chunk
                opens.append(driver.execute_async_script(
                    "const done = arguments[arguments.length - 1], t = performance.now();"
                    f"window.tfmusictag.openTaggram({track}).then(() => done(performance.now() - t));"))
            results["taggram_open_ms"] = [round(x, 1) for x in opens]
            results["taggram_open_again_ms"] = round(driver.execute_async_script(
                "const done = arguments[arguments.length - 1], t = performance.now();"
                f"window.tfmusictag.openTaggram({args.tracks // 2}).then(() => done(performance.now() - t));"), 1)
            version = driver.capabilities.get("browserVersion")
        finally:
            driver.quit()
        taggram_bytes = sum(os.path.getsize(os.path.join(work, "catalog", "taggrams", f))
                            for f in os.listdir(os.path.join(work, "catalog", "taggrams")))
        result = {
            "tracks": args.tracks, "tags": 50, "generate_store_seconds": round(generate, 1),
            "write_page_seconds": round(write_seconds, 1), "index_html_mb": round(index_bytes / 1e6, 1),
            "taggram_files_mb": round(taggram_bytes / 1e6, 1),
            "load_ms_median": round(statistics.median(loads)), "load_ms_inside_page": round(inside),
            "js_heap_mb": None if heap is None else round(heap / 1e6, 1), **results,
            "browser": f"Chromium {version} (Debian), headless",
        }
        save_result(args.output, result)
        print(json.dumps(result, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
