"""Incremental tagging of a collection into the library store (:mod:`tfmusictag.library.store`).

:func:`update` walks folders (and files, globs) and tags only what the store does not have for the
model's version: new files, and files whose content changed. A file whose size and modification
time are unchanged is skipped without being read (a rescan of an unchanged collection reads only
directory entries); one whose size or time changed is hashed, and tagged again only if its
content changed. A file that failed is retried only when it changes. Files that vanished from the
scanned folders are marked ``missing`` (their tags are kept).

Each track is committed in its own transaction as soon as it is tagged, so a run killed at any
moment loses only the tracks in flight; the same command again tags exactly those, nothing twice.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Optional, Sequence

import numpy as np

from tfmusictag.errors import ParameterError
from tfmusictag.library.store import Store, file_digest, fs_bytes, model_digest
from tfmusictag.tagging import expand_paths, tag_files
from tfmusictag.thresholds import describe_decision

__all__ = ["update", "import_records", "Progress"]


class Progress:
    """One line on a terminal (count, rate, time left), rewritten in place; nothing when ``stream``
    is not a terminal (a log or a pipe gets the summary only)."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.stream = total, 0, stream or sys.stderr
        self.start = time.monotonic()
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty() and total > 0

    def step(self, label: str = "") -> None:
        self.done += 1
        if not self.live:
            return
        elapsed = time.monotonic() - self.start
        left = elapsed / self.done * (self.total - self.done)
        eta = f"{int(left // 60)}:{int(left % 60):02d} left" if self.done < self.total else "done"
        self.stream.write(f"\r\x1b[2K{self.done}/{self.total} tracks, {eta}  {label[-60:]}")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def record_taggram(record: dict, tags, segment_seconds: float):
    """The taggram the store keeps (:func:`tfmusictag.taggram.kept_taggram`) of a record with a
    ``timeline`` of every tag (``tag_files(..., timeline=True, top_k=0)``), which it removes from the
    record; ``None`` for a record without one (or one that lists only some tags per segment)."""
    from tfmusictag.taggram import kept_taggram

    timeline = record.pop("timeline", None)
    if not timeline or any(len(s.get("tags", ())) != len(tags) for s in timeline):
        return None
    try:
        seg = [[s["tags"][t] for t in tags] for s in timeline]
        return kept_taggram(seg, [s["start_seconds"] for s in timeline], segment_seconds)
    except (KeyError, TypeError, ValueError, ParameterError):
        return None


def _version(model, store: Store, threshold: Optional[float] = None):
    """``(InferenceModel, its version's id in the store)``: the version is the digest of the model's
    files, and of the cut when one ``threshold`` decides every tag."""
    from tfmusictag.serving import InferenceModel

    tagger = model if isinstance(model, InferenceModel) else InferenceModel(model)
    source = tagger.path if isinstance(model, InferenceModel) else model
    digest = model_digest(tagger.path)
    decides = tagger.decided_by if threshold is None else describe_decision(threshold=threshold)
    if threshold is not None:
        digest = f"{digest}:cut={float(threshold)}"
    return tagger, store.model_id(digest, os.path.basename(os.path.normpath(str(source))), tagger.tags, decides,
                                  source=tagger.path)


