"""Damaged files as a family: real files of every format, damaged every way a copy, a download or a
tag editor damages them, then tagged between two intact files in one ``tag_files`` call.

For every case: the damaged file's record holds finite tags (with a ``warning`` when something was
lost) or one ``error`` line naming the file; nothing reaches standard error; the intact files
around it are tagged. Hypothesis draws the damage (``derandomize``: the same cases every run).
"""

import math
import os
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FORMATS, tone, write_audio

DAMAGES = ("truncate", "append", "insert", "flip_header", "flip_middle", "zero_block")


def damage(data: bytes, kind: str, where: float, size: int, seed: int) -> bytes:
    """``data`` damaged: ``where`` in [0, 1) places it, ``size`` bytes of it (junk is seeded)."""
    rng = np.random.default_rng(seed)
    junk = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    n = len(data)
    at = int(where * n)
    if kind == "truncate":
        return data[:at]
    if kind == "append":
        return data + junk
    if kind == "insert":
        return data[:at] + junk + data[at:]
    out = bytearray(data)
    if kind == "flip_header":  # within the first 512 bytes: the container's and codec's headers
        lo, hi = 0, min(512, n)
    elif kind == "flip_middle":
        lo, hi = n // 4, max(n // 4 + 1, 3 * n // 4)
    else:  # zero_block
        start = at
        out[start:start + size] = bytes(len(out[start:start + size]))
        return bytes(out)
    for i in rng.integers(lo, hi, max(1, size // 64)):
        out[i] ^= 0xFF
    return bytes(out)


@pytest.fixture(scope="module")
def damage_setup(tmp_path_factory):
    """A tiny MFCC model (a run directory, loaded once), one intact 3 s file per format, and two
    intact neighbours."""
    from tfmusictag.reduction import ReductionConfig
    from tfmusictag.rundir import write_model_dir
    from tfmusictag.serving import InferenceModel
    from tfmusictag.tagger import TaggerConfig, TrackTagger
    from tfmusictag.temporal import TemporalConfig

    root = tmp_path_factory.mktemp("damaged")
    config = TaggerConfig(tags=("a", "b", "c"), reduction=ReductionConfig(type="mfcc"),
                          temporal=TemporalConfig(type="mean"))
    model = InferenceModel(write_model_dir(TrackTagger(config), str(root / "model")))
    rng = np.random.default_rng(0)
    sources = {}
    for fid, fmt, subtype, ext, sr, ch in FORMATS:
        music = tone(440.0, 3.0, sr, ch) + 0.05 * rng.normal(size=(int(3.0 * sr), ch)).astype(np.float32)
        sources[fid] = (open(write_audio(root / f"{fid}.{ext}", music, sr, fmt, subtype), "rb").read(), ext)
    before = write_audio(root / "before.wav", tone(300.0, 2.0, 16000), 16000, "WAV", "PCM_16")
    after = write_audio(root / "after.flac", tone(600.0, 2.0, 16000), 16000, "FLAC", "PCM_16")
    return _Setup((root, model, sources, str(before), str(after)))


class _Setup(tuple):
    def __repr__(self):  # Hypothesis prints the arguments of a failing case: not the files' bytes
        return "damage_setup"


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(fid=st.sampled_from([f[0] for f in FORMATS]), kind=st.sampled_from(DAMAGES),
       where=st.floats(0.0, 0.999), size=st.integers(1, 8192), seed=st.integers(0, 2 ** 16))
def test_a_damaged_file_gets_tags_or_one_line_and_its_neighbours_are_tagged(damage_setup, capfd, fid, kind, where,
                                                                           size, seed):
    from tfmusictag.tagging import tag_files

    root, model, sources, before, after = damage_setup
    data, ext = sources[fid]
    path = os.path.join(str(root), f"case.{ext}")
    with open(path, "wb") as f:
        f.write(damage(data, kind, where, size, seed))
    capfd.readouterr()
    records = list(tag_files([before, path, after], model, top_k=0))
    printed = capfd.readouterr()
    assert [r["path"] for r in records] == [before, path, after]
    for r in records:
        assert {"path", "decided", "tags"} <= set(r), r
    assert "error" not in records[0] and "error" not in records[2], records
    case = records[1]
    if "error" in case:
        assert path in case["error"] and "\n" not in case["error"] and "Traceback" not in case["error"], case
        assert case["tags"] == {} and case["decided"] is None
    else:
        assert len(case["tags"]) == 3 and all(math.isfinite(p) and 0 <= p <= 1 for p in case["tags"].values()), case
        assert case["duration_seconds"] >= 0
        assert "\n" not in case.get("warning", "")
    assert printed.err == "" and printed.out == "", (printed.err[-2000:], printed.out[-2000:])


def test_a_flac_with_junk_after_its_end_is_tagged_with_a_warning(damage_setup):
    """The damage a failed copy or a tag editor leaves: a valid FLAC (mono and multichannel) with
    junk appended is tagged from its whole audio, with a warning that names the file."""
    from tfmusictag.tagging import tag_files

    root, model, sources, before, after = damage_setup
    for fid in ("flac-44k-stereo", "flac-48k-6ch"):
        path = os.path.join(str(root), f"junk-{fid}.flac")
        with open(path, "wb") as f:
            f.write(sources[fid][0] + np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
        record = list(tag_files([path], model))[0]
        assert "error" not in record and abs(record["duration_seconds"] - 3.0) < 0.05, record
        assert path in record["warning"] and "not valid audio" in record["warning"]
    mono = os.path.join(str(root), "junk-mono.flac")
    write_audio(mono, tone(440.0, 3.0, 22050), 22050, "FLAC", "PCM_16")
    with open(mono, "ab") as f:
        f.write(b"\x00junk" * 800)
    record = list(tag_files([mono], model))[0]
    assert "error" not in record and "warning" in record, record


def _track_of_thread(monkeypatch):
    """Makes ``tagging.audio.load`` note, per worker thread, which file that thread is tagging."""
    import threading

    from tfmusictag import tagging

    local, load = threading.local(), tagging.audio.load

    def noting_load(path, *args, **kwargs):
        local.path = path
        return load(path, *args, **kwargs)

    monkeypatch.setattr(tagging.audio, "load", noting_load)
    return lambda: getattr(local, "path", None)


def test_an_unexpected_error_of_one_track_is_its_record_and_the_rest_are_tagged(damage_setup, monkeypatch):
    """No error of one track, of any type, ends the batch: here the model fails on one file."""
    from tfmusictag import tagging

    root, model, sources, before, after = damage_setup
    broken = os.path.join(str(root), "boom.wav")
    shutil.copy(before, broken)
    current, real = _track_of_thread(monkeypatch), model.tag_chunks

    def tag_chunks(chunks, timeline=False, **kwargs):
        if current() == broken:
            raise IndexError("tuple index out of range")
        return real(chunks, timeline, **kwargs)

    monkeypatch.setattr(model, "tag_chunks", tag_chunks)
    records = list(tagging.tag_files([before, broken, after], model))
    assert [("error" in r) for r in records] == [False, True, False]
    assert records[1]["error"] == f"IndexError: {broken}: tuple index out of range"


def test_a_damaged_mp3_says_so_in_its_record_and_nothing_on_stderr(damage_setup, capfd):
    """libmpg123's own notes on damaged frames ("Note: Trying to resync...") are not printed by a
    library call: they become the record's warning."""
    from tfmusictag.tagging import tag_files

    root, model, sources, before, after = damage_setup
    data = bytearray(sources["mp3-44k-stereo"][0])
    rng = np.random.default_rng(0)
    for i in rng.integers(2000, len(data) - 2000, 20):
        data[i:i + 50] = rng.integers(0, 256, 50, dtype=np.uint8).tobytes()
    path = os.path.join(str(root), "resync.mp3")
    with open(path, "wb") as f:
        f.write(bytes(data))
    capfd.readouterr()
    record = list(tag_files([path], model))[0]
    assert capfd.readouterr().err == ""
    assert "error" not in record and "decoder skipped damaged data" in record["warning"], record


def test_a_consumer_that_stops_early_does_not_wait_for_the_tracks_in_flight(damage_setup, monkeypatch):
    """``break`` after the first record: the generator closes while the next track is still being
    tagged (held here until the test lets it go), and that track stops at its next chunk."""
    import threading

    from tfmusictag import tagging

    root, model, sources, before, after = damage_setup
    current, real, gate = _track_of_thread(monkeypatch), model.log_mel_chunks, threading.Event()

    def held_chunks(make_blocks):
        for chunk in real(make_blocks):
            if current() == after:
                gate.wait(120)
            yield chunk

    monkeypatch.setattr(model, "log_mel_chunks", held_chunks)
    records = tagging.tag_files([before, after], model)
    assert next(records)["path"] == before
    closing = threading.Thread(target=records.close)  # what `break` does
    closing.start()
    closing.join(60)
    closed = not closing.is_alive()
    gate.set()
    closing.join()
    assert closed, "closing the records waited for the track in flight"
