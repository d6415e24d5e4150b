"""The library's tags written into the audio files, where players, Picard and beets read them.

Fields (one value each; tags separated by ``"; "``):

============  ==========================  =================================  ==================================
field         MP3, WAV, AIFF (ID3v2.4)    FLAC, Ogg Vorbis, Opus (Vorbis)    MP4/M4A (freeform atom)
============  ==========================  =================================  ==================================
tags          ``TXXX:TFMUSICTAG_TAGS``    ``TFMUSICTAG_TAGS``                ``----:tfmusictag:TFMUSICTAG_TAGS``
probabilities ``TXXX:TFMUSICTAG_PROBS``   ``TFMUSICTAG_PROBS``               ``----:tfmusictag:TFMUSICTAG_PROBS``
model         ``TXXX:TFMUSICTAG_MODEL``   ``TFMUSICTAG_MODEL``               ``----:tfmusictag:TFMUSICTAG_MODEL``
============  ==========================  =================================  ==================================

``TFMUSICTAG_TAGS`` holds the decided tags (for a model without decisions, the tags at or above
the cut); ``TFMUSICTAG_PROBS`` (on request) every tag as ``tag=0.912``, best first;
``TFMUSICTAG_MODEL`` the model's name and the start of its digest. No other field is touched.

Safety: a file is written as a copy beside it (tags changed with ``mutagen``), its audio is decoded
from the copy and compared sample for sample with the original's, and only then does the copy
replace the file (an atomic rename): a kill at any moment leaves the original or the new file, never
a half-written one, and no audio sample ever changes. The values a file had before are kept in the
store, and :func:`undo` writes them back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from typing import Dict, Iterable, List, Optional

import numpy as np

from tfmusictag.library.store import Store, fs_bytes

__all__ = ["FIELDS", "write_tags", "undo", "read_fields", "audio_digest", "UnsupportedFile"]

#: The fields written, by their Vorbis-comment names.
FIELDS = ("TFMUSICTAG_TAGS", "TFMUSICTAG_PROBS", "TFMUSICTAG_MODEL")
_MP4 = "----:tfmusictag:"

_HISTORY = """CREATE TABLE IF NOT EXISTS file_tags (
    id INTEGER PRIMARY KEY, path BLOB NOT NULL, written REAL NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL)"""


class UnsupportedFile(Exception):
    """The file's format holds no tags that this module writes."""


def _open(path):
    import mutagen

    try:
        f = mutagen.File(path)
    except mutagen.MutagenError as exc:
        raise UnsupportedFile(f"cannot read its tags ({exc})") from None
    if f is None:
        raise UnsupportedFile("not a format whose tags can be written (MP3, FLAC, Ogg, Opus, MP4, WAV, AIFF)")
    return f


def _kind(f) -> str:
    from mutagen.aiff import AIFF
    from mutagen.mp3 import MP3
    from mutagen.mp4 import MP4
    from mutagen.wave import WAVE

    if isinstance(f, (MP3, WAVE, AIFF)):
        return "id3"
    if isinstance(f, MP4):
        return "mp4"
    from mutagen.flac import FLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    if isinstance(f, (FLAC, OggVorbis, OggOpus)):
        return "vorbis"
    raise UnsupportedFile(f"{type(f).__name__} files are not written")


def read_fields(path) -> Dict[str, Optional[str]]:
    """The values of :data:`FIELDS` in a file (``None`` where absent)."""
    f = _open(path)
    kind, tags = _kind(f), f.tags
    out = {}
    for name in FIELDS:
        value = None
        if tags is not None:
            if kind == "id3":
                frame = tags.get(f"TXXX:{name}")
                value = None if frame is None else str(frame.text[0])
            elif kind == "mp4":
                raw = tags.get(_MP4 + name)
                value = None if not raw else bytes(raw[0]).decode("utf-8")
            else:
                got = tags.get(name)
                value = got[0] if got else None
        out[name] = value
    return out


def _set_fields(path, values: Dict[str, Optional[str]]) -> None:
    """Set (or, for ``None``, delete) the fields in a file, leaving every other tag as it is."""
    from mutagen.id3 import TXXX
    from mutagen.mp4 import MP4FreeForm

    f = _open(path)
    kind = _kind(f)
    if f.tags is None:
        f.add_tags()
    tags = f.tags
    for name, value in values.items():
        if kind == "id3":
            tags.delall(f"TXXX:{name}")
            if value is not None:
                tags.add(TXXX(encoding=3, desc=name, text=[value]))
        elif kind == "mp4":
            if value is None:
                tags.pop(_MP4 + name, None)
            else:
                tags[_MP4 + name] = [MP4FreeForm(value.encode("utf-8"))]
        else:
            if value is None:
                if name in tags:
                    del tags[name]
            else:
                tags[name] = [value]
    if kind == "id3":
        f.save(v2_version=4)
    else:
        f.save()


