"""The library store: every track of a collection, its fingerprint, and its tags per model version.

One SQLite file (``library.db``), no server and no configuration. SQLite is chosen because what
the store must guarantee is transactional: a run killed at any moment (SIGKILL included) leaves
every committed track whole and nothing half-written, two runs on the same store at once are
serialised by its locks (write-ahead log, a busy timeout), and the file is readable by any tool
that speaks SQL. Tag search is a query over an indexed ``(model, tag, probability)`` table.

Tables:

* ``tracks``: ``path`` (the file system's bytes, so any name round-trips), ``size``,
  ``mtime_ns`` (the fast fingerprint), ``sha256`` (the content, to confirm a change), ``duration``,
  ``format``, ``status`` (``tagged``, ``error``, ``missing``), ``error``;
* ``models``: one row per model *version*, identified by the digest of its files (weights,
  thresholds, assets): a retrained or re-thresholded model is a new version, and the tags of the
  old one are kept beside the new ones;
* ``results``: per track and model version the probabilities of every tag (float32), the track's
  embedding (float32, what similar tracks are found by), the decided tags, a ``warning`` for a
  damaged file, when it was tagged, and the track's ``taggram`` (its tags over time, binned to at
  most :data:`~tfmusictag.taggram.KEPT_COLUMNS` columns of ``taggram_seconds`` each, uint8
  probabilities ×255: what the catalog page draws);
* ``tags``: the same probabilities one row per tag (indexed: search, sort by a tag).

A store of an older schema is brought up to date when opened (schema 1 had no taggrams: its
tracks keep theirs empty until tagged again); one of a newer schema is refused with one line
(:data:`SCHEMA`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from typing import Iterable, Iterator, List, Optional, Sequence

import numpy as np

from tfmusictag.errors import ParameterError

__all__ = ["Store", "SCHEMA", "file_digest", "model_digest", "fs_bytes", "fs_str", "default_path"]

#: The store's schema version; a store of another version is refused (see :class:`Store`).
SCHEMA = 2

#: What brings a store of schema ``k`` to ``k + 1``.
_MIGRATIONS = {
    1: ("ALTER TABLE results ADD COLUMN taggram BLOB", "ALTER TABLE results ADD COLUMN taggram_seconds REAL"),
}

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tracks (
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE,
    size INTEGER, mtime_ns INTEGER, sha256 TEXT,
    duration REAL, format TEXT,
    status TEXT NOT NULL DEFAULT 'new',
    error TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    source TEXT,
    tags TEXT NOT NULL,
    decides TEXT NOT NULL,
    added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    track INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    model INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    probabilities BLOB NOT NULL,
    embedding BLOB,
    decided TEXT,
    warning TEXT,
    tagged REAL NOT NULL,
    taggram BLOB,
    taggram_seconds REAL,
    PRIMARY KEY (track, model)
);
CREATE TABLE IF NOT EXISTS tags (
    track INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    model INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    probability REAL NOT NULL,
    decided INTEGER NOT NULL,
    PRIMARY KEY (track, model, tag)
);
CREATE INDEX IF NOT EXISTS tags_by_tag ON tags (model, tag, probability);
"""


def default_path() -> str:
    """``$TFMUSICTAG_HOME/library.db`` (default ``~/.local/share/tfmusictag/library.db``)."""
    home = os.environ.get("TFMUSICTAG_LIBRARY") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share"), "tfmusictag",
        "library.db")
    return home


def fs_bytes(path) -> bytes:
    """A path as the file system's bytes (names that are not UTF-8 included)."""
    return os.fsencode(path)


def fs_str(path: bytes) -> str:
    """The stored bytes of a path as ``str`` (undecodable bytes as surrogates, as ``os`` does)."""
    return os.fsdecode(bytes(path))


