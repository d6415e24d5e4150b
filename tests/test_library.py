"""The tagged library (:mod:`tfmusictag.library`): incremental tagging into the store, search,
playlists — with odd file names, broken files, kills and two runs at once."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import tone, write_audio
from support import ENV

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: tags of the tiny model and its fitted thresholds
TAGS, THRESHOLDS = ("calm", "dark", "piano", "vocals"), (0.5, 0.45, 0.55, 0.5)
#: names a collection really has: spaces, quotes, a newline, bytes that are not UTF-8
ODD = ["plain.wav", "with space 'quote\".flac", "new\nline.ogg", b"latin1-\xe9t\xe9.wav", "ü.mp3"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from tfmusictag.reduction import ReductionConfig
    from tfmusictag.rundir import write_model_dir
    from tfmusictag.tagger import TaggerConfig, TrackTagger
    from tfmusictag.temporal import TemporalConfig

    config = TaggerConfig(tags=TAGS, reduction=ReductionConfig(type="mfcc"), temporal=TemporalConfig(type="mean"),
                          thresholds=THRESHOLDS)
    return write_model_dir(TrackTagger(config), str(tmp_path_factory.mktemp("libmodel") / "model"))


def collection(folder, names=ODD, seconds=3.0):
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        path = os.path.join(os.fsencode(folder), os.fsencode(name))
        ext = os.path.splitext(os.fsdecode(path))[1]
        fmt, subtype = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
                        ".mp3": ("MP3", "MPEG_LAYER_III")}[ext]
        plain = os.path.join(folder, f".writing{ext}")  # soundfile writes to a name it can encode
        write_audio(plain, tone(200.0 + 97 * i, seconds, 16000) + 0.01 * i, 16000, fmt, subtype)
        os.rename(plain, path)
        paths.append(os.fsdecode(path))
    return paths


def test_update_tags_new_files_then_skips_unchanged_ones_and_keeps_odd_names(tmp_path, model_dir):
    from tfmusictag.library import Store, search, update
    from tfmusictag.library.store import fs_str

    music = tmp_path / "music"
    paths = collection(str(music))
    with Store(str(tmp_path / "lib.db")) as store:
        first = update([str(music)], model_dir, store)
        assert (first["tagged"], first["unchanged"], first["failed"]) == (len(ODD), 0, 0)
        stored = {fs_str(p) for (p,) in store.db.execute("SELECT path FROM tracks")}
        assert stored == {os.path.abspath(p) for p in paths}  # every odd name, byte for byte
        stamps = dict(store.db.execute("SELECT track, tagged FROM results"))
        again = update([str(music)], model_dir, store)
        assert (again["tagged"], again["unchanged"]) == (0, len(ODD))
        assert dict(store.db.execute("SELECT track, tagged FROM results")) == stamps  # nothing tagged twice
        # touched (same bytes): not tagged again; changed: tagged again; removed: missing, tags kept
        os.utime(paths[0], ns=(time.time_ns(), time.time_ns() + 10 ** 9))
        write_audio(paths[1], tone(987.0, 2.0, 16000), 16000, "FLAC", "PCM_16")
        os.remove(paths[2])
        third = update([str(music)], model_dir, store)
        assert (third["tagged"], third["unchanged"], third["missing"]) == (1, len(ODD) - 2, 1), third
        assert store.counts() == {"tagged": len(ODD) - 1, "missing": 1}
        assert store.db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == len(ODD)
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # a file moved away and back unchanged (a disk unmounted, then mounted): found again, not re-tagged
        os.rename(paths[3], str(tmp_path / "away"))
        assert update([str(music)], model_dir, store)["missing"] == 1
        os.rename(str(tmp_path / "away"), paths[3])
        back = update([str(music)], model_dir, store)
        assert (back["tagged"], back["missing"]) == (0, 0) and store.counts() == {"tagged": len(ODD) - 1, "missing": 1}
        assert len(search(store)) == len(ODD) - 1


def test_a_broken_file_is_kept_with_its_error_and_retried_only_when_it_changes(tmp_path, model_dir):
    from tfmusictag.library import Store, update

    music = tmp_path / "music"
    collection(str(music), ["a.wav"])
    broken = music / "b.mp3"
    broken.write_bytes(b"not audio at all" * 100)
    with Store(str(tmp_path / "lib.db")) as store:
        first = update([str(music)], model_dir, store)
        assert (first["tagged"], first["failed"]) == (1, 1)
        row = store.track(str(broken))
        assert row["status"] == "error" and str(broken) in row["error"]
        again = update([str(music)], model_dir, store)
        assert (again["tagged"], again["failed"], again["failed_before"], again["unchanged"]) == (0, 0, 1, 1)
        write_audio(str(broken), tone(300.0, 2.0, 22050), 22050, "MP3", "MPEG_LAYER_III")  # repaired
        fixed = update([str(music)], model_dir, store)
        assert (fixed["tagged"], fixed["failed"]) == (1, 0) and store.track(str(broken))["status"] == "tagged"


def test_a_new_model_version_keeps_the_old_tags_beside_its_own(tmp_path, model_dir):
    from tfmusictag.library import Store, update

    music = tmp_path / "music"
    collection(str(music), ["a.wav", "b.wav"])
    with Store(str(tmp_path / "lib.db")) as store:
        update([str(music)], model_dir, store)
        second = update([str(music)], model_dir, store, threshold=0.3)  # other decisions: another version
        assert second["tagged"] == 2 and len(store.models()) == 2
        assert store.db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 4


def test_search_decided_tags_negation_cuts_sort_and_limit_agree_with_the_stored_probabilities(tmp_path, model_dir):
    from tfmusictag.library import Store, search, update

    music = tmp_path / "music"
    collection(str(music), [f"t{i}.wav" for i in range(8)])
    with Store(str(tmp_path / "lib.db")) as store:
        update([str(music)], model_dir, store)
        every = search(store)
        assert len(every) == 8
        probs = {t["path"]: t["probabilities"] for t in every}
        decided = {t["path"]: set(t["decided"]) for t in every}
        for p, d in decided.items():  # the decisions are the model's thresholds
            assert d == {tag for tag, cut in zip(TAGS, THRESHOLDS) if probs[p][tag] >= cut - 1e-4}
        got = {t["path"] for t in search(store, "calm -dark")}
        assert got == {p for p in probs if "calm" in decided[p] and "dark" not in decided[p]}
        got = {t["path"] for t in search(store, "piano>0.5 vocals<=0.6")}
        assert got == {p for p in probs if probs[p]["piano"] > 0.5 and probs[p]["vocals"] <= 0.6}
        ranked = [t["probabilities"]["dark"] for t in search(store, sort="dark")]
        assert ranked == sorted(ranked, reverse=True)
        assert [t["path"] for t in search(store, sort="dark", limit=3)] == [t["path"] for t in search(store, sort="dark")][:3]


def test_a_query_is_never_sql_and_an_unknown_tag_names_the_close_ones(tmp_path, model_dir):
    from tfmusictag.errors import ParameterError
    from tfmusictag.library import Store, search, update

    music = tmp_path / "music"
    collection(str(music), ["a.wav"])
    with Store(str(tmp_path / "lib.db")) as store:
        update([str(music)], model_dir, store)
        with pytest.raises(ParameterError, match="did you mean piano"):
            search(store, "pian")
        with pytest.raises(ParameterError, match="no tag"):
            search(store, "\"x'; DROP TABLE tracks; --\"")
        with pytest.raises(ParameterError, match="--sort"):
            search(store, sort="nope")
        assert store.db.execute("SELECT COUNT(*) FROM tracks").fetchone()[0] == 1


def test_an_m3u_playlist_leads_back_to_every_file(tmp_path, model_dir):
    """Every path of the playlist, read as a player reads it (a line, or a file:// URI for a name a
    line cannot hold), is the file itself."""
    import urllib.parse

    from tfmusictag.library import Store, search, update
    from tfmusictag.library.query import render

    music = tmp_path / "music"
    paths = collection(str(music))
    with Store(str(tmp_path / "lib.db")) as store:
        update([str(music)], model_dir, store)
        text = render(search(store), "m3u")
    lines = text.split("\n")
    assert lines[0] == "#EXTM3U"
    entries = [line for line in lines[1:] if line and not line.startswith("#")]
    found = set()
    for entry in entries:
        found.add(os.fsencode(urllib.parse.unquote_to_bytes(entry[len("file://"):])) if entry.startswith("file://")
                  else os.fsencode(entry))
    assert found == {os.fsencode(os.path.abspath(p)) for p in paths}


def test_a_store_of_another_schema_or_not_a_store_is_one_clear_error(tmp_path):
    from tfmusictag.errors import ParameterError
    from tfmusictag.library import Store

    path = str(tmp_path / "lib.db")
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.commit()
    db.close()
    with pytest.raises(ParameterError, match="schema 99"):
        Store(path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ParameterError, match="not a tfmusictag library store"):
        Store(str(junk))


def test_a_store_locked_by_another_process_is_waited_for_and_then_one_clear_error(tmp_path):
    """Another connection holding the store's write lock: opening waits for it (up to ``timeout``),
    then says the store is held — never that it is not a store. Opening many times at once from
    new, a store is created once and whole."""
    import threading

    from tfmusictag.errors import ParameterError
    from tfmusictag.library import Store

    path = str(tmp_path / "lib.db")
    Store(path).close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(ParameterError, match=r"lib\.db is held by another process for more than 0\.3 s"):
        Store(path, timeout=0.3)
    threading.Timer(0.5, lambda: holder.execute("COMMIT")).start()
    Store(path, timeout=30).close()  # waits for the commit
    holder.close()

    for round_ in range(10):  # the race of creating one store from several processes at once
        fresh, errors = str(tmp_path / f"new{round_}.db"), []

        def open_it():
            try:
                Store(fresh, timeout=30).close()
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        db = sqlite3.connect(fresh)
        assert db.execute("SELECT COUNT(*) FROM meta WHERE key = 'schema'").fetchone()[0] == 1
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()


def _run(args, tmp_path, **kwargs):
    env = dict(ENV, TFMUSICTAG_LIBRARY=str(tmp_path / "lib.db"))
    return subprocess.Popen([sys.executable, "-m", "tfmusictag.library", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.slow
def test_a_killed_update_continues_with_nothing_lost_or_tagged_twice(tmp_path, model_dir):
    music = tmp_path / "music"
    n = 60
    collection(str(music), [f"t{i:02d}.wav" for i in range(n)], seconds=20.0)
    db_path = str(tmp_path / "lib.db")
    proc = _run(["update", str(music), f"--model={model_dir}"], tmp_path)
    committed, deadline = 0, time.time() + 300
    while committed < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
        try:
            db = sqlite3.connect(db_path, timeout=5)
            committed = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            db.close()
        except sqlite3.Error:
            pass
    assert proc.poll() is None, "the update finished before it could be killed: make the collection longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    db = sqlite3.connect(db_path)
    before = dict(db.execute("SELECT track, tagged FROM results"))
    db.close()
    assert 1 <= len(before) < n
    again = _run(["update", str(music), f"--model={model_dir}"], tmp_path)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-2000:]
    assert f"tagged {n - len(before)}, unchanged {len(before)}, failed 0" in err, err[-2000:]
    db = sqlite3.connect(db_path)
    after = dict(db.execute("SELECT track, tagged FROM results"))
    assert len(after) == n and all(after[t] == before[t] for t in before)  # the committed ones: untouched
    assert db.execute("SELECT COUNT(*) FROM tracks").fetchone()[0] == n
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_two_updates_of_one_store_at_once_leave_it_whole(tmp_path, model_dir):
    music = tmp_path / "music"
    collection(str(music), [f"t{i:02d}.wav" for i in range(6)])
    runs = [_run(["update", str(music), f"--model={model_dir}"], tmp_path) for _ in range(2)]
    outs = [r.communicate(timeout=600) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [e[-2000:] for _, e in outs]
    db = sqlite3.connect(str(tmp_path / "lib.db"))
    assert db.execute("SELECT COUNT(*) FROM tracks").fetchone()[0] == 6
    assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 6
    assert db.execute("SELECT COUNT(*) FROM tags").fetchone()[0] == 6 * len(TAGS)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    search = _run(["search", "", "--format=m3u"], tmp_path)
    out, err = search.communicate(timeout=300)
    assert search.returncode == 0 and out.count("#EXTINF") == 6, err[-2000:]
    status = _run(["status"], tmp_path)
    out, _ = status.communicate(timeout=300)
    assert json.loads(out)["tracks"] == {"tagged": 6}


# -- tags into the files --------------------------------------------------------------------------

FILE_FORMATS = ["a 'quote\".mp3", "b\nline.flac", "c.ogg", "d.opus", "\udce9t\udce9.wav", "f.aiff"]


def _formats(folder):
    """One short track per format a file tag is written in, each with a title of its own."""
    import mutagen

    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, name in enumerate(FILE_FORMATS):
        ext = os.path.splitext(name)[1]
        fmt, subtype = {".mp3": ("MP3", "MPEG_LAYER_III"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
                        ".opus": ("OGG", "OPUS"), ".wav": ("WAV", "PCM_16"), ".aiff": ("AIFF", "PCM_16")}[ext]
        rate = 48000 if ext == ".opus" else 16000
        path = os.path.join(folder, name)
        plain = os.path.join(folder, f".writing{ext}")  # soundfile writes to a name it can encode
        write_audio(plain, tone(300.0 + 50 * i, 2.0, rate, 2), rate, fmt, subtype)
        os.rename(plain, path)
        f = mutagen.File(path)
        f.add_tags() if f.tags is None else None
        from mutagen.id3 import TIT2

        if hasattr(f.tags, "add"):
            f.tags.add(TIT2(encoding=3, text=[f"Title {i}"]))
        else:
            f.tags["TITLE"] = [f"Title {i}"]
        f.save()
        paths.append(path)
    return paths


def _title(path):
    import mutagen

    tags = mutagen.File(path).tags
    return str(tags["TIT2"].text[0]) if "TIT2" in tags else tags["TITLE"][0]


def test_tags_are_written_into_every_format_without_changing_a_sample_and_undone(tmp_path, model_dir):
    from tfmusictag.library import Store, search, update
    from tfmusictag.library.filetags import audio_digest, read_fields, undo, write_tags

    paths = _formats(str(tmp_path / "music"))
    sound = {p: audio_digest(p) for p in paths}
    with Store(str(tmp_path / "lib.db")) as store:
        assert update([str(tmp_path / "music")], model_dir, store)["tagged"] == len(paths)
        tracks = search(store)
        assert any(t["decided"] for t in tracks)  # some tag fields hold tags
        raw = {p: open(p, "rb").read() for p in paths}
        dry = write_tags(store, tracks, dry_run=True, probabilities=True)
        for r, t in zip(dry, tracks):
            assert set(r["changes"]) == {"TFMUSICTAG_PROBS", "TFMUSICTAG_MODEL"} | ({"TFMUSICTAG_TAGS"} if t["decided"]
                                                                                 else set()), r
        assert all(open(p, "rb").read() == raw[p] for p in paths)  # a dry run writes nothing
        reports = write_tags(store, tracks, probabilities=True)
        assert not [r for r in reports if "error" in r], reports
        for track in tracks:
            fields = read_fields(track["path"])
            assert fields["TFMUSICTAG_TAGS"] == ("; ".join(track["decided"]) or None)
            assert fields["TFMUSICTAG_PROBS"].count("=") == len(TAGS)
            assert audio_digest(track["path"]) == sound[track["path"]], track["path"]  # not one sample changed
            assert _title(track["path"]) == f"Title {paths.index(track['path'])}"  # other tags kept
        again = update([str(tmp_path / "music")], model_dir, store)  # the new bytes are known: not tagged again
        assert (again["tagged"], again["unchanged"]) == (0, len(paths)), again
        assert all(not r["changes"] for r in write_tags(store, search(store), probabilities=True))
        restored = undo(store)
        assert len(restored) == len(paths) and not [r for r in restored if "error" in r]
        for p in paths:
            assert read_fields(p) == {"TFMUSICTAG_TAGS": None, "TFMUSICTAG_PROBS": None, "TFMUSICTAG_MODEL": None}
            assert audio_digest(p) == sound[p] and _title(p) == f"Title {paths.index(p)}"
        assert update([str(tmp_path / "music")], model_dir, store)["tagged"] == 0


def test_a_read_only_file_is_reported_the_others_written_and_a_failed_write_leaves_the_file(tmp_path, model_dir,
                                                                                           monkeypatch):
    from tfmusictag.library import Store, search, update
    from tfmusictag.library import filetags

    paths = _formats(str(tmp_path / "music"))[:3]
    for p in _formats(str(tmp_path / "music"))[3:]:
        os.remove(p)
    os.chmod(paths[0], 0o444)
    with Store(str(tmp_path / "lib.db")) as store:
        update([str(tmp_path / "music")], model_dir, store)
        reports = {r["path"]: r for r in filetags.write_tags(store, search(store))}
        assert "read-only" in reports[paths[0]]["error"]  # by its mode, also for root
        assert all("error" not in reports[p] for p in paths[1:])
        # a write that dies before its rename leaves the file as it was, and no copy beside it
        before = open(paths[1], "rb").read()
        monkeypatch.setattr(filetags.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("killed")))
        report = filetags.write_tags(store, search(store), probabilities=True)
        assert "killed" in {r["path"]: r for r in report}[paths[1]]["error"]
        assert open(paths[1], "rb").read() == before
        assert [f for f in os.listdir(tmp_path / "music") if "tfmusictag-" in f] == []


def test_similar_tracks_are_the_nearest_embeddings_for_a_stored_track_and_a_new_file(tmp_path, model_dir):
    import shutil

    from tfmusictag.errors import ParameterError
    from tfmusictag.library import Store, similar, update
    from tfmusictag.library.similar import embedding_matrix
    from tfmusictag.library.store import fs_str

    music = tmp_path / "music"
    music.mkdir()
    rng = np.random.default_rng(0)
    for i, freq in enumerate([220, 230, 440, 450, 880, 1760]):  # pairs of neighbours
        wave = tone(float(freq), 4.0, 16000) + 0.01 * rng.normal(size=(64000, 1)).astype(np.float32)
        write_audio(str(music / f"t{i}.wav"), wave, 16000, "WAV", "PCM_16")
    with Store(str(tmp_path / "lib.db")) as store:
        update([str(music)], model_dir, store)
        ids, matrix = embedding_matrix(store, store.latest_model()["id"])
        assert matrix.shape[0] == 6 and np.allclose(np.linalg.norm(matrix, axis=1), 1, atol=1e-5)
        near = similar(store, str(music / "t2.wav"), k=5)
        assert len(near) == 5 and str(music / "t2.wav") not in [n["path"] for n in near]
        assert [n["similarity"] for n in near] == sorted((n["similarity"] for n in near), reverse=True)
        # the same ranking as a brute force over the stored embeddings
        paths = dict(store.db.execute("SELECT id, path FROM tracks"))
        q = matrix[list(ids).index([i for i, p in paths.items() if fs_str(p).endswith("t2.wav")][0])]
        order = [fs_str(paths[int(ids[j])]) for j in np.argsort(-(np.asarray(matrix) @ q)) if not np.allclose(matrix[j], q)]
        assert [n["path"] for n in near] == order[:5]
        # a file not in the store: tagged now, not stored; its copy in the store is the nearest
        elsewhere = tmp_path / "new.wav"
        shutil.copy(music / "t4.wav", elsewhere)
        found = similar(store, str(elsewhere), k=2)
        assert found[0]["path"] == str(music / "t4.wav") and found[0]["similarity"] > 0.999
        assert store.db.execute("SELECT COUNT(*) FROM tracks").fetchone()[0] == 6
        # a new track changes the store: the cached matrix is rebuilt
        write_audio(str(music / "t6.wav"), tone(222.0, 4.0, 16000), 16000, "WAV", "PCM_16")
        update([str(music)], model_dir, store)
        assert embedding_matrix(store, store.latest_model()["id"])[1].shape[0] == 7
        with pytest.raises(ParameterError, match="neither a track"):
            similar(store, str(tmp_path / "nowhere.wav"))


@pytest.mark.slow
def test_a_catalog_tagged_by_predict_beam_is_imported_and_then_known(tmp_path, model_dir):
    """predict_beam's records (--top_k=0) go into the store as update's would: searched, and an
    update over the same files tags nothing again; an error record is kept as the file's error."""
    import glob

    from tfmusictag import beam
    from tfmusictag.errors import ParameterError
    from tfmusictag.library import Store, search, update
    from tfmusictag.library.update import import_records

    music = tmp_path / "music"
    collection(str(music), ["a.wav", "b.flac", "c.ogg"])
    (music / "broken.mp3").write_bytes(b"no audio here" * 50)
    beam.run([str(music)], model_dir, str(tmp_path / "out" / "tags"), top_k=0)
    records = sorted(glob.glob(str(tmp_path / "out" / "tags-*.jsonl")))
    assert len(records) == 2  # the tags and the errors
    with Store(str(tmp_path / "lib.db")) as store:
        counts = import_records(records, model_dir, store)
        assert (counts["imported"], counts["failed"]) == (3, 1), counts
        assert len(search(store)) == 3
        again = update([str(music)], model_dir, store)
        assert (again["tagged"], again["unchanged"], again["failed_before"]) == (0, 3, 1), again
        beam.run([str(music / "a.wav")], model_dir, str(tmp_path / "out2" / "tags"), top_k=2)
        with pytest.raises(ParameterError, match="--top_k=0"):
            import_records(sorted(glob.glob(str(tmp_path / "out2" / "tags-0*.jsonl"))), model_dir, store)