def audio_digest(path) -> str:
    """SHA-256 of a file's decoded samples (libsndfile): equal before and after a tag change."""
    import soundfile as sf

    from tfmusictag.audio.quiet import quiet

    h = hashlib.sha256()
    with quiet():  # libmpg123's notes on a damaged MP3 stay out of the terminal
        with sf.SoundFile(os.fsencode(path)) as f:
            h.update(f"{f.samplerate}:{f.channels}".encode())
            while True:
                block = f.read(1 << 16, dtype="float32")
                if not len(block):
                    break
                h.update(np.ascontiguousarray(block).tobytes())
    return h.hexdigest()


def _remove_stale_copies(folder, name) -> None:
    """Copies left by a write that was killed before its rename (its process is gone)."""
    prefix = f".{name}.tfmusictag-"
    for entry in os.listdir(folder):
        pid = entry[len(prefix):] if entry.startswith(prefix) else ""
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                os.remove(os.path.join(folder, entry))
            except PermissionError:
                pass


def _replace_safely(path, values) -> None:
    """Write the fields into a copy, check its audio, rename it over ``path`` (see the module docstring)."""
    folder, name = os.path.split(os.path.abspath(path))
    _remove_stale_copies(folder, name)
    tmp = os.path.join(folder, f".{name}.tfmusictag-{os.getpid()}")
    shutil.copy2(path, tmp)
    try:
        _set_fields(tmp, values)
        if audio_digest(tmp) != audio_digest(path):
            raise UnsupportedFile("writing the tags would change its audio; the file was left as it was")
        shutil.copystat(path, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _values(track: dict, model: dict, probabilities: bool, cut: float) -> Dict[str, Optional[str]]:
    decided = track["decided"]
    if decided is None:  # a model without decisions: the tags at or above the cut
        decided = [t for t, p in sorted(track["probabilities"].items(), key=lambda kv: -kv[1]) if p >= cut]
    best = sorted(track["probabilities"].items(), key=lambda kv: -kv[1])
    return {"TFMUSICTAG_TAGS": "; ".join(decided) or None,  # no decided tag: no field
            "TFMUSICTAG_PROBS": "; ".join(f"{t}={p:.3f}" for t, p in best) if probabilities else None,
            "TFMUSICTAG_MODEL": f"{model['name']} {model['digest'][:12]}"}


def write_tags(store: Store, tracks: Iterable[dict], *, probabilities: bool = False, dry_run: bool = False,
               cut: float = 0.5, model: Optional[dict] = None) -> List[dict]:
    """Write the tags of ``tracks`` (:func:`tfmusictag.library.query.search` results) into their files.

    Returns one report per track: ``path``, ``changes`` (field → ``[before, after]``, only what
    differs), and ``error`` for a file that could not be written (read-only, unsupported, gone) —
    the others are written. With ``dry_run`` nothing is written: the report says what would change.
    After a write the store holds the file's new fingerprint (its audio is unchanged, so it is not
    tagged again) and the values it had before (:func:`undo`).
    """
    model = model or store.latest_model()
    store.db.execute(_HISTORY)
    reports = []
    for track in tracks:
        path = track["path"]
        report = {"path": path, "changes": {}}
        try:
            before = read_fields(path)
            after = _values(track, model, probabilities, cut)
            report["changes"] = {k: [before[k], v] for k, v in after.items() if before[k] != v}
            if report["changes"] and not dry_run:
                if not os.access(path, os.W_OK) or not os.stat(path).st_mode & 0o222:  # root too respects the mode
                    raise UnsupportedFile("the file is read-only")
                _replace_safely(path, after)
                store.rewritten(path)
                store.db.execute("INSERT INTO file_tags (path, written, before, after) VALUES (?, ?, ?, ?)",
                                 (fs_bytes(path), time.time(), json.dumps(before), json.dumps(after)))
        except (UnsupportedFile, OSError) as exc:
            report["error"] = f"{path}: {exc}"
        reports.append(report)
    return reports


def undo(store: Store, paths: Optional[Iterable[str]] = None) -> List[dict]:
    """Write back the values the files had before tfmusictag's last write (all files, or ``paths``)."""
    store.db.execute(_HISTORY)
    wanted = None if paths is None else {fs_bytes(os.path.abspath(p)) for p in paths}
    rows = store.db.execute("SELECT path, before FROM file_tags f WHERE id = (SELECT MAX(id) FROM file_tags g "
                            "WHERE g.path = f.path) ORDER BY path").fetchall()
    reports = []
    for raw, before in rows:
        if wanted is not None and bytes(raw) not in wanted:
            continue
        path = os.fsdecode(bytes(raw))
        report = {"path": path}
        try:
            _replace_safely(path, json.loads(before))
            store.rewritten(path)
            store.db.execute("DELETE FROM file_tags WHERE path = ?", (raw,))
        except (UnsupportedFile, OSError) as exc:
            report["error"] = f"{path}: {exc}"
        reports.append(report)
    return reports
