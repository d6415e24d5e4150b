"""The catalog page (:mod:`tfmusictag.library.page`) in a real browser: Debian's Chromium driven by
Selenium, the page opened from disk — filtered, sorted, searched, a taggram opened and its pixels
read, the playlist compared with ``library search --format=m3u``, the empty states, and a
screenshot that must not be blank.

``make test`` installs ``chromium`` and ``chromium-driver`` and sets ``TFMUSICTAG_BROWSER=required``:
there a missing browser fails these tests; elsewhere (a machine without Debian's packages) they
are skipped with the reason.
"""

import base64
import io
import json
import os
import shutil
import sqlite3
import time

import numpy as np
import pytest

from conftest import tone, write_audio
from support import run_module

pytest.importorskip("selenium")

TAGS = ("calm", "dark", "piano", "vocals", "female vocals")
THRESHOLDS = (0.5, 0.45, 0.55, 0.5, 0.5)
#: (name, seconds, frequency): odd names (markup, a newline, bytes that are not UTF-8) and a track
#: long enough for a taggram of several columns
FILES = [("calm/one.wav", 4, 220.0), ("calm/<img src=x onerror=alert(1)>.wav", 4, 330.0),
         ("long.flac", 95, 440.0), ("new\nline.ogg", 5, 550.0), (b"latin1-\xe9t\xe9.wav", 4, 660.0),
         ("noise.wav", 6, None)]


def _chromium():
    for browser, driver in (("/usr/bin/chromium", "/usr/bin/chromedriver"),
                            (shutil.which("chromium") or "", shutil.which("chromedriver") or "")):
        if os.path.exists(browser) and os.path.exists(driver):
            return browser, driver
    return None