def file_digest(path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def model_digest(folder: str) -> str:
    """The content digest of a model folder: every file's relative path and bytes (weights,
    thresholds, assets), in a fixed order; the same model copied elsewhere has the same digest."""
    h = hashlib.sha256()
    if os.path.isfile(folder):
        files = [folder]
        folder = os.path.dirname(folder)
    else:
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs
                       if not f.startswith(".") and "checkpoints" not in os.path.relpath(d, folder).split(os.sep)
                       and not os.path.relpath(d, folder).startswith("eval_"))
    for path in files:
        h.update(os.path.relpath(path, folder).encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _locked(exc: sqlite3.OperationalError) -> bool:
    """True for SQLite's "database is locked"/"busy" (another connection holds the lock)."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Store:
    """An open library store (a SQLite file); creates it when missing.

    Args:
        path: the store's file (:func:`default_path` when ``None``).
        timeout: seconds a write waits for another process holding the lock.

    Raises:
        ParameterError: the file is not a tfmusictag store, or one of another schema version, or
            another process holds it locked for longer than ``timeout``.
    """

    def __init__(self, path: Optional[str] = None, timeout: float = 60.0):
        self.path = os.path.expanduser(path or default_path())
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        # SQLite answers "database is locked" at once, without its busy timeout, in a few cases of
        # opening (another process creating the file or turning on its write-ahead log at the same
        # moment): the opening is retried until ``timeout``, as a write would wait.
        deadline, self.db = time.monotonic() + timeout, None
        while True:
            try:
                self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
                self._open()
                return
            except sqlite3.OperationalError as exc:
                self.close()
                if not _locked(exc):
                    raise ParameterError(f"{self.path} is not a tfmusictag library store ({exc})") from None
                if time.monotonic() >= deadline:
                    raise ParameterError(f"{self.path} is held by another process for more than {timeout:g} s "
                                         f"({exc}); try again when it is done") from None
                time.sleep(0.05)
            except sqlite3.DatabaseError as exc:
                self.close()
                raise ParameterError(f"{self.path} is not a tfmusictag library store ({exc})") from None
            except BaseException:
                self.close()
                raise

    def _open(self) -> None:
        """Set the connection up and create, migrate or check the schema (one transaction)."""
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA synchronous=NORMAL")
        with self.transaction():
            for statement in _TABLES.strip().split(";"):
                if statement.strip():
                    self.db.execute(statement)
            row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
            elif int(row[0]) in _MIGRATIONS:
                for version in range(int(row[0]), SCHEMA):
                    for statement in _MIGRATIONS[version]:
                        self.db.execute(statement)
                self.db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA),))
            elif int(row[0]) != SCHEMA:
                raise ParameterError(f"{self.path} is a library store of schema {row[0]}; this tfmusictag "
                                     f"reads schema {SCHEMA} (use the tfmusictag version that wrote it, or "
                                     "start a new store with --library)")

    def close(self):
        if self.db is not None:
            self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def transaction(self):
        """One atomic write (``BEGIN IMMEDIATE``: another process's writes wait, never interleave)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- models -----------------------------------------------------------------------------------
    def model_id(self, digest: str, name: str, tags: Sequence[str], decides: str, source: Optional[str] = None) -> int:
        """The id of a model version, added on first use. ``decides``: how its ``decided`` tags are
        made (its fitted thresholds, a given cut, or none); ``source``: what loads it (a folder or a
        pretrained name: similar tracks of a file not in the store are found with it)."""
        with self.transaction() as db:
            row = db.execute("SELECT id FROM models WHERE digest = ?", (digest,)).fetchone()
            if row:
                return row[0]
            return db.execute("INSERT INTO models (digest, name, source, tags, decides, added) VALUES (?, ?, ?, ?, ?, ?)",
                              (digest, name, source, json.dumps(list(tags)), decides, time.time())).lastrowid

    def models(self) -> List[dict]:
        rows = self.db.execute("SELECT id, digest, name, tags, decides, added, source FROM models ORDER BY id").fetchall()
        return [{"id": r[0], "digest": r[1], "name": r[2], "tags": json.loads(r[3]), "decides": r[4], "added": r[5],
                 "source": r[6]} for r in rows]

    def revision(self) -> int:
        """A number that changes with every write (caches of the store's contents compare it)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _bump(db) -> None:
        db.execute("INSERT INTO meta VALUES ('revision', '1') ON CONFLICT(key) DO UPDATE SET "
                   "value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)")

    def latest_model(self) -> Optional[dict]:
        """The model version added last (what search uses unless told otherwise)."""
        found = self.models()
        return found[-1] if found else None

    # -- tracks -----------------------------------------------------------------------------------
    def track(self, path) -> Optional[dict]:
        row = self.db.execute("SELECT id, size, mtime_ns, sha256, status, error FROM tracks WHERE path = ?",
                              (fs_bytes(path),)).fetchone()
        if row is None:
            return None
        return dict(zip(("id", "size", "mtime_ns", "sha256", "status", "error"), row))

    def has_result(self, track_id: int, model_id: int, sha256: str) -> bool:
        return self.db.execute("SELECT 1 FROM results WHERE track = ? AND model = ? AND sha256 = ?",
                               (track_id, model_id, sha256)).fetchone() is not None

    def upsert_track(self, db, path, size, mtime_ns, sha256, status, error=None, duration=None, fmt=None) -> int:
        now = time.time()
        db.execute("INSERT INTO tracks (path, size, mtime_ns, sha256, status, error, duration, format, updated) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET size = excluded.size, "
                   "mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256, status = excluded.status, "
                   "error = excluded.error, duration = COALESCE(excluded.duration, tracks.duration), "
                   "format = COALESCE(excluded.format, tracks.format), updated = excluded.updated",
                   (fs_bytes(path), size, mtime_ns, sha256, status, error, duration, fmt, now))
        return db.execute("SELECT id FROM tracks WHERE path = ?", (fs_bytes(path),)).fetchone()[0]

    def record(self, path, stat, sha256: str, model_id: int, tags: Sequence[str], record: dict,
               probabilities: Optional[np.ndarray], embedding: Optional[np.ndarray] = None,
               taggram: Optional[tuple] = None) -> None:
        """Keep one tagged (or failed) track: its fingerprint and, when tagged, its result for the
        model — in one transaction (all of it, or nothing). ``taggram``: ``(uint8 array (columns,
        tags), seconds per column)`` as :func:`tfmusictag.taggram.kept_taggram` makes it."""
        error = record.get("error")
        fmt = os.path.splitext(os.fsdecode(path))[1].lstrip(".").lower() or None
        with self.transaction() as db:
            self._bump(db)
            track = self.upsert_track(db, path, stat.st_size, stat.st_mtime_ns, sha256, "error" if error else "tagged",
                                      error, record.get("duration_seconds"), fmt)
            if error:
                return
            probs = np.asarray(probabilities, np.float32)
            emb = None if embedding is None else np.asarray(embedding, np.float32).tobytes()
            decided = record.get("decided")
            picture, seconds = (None, None) if taggram is None else (np.asarray(taggram[0], np.uint8).tobytes(),
                                                                     float(taggram[1]))
            db.execute("INSERT OR REPLACE INTO results (track, model, sha256, probabilities, embedding, decided, warning, "
                       "tagged, taggram, taggram_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (track, model_id, sha256, probs.tobytes(), emb, None if decided is None else json.dumps(decided),
                        record.get("warning"), time.time(), picture, seconds))
            chosen = set(decided or ())
            db.execute("DELETE FROM tags WHERE track = ? AND model = ?", (track, model_id))
            db.executemany("INSERT INTO tags (track, model, tag, probability, decided) VALUES (?, ?, ?, ?, ?)",
                           [(track, model_id, t, float(p), int(t in chosen)) for t, p in zip(tags, probs)])

    def touch(self, path, stat) -> None:
        """A file whose size or time changed but whose content did not: its new fingerprint."""
        with self.transaction() as db:
            db.execute("UPDATE tracks SET size = ?, mtime_ns = ?, updated = ? WHERE path = ?",
                       (stat.st_size, stat.st_mtime_ns, time.time(), fs_bytes(path)))

    def rewritten(self, path) -> None:
        """A file whose bytes changed but whose audio did not (its tags were written): its new
        fingerprint, and its current results follow it (it is not tagged again)."""
        stat, sha = os.stat(path), file_digest(path)
        with self.transaction() as db:
            db.execute("UPDATE results SET sha256 = ? WHERE track = (SELECT id FROM tracks WHERE path = ?) "
                       "AND sha256 = (SELECT sha256 FROM tracks WHERE path = ?)",
                       (sha, fs_bytes(path), fs_bytes(path)))
            db.execute("UPDATE tracks SET size = ?, mtime_ns = ?, sha256 = ?, updated = ? WHERE path = ?",
                       (stat.st_size, stat.st_mtime_ns, sha, time.time(), fs_bytes(path)))

    def revive(self, path) -> str:
        """A ``missing`` track found again, unchanged: ``tagged`` again, or ``error`` if it had failed.
        Returns the new status."""
        with self.transaction() as db:
            self._bump(db)
            db.execute("UPDATE tracks SET status = CASE WHEN error IS NULL THEN 'tagged' ELSE 'error' END, "
                       "updated = ? WHERE path = ?", (time.time(), fs_bytes(path)))
            return db.execute("SELECT status FROM tracks WHERE path = ?", (fs_bytes(path),)).fetchone()[0]

    def mark_missing(self, roots: Iterable[str], seen: set) -> int:
        """Tracks under ``roots`` that were not seen in this scan become ``missing`` (their tags are
        kept: a disk that was not mounted loses nothing). Returns how many."""
        prefixes = [fs_bytes(os.path.join(os.path.abspath(r), "")) for r in roots if os.path.isdir(r)]
        gone = []
        for track_id, path in self.db.execute("SELECT id, path FROM tracks WHERE status != 'missing'"):
            p = bytes(path)
            if p not in seen and any(p.startswith(prefix) for prefix in prefixes):
                gone.append(track_id)
        if gone:
            with self.transaction() as db:
                self._bump(db)
                db.executemany("UPDATE tracks SET status = 'missing', updated = ? WHERE id = ?",
                               [(time.time(), i) for i in gone])
        return len(gone)

    def counts(self) -> dict:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM tracks GROUP BY status").fetchall())

    def results(self, model_id: int) -> Iterator[dict]:
        """Every tagged, present track's result for a model version: ``path``, ``duration_seconds``,
        ``probabilities`` (tag → probability), ``decided``, ``warning``."""
        tags = json.loads(self.db.execute("SELECT tags FROM models WHERE id = ?", (model_id,)).fetchone()[0])
        query = ("SELECT t.path, t.duration, r.probabilities, r.decided, r.warning FROM results r JOIN tracks t "
                 "ON t.id = r.track WHERE r.model = ? AND t.status = 'tagged' AND r.sha256 = t.sha256 ORDER BY t.path")
        for path, duration, probs, decided, warning in self.db.execute(query, (model_id,)):
            p = np.frombuffer(probs, np.float32)
            yield {"path": fs_str(path), "duration_seconds": duration,
                   "probabilities": {t: float(v) for t, v in zip(tags, p)},
                   "decided": None if decided is None else json.loads(decided), "warning": warning}

    def pages(self, model_id: int, with_taggrams: bool = True) -> Iterator[tuple]:
        """Every tagged, present track's result for a model version as the catalog page reads it,
        by path: ``(path bytes, duration, float32 probabilities, decided list or None, warning,
        uint8 taggram bytes or None, seconds per taggram column or None)``."""
        picture = "r.taggram, r.taggram_seconds" if with_taggrams else "NULL, NULL"
        query = (f"SELECT t.path, t.duration, r.probabilities, r.decided, r.warning, {picture} FROM results r "
                 "JOIN tracks t ON t.id = r.track WHERE r.model = ? AND t.status = 'tagged' AND r.sha256 = t.sha256 "
                 "ORDER BY t.path")
        for path, duration, probs, decided, warning, taggram, seconds in self.db.execute(query, (model_id,)):
            yield (bytes(path), duration, np.frombuffer(probs, np.float32),
                   None if decided is None else json.loads(decided), warning, taggram, seconds)