def update(roots: Sequence[str], model, store: Store, *, threshold: Optional[float] = None, damaged: str = "tag",
           progress_stream=None) -> dict:
    """Tag what is new or changed under ``roots`` with ``model`` into ``store``.

    Args:
        roots: folders (recursive), files and globs.
        model: what :class:`~tfmusictag.serving.InferenceModel` loads (a SavedModel folder, a run
            directory, a pretrained name), or an ``InferenceModel``.
        store: an open :class:`~tfmusictag.library.store.Store`.
        threshold: decide every tag at this probability instead of the model's thresholds.
        damaged: as in :func:`tfmusictag.tagging.tag_files`.
        progress_stream: where the progress line goes (standard error by default; only on a terminal).

    Returns:
        Counts: ``tagged``, ``unchanged`` (skipped), ``failed`` (an error record kept),
        ``failed_before`` (an unchanged file that failed before: not retried), ``missing``,
        and ``model`` (the model version's id in the store).

    Raises:
        ParameterError: no argument matches an audio file; a model that cannot be loaded.
    """
    from tfmusictag.serving import InferenceModel

    files, _ = expand_paths(roots)
    tagger, model_id = _version(model, store, threshold)

    counts = {"tagged": 0, "unchanged": 0, "failed": 0, "failed_before": 0, "missing": 0, "model": model_id}
    todo, seen = [], set()
    for f in dict.fromkeys(os.path.abspath(f) for f in files):
        seen.add(fs_bytes(f))
        try:
            stat = os.stat(f)
        except OSError:
            todo.append((f, None, ""))
            continue
        row = store.track(f)
        if row is not None and (row["size"], row["mtime_ns"]) != (stat.st_size, stat.st_mtime_ns):
            digest_now = file_digest(f)
            if digest_now == row["sha256"]:  # touched or copied over with the same bytes
                store.touch(f, stat)
            else:
                todo.append((f, stat, digest_now))
                continue
        elif row is None:
            todo.append((f, stat, file_digest(f)))
            continue
        if row["status"] == "missing":  # back (a disk mounted again), unchanged: as it was before it went
            row["status"] = store.revive(f)
        if row["status"] == "error":
            counts["failed_before"] += 1
        elif store.has_result(row["id"], model_id, row["sha256"]):
            counts["unchanged"] += 1
        else:  # known, unchanged, not yet tagged by this model version
            todo.append((f, stat, row["sha256"]))

    progress = Progress(len(todo), progress_stream)
    by_path = {f: (stat, sha) for f, stat, sha in todo}
    try:
        if todo:
            for record in tag_files([f for f, _, _ in todo], tagger, top_k=0, threshold=threshold, damaged=damaged,
                                    embedding=True, timeline=True):
                path = record["path"]
                stat, sha = by_path.get(path, (None, ""))
                if stat is None:  # unreadable before it could be stat'ed: nothing to fingerprint
                    counts["failed"] += 1
                    progress.step(path)
                    continue
                probs = None
                if "error" in record:
                    counts["failed"] += 1
                else:
                    probs = np.array([record["tags"][t] for t in tagger.tags], np.float32)
                    counts["tagged"] += 1
                store.record(path, stat, sha, model_id, tagger.tags, record, probs, record.pop("embedding", None),
                             record_taggram(record, tagger.tags, tagger.segment_seconds))
                progress.step(path)
    finally:
        progress.close()
    counts["missing"] = store.mark_missing(roots, seen)
    return counts


def import_records(files: Sequence[str], model, store: Store) -> dict:
    """Records written elsewhere — by ``python -m tfmusictag.predict --top_k=0`` or
    ``python -m tfmusictag.predict_beam --top_k=0`` (its tags and its errors outputs) — into the
    store, as if :func:`update` had tagged them: a catalog tagged on a Beam runner is then searched,
    turned into playlists and written into files the same way.

    Args:
        files: JSON-lines files of records.
        model: the model that wrote them (its version and its tags' order).
        store: an open store.

    Returns:
        Counts: ``imported``, ``failed`` (error records kept), ``unreachable`` (a path this machine
        cannot read, e.g. ``gs://``: it needs the file to fingerprint it), ``model``.

    Raises:
        ParameterError: a record without every tag of the model (written without ``--top_k=0``), or
            a file that is not JSON lines.
    """
    import json

    tagger, model_id = _version(model, store)
    counts = {"imported": 0, "failed": 0, "unreachable": 0, "model": model_id}
    for name in files:
        with open(name) as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    path = os.path.abspath(record["path"])
                except (ValueError, KeyError, TypeError):
                    raise ParameterError(f"{name} line {number}: not a tfmusictag record") from None
                try:
                    stat = os.stat(path)
                except OSError:
                    counts["unreachable"] += 1
                    continue
                if "error" in record:
                    store.record(path, stat, file_digest(path), model_id, tagger.tags, record, None)
                    counts["failed"] += 1
                    continue
                missing = [t for t in tagger.tags if t not in record.get("tags", {})]
                if missing:
                    raise ParameterError(f"{name} line {number}: the record holds {len(record.get('tags', {}))} of the "
                                         f"model's {len(tagger.tags)} tags; write the records with --top_k=0")
                probs = np.array([record["tags"][t] for t in tagger.tags], np.float32)
                store.record(path, stat, file_digest(path), model_id, tagger.tags, record, probs,
                             taggram=record_taggram(record, tagger.tags, tagger.segment_seconds))
                counts["imported"] += 1
    return counts