@pytest.fixture(scope="module")
def browser():
    found = _chromium()
    if found is None:
        message = "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("TFMUSICTAG_BROWSER") == "required":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A collection tagged by ``library update`` with a tiny model (MFCC, mean), and its page."""
    from tfmusictag.library import Store, update
    from tfmusictag.library.page import write_page
    from tfmusictag.reduction import ReductionConfig
    from tfmusictag.rundir import write_model_dir
    from tfmusictag.tagger import TaggerConfig, TrackTagger
    from tfmusictag.temporal import TemporalConfig
    from tfmusictag.training.determinism import seeded

    root = tmp_path_factory.mktemp("catalog")
    config = TaggerConfig(tags=TAGS, reduction=ReductionConfig(type="mfcc"), temporal=TemporalConfig(type="mean"),
                          thresholds=THRESHOLDS)
    with seeded(0, deterministic=False):  # the same weights, so the same decided tags, in every run
        tagger = TrackTagger(config)
        tagger.build()
    model = write_model_dir(tagger, str(root / "model"))
    music = os.path.join(str(root), "music")
    rng = np.random.default_rng(0)
    for name, seconds, freq in FILES:
        path = os.path.join(os.fsencode(music), os.fsencode(name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        ext = os.path.splitext(os.fsdecode(path))[1]
        y = (tone(freq, seconds, 16000) if freq else 0.3 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
        plain = os.path.join(music, f".writing{ext}")
        write_audio(plain, y, 16000, *{".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"),
                                       ".ogg": ("OGG", "VORBIS")}[ext])
        os.rename(plain, path)
    store = Store(str(root / "library.db"))
    counts = update([music], model, store)
    assert counts["tagged"] == len(FILES), counts
    written = write_page(store, str(root / "page"))
    yield {"store": store, "page": written["index"], "root": root, "written": written, "model": model}
    store.close()


def _open(driver, index):
    driver.get("file://" + index)
    for _ in range(100):
        if driver.execute_script("return !!(window.tfmusictag && window.tfmusictag.ready)"):
            return
        time.sleep(0.05)
    raise AssertionError(f"the page never became ready; console: {driver.get_log('browser')}")


def _type(driver, element_id, text):
    box = driver.find_element("id", element_id)
    box.clear()
    box.send_keys(text)
    driver.execute_script("arguments[0].dispatchEvent(new Event('input'))", box)
    # the page filters 120 ms after the last key: a 150 ms timer set now fires after that filter,
    # however busy the machine (timers run in the order of their deadlines)
    driver.execute_async_script("setTimeout(arguments[arguments.length - 1], 150)")


def _count(driver):
    return int(driver.find_element("id", "counts").get_attribute("data-matches"))


def _titles(driver):
    return [e.text for e in driver.find_elements("css selector", "tbody tr .title")]


def _severe(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_the_page_lists_every_track_with_its_decided_tags_names_as_text(browser, library):
    from tfmusictag.library import search

    _open(browser, library["page"])
    expected = search(library["store"], "")
    assert _count(browser) == len(expected) == len(FILES)
    assert browser.find_element("id", "counts").text == f"{len(FILES)} of {len(FILES)} tracks"
    rows = browser.find_elements("css selector", "tbody tr")
    assert len(rows) == len(FILES)
    # a file named like markup is shown as its name, never run or parsed as HTML
    assert "<img src=x onerror=alert(1)>" in _titles(browser)
    assert browser.find_elements("css selector", "tbody img") == []
    for row, track in zip(rows, expected):  # the page's order is the store's (by path)
        chips = [c.text for c in row.find_elements("css selector", ".chip")]
        assert chips == track["decided"], (track["path"], chips)
    assert _severe(browser) == []


def test_filter_by_tags_counts_as_library_search_does(browser, library):
    from tfmusictag.library import search

    _open(browser, library["page"])
    for query in ("piano", "-piano", "calm -vocals", "piano>0.6", "dark<0.3 vocals", '"female vocals"',
                  '-"female vocals"'):
        _type(browser, "query", query)
        assert browser.find_element("id", "problem").text == "", query
        assert _count(browser) == len(search(library["store"], query)), query
    # the side list counts the decided tags among the matches, and a click there adds the tag
    _type(browser, "query", "")
    row = browser.find_element("css selector", '.tagrow[data-tag="piano"]')
    assert int(row.find_element("css selector", ".n").text) == len(search(library["store"], "piano"))
    row.find_element("css selector", ".tag").click()
    time.sleep(0.3)
    assert browser.find_element("id", "query").get_attribute("value") == "piano"
    assert _count(browser) == len(search(library["store"], "piano"))
    # a tag the model does not have: one line naming it, the list left as it was
    _type(browser, "query", "pian")
    assert 'no tag "pian"' in browser.find_element("id", "problem").text
    assert "piano" in browser.find_element("id", "problem").text


def test_name_search_sort_by_a_tag_and_an_empty_result(browser, library):
    from tfmusictag.library import search

    _open(browser, library["page"])
    _type(browser, "name", "LONG")
    assert _titles(browser) == ["long"]
    _type(browser, "name", "")
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "sort")).select_by_value(f"tag:{TAGS.index('calm')}")
    time.sleep(0.2)
    shown = [float(r.find_elements("css selector", "td")[-1].text) for r in browser.find_elements("css selector", "tbody tr")]
    assert shown == sorted(shown, reverse=True)
    best = search(library["store"], "", sort="calm")
    assert shown == pytest.approx([t["probabilities"]["calm"] for t in best], abs=0.5 / 255 + 0.005)  # 2 decimals
    _type(browser, "query", "calm>0.999 dark>0.999")
    assert _count(browser) == 0
    assert "No track matches" in browser.find_element("id", "empty").text
    assert browser.find_element("id", "m3u").get_attribute("disabled")


def test_playlist_of_the_filtered_tracks_is_what_library_search_writes(browser, library):
    from tfmusictag.library import search
    from tfmusictag.library.query import render

    _open(browser, library["page"])
    tagged = next(t for t in TAGS if search(library["store"], t))  # a tag some tracks have
    for query in ("", tagged):
        _type(browser, "query", query)
        m3u = browser.execute_script("return window.tfmusictag.m3u()")
        assert m3u == render(search(library["store"], query), "m3u"), query
    # the button saves it (a download of a Blob made in the page, nothing sent anywhere): the Blob's
    # text and the file name it is saved under, caught as the page hands them to the browser
    browser.execute_script(
        "window.__saved = null; window.__name = null; const make = URL.createObjectURL;"
        "URL.createObjectURL = (blob) => { blob.text().then((t) => { window.__saved = t; }); return make(blob); };"
        "HTMLAnchorElement.prototype.click = function () { window.__name = this.download; };")
    button = browser.find_element("id", "m3u")
    assert button.is_enabled()  # some tracks match
    button.click()
    for _ in range(200):
        if browser.execute_script("return window.__saved !== null"):
            break
        time.sleep(0.05)
    assert browser.execute_script("return window.__name") == "tfmusictag.m3u"
    assert browser.execute_script("return window.__saved") == render(search(library["store"], tagged), "m3u")


def _canvas_pixels(driver):
    png = base64.b64decode(driver.execute_script(
        "return document.getElementById('taggram-canvas').toDataURL('image/png').split(',')[1]"))
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_a_click_opens_the_track_s_taggram_drawn_from_the_store(browser, library):
    from matplotlib import colormaps

    store = library["store"]
    _open(browser, library["page"])
    row = next(r for r in browser.find_elements("css selector", "tbody tr")
               if r.find_element("css selector", ".title").text == "long")
    row.click()
    for _ in range(100):
        if browser.find_elements("id", "taggram-canvas"):
            break
        time.sleep(0.05)
    box = browser.find_element("id", "taggram")
    assert "long" in box.find_element("css selector", "h2").text
    pixels = _canvas_pixels(browser)
    # the taggram the store keeps for the track: (columns, tags) ×255
    taggram, seconds, probs = next(
        row[1:] for row in store.db.execute("SELECT t.path, r.taggram, r.taggram_seconds, r.probabilities FROM results r "
                                            "JOIN tracks t ON t.id = r.track") if bytes(row[0]).endswith(b"long.flac"))
    probs = np.frombuffer(probs, np.float32)
    cells = np.frombuffer(taggram, np.uint8).reshape(-1, len(TAGS))
    assert cells.shape[0] == 4 and seconds == pytest.approx(29.14, abs=0.01)  # 95 s in 29.12 s segments
    best = int(np.argmax(probs))
    lut = np.round(colormaps["magma"](np.arange(256))[:, :3] * 255).astype(int)
    # the best tag's row is the first; the middle of its first column holds that cell's colour
    label_w, top, row_h = 150, 6, 18
    plot_w = pixels.shape[1] - label_w - 10
    span = 95.0
    x = label_w + int(plot_w * (seconds / 2) / span)
    assert np.abs(pixels[top + row_h // 2, x].astype(int) - lut[cells[0, best]]).max() <= 1
    # every row is drawn: as many distinct colour bands as rows, nothing blank
    plot = pixels[top: top + row_h * min(len(TAGS), 16), label_w: label_w + plot_w]
    assert (plot.reshape(-1, 3) == 255).all(axis=1).mean() < 0.01
    assert _severe(browser) == []


def test_the_screenshot_is_not_blank(browser, library, tmp_path):
    from PIL import Image

    _open(browser, library["page"])
    browser.find_elements("css selector", "tbody tr")[0].click()
    time.sleep(0.3)
    shot = tmp_path / "catalog.png"
    browser.save_screenshot(str(shot))
    image = np.asarray(Image.open(shot).convert("RGB"))
    ink = (image < 235).any(axis=2).mean()  # not the background
    colours = len(np.unique(image.reshape(-1, 3) // 16, axis=0))
    assert ink > 0.03 and colours > 40, (ink, colours)
    # the parts a user looks at are laid out on screen, not collapsed to nothing
    for element in ("query", "tracks", "taggram", "tags"):
        size = browser.find_element("id", element).size
        assert size["width"] > 100 and size["height"] > 20, (element, size)


def test_an_empty_library_gets_a_page_that_says_how_to_fill_it(browser, tmp_path):
    from tfmusictag.library import Store
    from tfmusictag.library.page import write_page

    with Store(str(tmp_path / "empty.db")) as store:
        written = write_page(store, str(tmp_path / "page"))
    assert written["tracks"] == 0
    _open(browser, written["index"])
    assert _count(browser) == 0
    assert "library update" in browser.find_element("id", "empty").text
    assert _severe(browser) == []


def _synthetic_store(path, n, tags=TAGS, taggrams=True):
    """A store of ``n`` generated tracks (probabilities, decisions, taggrams), written in bulk."""
    from tfmusictag.library import Store

    rng = np.random.default_rng(1)
    store = Store(path)
    model = store.model_id("synthetic", "synthetic", tags, "thresholds fitted on nothing (a generated store)")
    with store.transaction() as db:
        for i in range(n):
            probs = rng.beta(0.5, 1.5, len(tags)).astype(np.float32)
            decided = [t for t, p in zip(tags, probs) if p > 0.5]
            track = db.execute("INSERT INTO tracks (path, size, mtime_ns, sha256, duration, status, updated) "
                               "VALUES (?, 1, 1, ?, 180.0, 'tagged', 0)", (f"/music/{i:06d}.flac".encode(), f"{i}")).lastrowid
            cells = (rng.random((60, len(tags))) * 255).astype(np.uint8) if taggrams else None
            db.execute("INSERT INTO results (track, model, sha256, probabilities, decided, tagged, taggram, "
                       "taggram_seconds) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                       (track, model, f"{i}", probs.tobytes(), json.dumps(decided),
                        None if cells is None else cells.tobytes(), 3.0 if taggrams else None))
    return store


def test_pages_of_a_large_library_and_a_taggram_from_a_later_chunk(browser, tmp_path):
    from tfmusictag.library.page import CHUNK, PAGE_SIZE, write_page

    n = CHUNK + 250
    with _synthetic_store(str(tmp_path / "big.db"), n) as store:
        written = write_page(store, str(tmp_path / "page"))
    assert sorted(os.listdir(tmp_path / "page" / "taggrams")) == ["00000.js", "00001.js"]
    _open(browser, written["index"])
    assert len(browser.find_elements("css selector", "tbody tr")) == PAGE_SIZE
    assert browser.find_element("id", "page").text == f"1–{PAGE_SIZE} of {n:,}"
    browser.find_element("id", "next").click()
    assert browser.find_element("id", "page").text == f"{PAGE_SIZE + 1}–{2 * PAGE_SIZE} of {n:,}"
    _type(browser, "name", f"{CHUNK + 7:06d}")
    browser.find_element("css selector", "tbody tr").click()
    for _ in range(100):
        if browser.find_elements("id", "taggram-canvas"):
            break
        time.sleep(0.05)
    assert browser.find_element("id", "taggram").get_attribute("data-track") == str(CHUNK + 7)
    assert _severe(browser) == []


def test_a_store_of_schema_1_is_brought_up_to_date_and_its_tracks_have_no_taggram(browser, tmp_path):
    from tfmusictag.library import Store
    from tfmusictag.library.page import write_page

    path = str(tmp_path / "old.db")
    with _synthetic_store(path, 3, taggrams=False):
        pass
    db = sqlite3.connect(path)  # as schema 1 wrote it: no taggram columns
    db.execute("ALTER TABLE results DROP COLUMN taggram")
    db.execute("ALTER TABLE results DROP COLUMN taggram_seconds")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == "2"
        assert {r[1] for r in store.db.execute("PRAGMA table_info(results)")} >= {"taggram", "taggram_seconds"}
        written = write_page(store, str(tmp_path / "page"))
    assert not os.path.exists(tmp_path / "page" / "taggrams")
    _open(browser, written["index"])
    browser.find_element("css selector", "tbody tr").click()
    time.sleep(0.2)
    assert "No taggram is kept" in browser.find_element("id", "taggram-missing").text


def test_the_page_replaces_an_earlier_page_but_never_a_folder_of_other_files(tmp_path, library):
    from tfmusictag.errors import ParameterError
    from tfmusictag.library.page import write_page

    store = library["store"]
    first = write_page(store, str(tmp_path / "page"))
    again = write_page(store, str(tmp_path / "page"), query="piano")
    assert again["index"] == first["index"] and again["tracks"] <= first["tracks"]
    assert [p for p in os.listdir(tmp_path) if p.startswith(".page") or ".old-" in p] == []  # nothing left over
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(ParameterError, match="not a catalog page"):
        write_page(store, str(tmp_path / "mine"))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ParameterError, match="a file is there"):
        write_page(store, str(tmp_path / "afile"))


def test_the_page_command(library, tmp_path):
    out = str(tmp_path / "catalog")
    done = run_module("tfmusictag.library", "page", "piano", f"--library={library['store'].path}", f"--output={out}")
    assert "index.html" in done.stderr and os.path.exists(os.path.join(out, "index.html"))
    bad = run_module("tfmusictag.library", "page", "pian", f"--library={library['store'].path}", f"--output={out}",
                     check=False)
    assert bad.returncode == 2 and "no tag 'pian'" in bad.stderr and "Traceback" not in bad.stderr


def test_kept_taggrams_are_bounded_and_averaged_in_time():
    from tfmusictag.errors import ParameterError
    from tfmusictag.taggram import KEPT_COLUMNS, kept_taggram

    seg = np.linspace(0, 1, 10 * 3).reshape(10, 3)
    cells, seconds = kept_taggram(seg, np.arange(10) * 3.0, 3.0)
    assert cells.shape == (10, 3) and seconds == 3.0
    assert np.abs(cells / 255 - seg).max() <= 0.5 / 255 + 1e-9
    long = np.random.default_rng(0).random((1200, 4))  # a 60-minute track in 3 s patches
    cells, seconds = kept_taggram(long, np.arange(1200) * 3.0, 3.0)
    assert cells.shape == (KEPT_COLUMNS, 4) and seconds == pytest.approx(3600 / KEPT_COLUMNS)
    assert np.abs(cells[0] / 255 - long[:10].mean(0)).max() <= 0.5 / 255 + 1e-9
    one, width = kept_taggram(seg[:1], [0.0], 29.12)
    assert one.shape == (1, 3) and width == 29.12
    with pytest.raises(ParameterError):
        kept_taggram(np.zeros((0, 3)), [], 3.0)
