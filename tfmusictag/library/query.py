"""Searching the library store: tags as expressions, sorted by a tag's probability, out as JSON
lines, CSV or an M3U playlist.

A query is words, each a condition on one tag (quote a tag of several words: ``"female vocals"``):

* ``dark``: the model decided ``dark`` (for a model without decisions: probability ≥ ``cut``);
* ``-vocals``: it did not;
* ``dark>0.7`` / ``dark<0.2``: a probability cut.

Every condition must hold. The query is parsed into SQL *parameters*, never into SQL text.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
import re
import shlex
import urllib.parse
from typing import Iterable, List, Optional

import numpy as np

from tfmusictag.errors import ParameterError
from tfmusictag.library.store import Store, fs_str

__all__ = ["parse_query", "search", "write_jsonl", "write_csv", "write_m3u", "FORMATS"]

FORMATS = ("jsonl", "csv", "m3u")
_TERM = re.compile(r"^(?P<neg>-?)(?P<tag>.+?)(?:(?P<op>[<>]=?)(?P<value>[0-9]*\.?[0-9]+))?$")


def parse_query(query: str, tags: Iterable[str]) -> List[tuple]:
    """``[(tag, op, value)]`` of a query; ``op`` is ``'decided'``, ``'not decided'``, ``'>='``, ``'>'``,
    ``'<='`` or ``'<'``. An unknown tag raises :class:`~tfmusictag.errors.ParameterError` naming the
    closest tags of the model."""
    vocabulary = list(tags)
    try:
        words = shlex.split(query)
    except ValueError as exc:
        raise ParameterError(f"query {query!r}: {exc}") from None
    terms = []
    for word in words:
        m = _TERM.match(word)
        tag = m.group("tag").strip()
        if tag not in vocabulary:
            close = difflib.get_close_matches(tag, vocabulary, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ParameterError(f"query {query!r}: the model has no tag {tag!r}{hint} (its tags: "
                                 f"{', '.join(vocabulary[:12])}{', …' if len(vocabulary) > 12 else ''})")
        if m.group("op"):
            if m.group("neg"):
                raise ParameterError(f"query {query!r}: {word!r} negates a probability cut; write {tag}<P instead")
            value = float(m.group("value"))
            if not 0 <= value <= 1:
                raise ParameterError(f"query {query!r}: {word!r} needs a probability in [0, 1]")
            terms.append((tag, m.group("op"), value))
        else:
            terms.append((tag, "not decided" if m.group("neg") else "decided", None))
    return terms


def search(store: Store, query: str = "", *, model: Optional[str] = None, sort: Optional[str] = None,
           limit: Optional[int] = None, cut: float = 0.5) -> List[dict]:
    """Tracks of ``store`` whose tags match ``query`` (see the module docstring).

    Args:
        store: an open store.
        query: the conditions ('' matches every tagged track).
        model: a model version's digest (or its start) or name; ``None``: the version added last.
        sort: a tag: best first by its probability; ``None``: by path.
        limit: at most this many tracks.
        cut: for a model without decisions, the probability at which a bare tag counts as present.

    Returns:
        ``[{"path", "duration_seconds", "decided", "probabilities", "warning"}]``.
    """
    chosen = model_version(store, model)
    tags = chosen["tags"]
    decides = not chosen["decides"].startswith("no decisions")
    where, params = ["r.model = ?", "t.status = 'tagged'", "r.sha256 = t.sha256"], [chosen["id"]]
    for tag, op, value in parse_query(query, tags):
        if op in ("decided", "not decided"):
            condition, args = ("decided = 1", []) if decides else ("probability >= ?", [cut])
            inside = "NOT IN" if op == "not decided" else "IN"
        else:
            condition, args, inside = f"probability {op} ?", [value], "IN"
        where.append(f"t.id {inside} (SELECT track FROM tags WHERE model = ? AND tag = ? AND {condition})")
        params += [chosen["id"], tag, *args]
    order, join = "t.path", ""
    if sort is not None:
        if sort not in tags:
            close = difflib.get_close_matches(sort, tags, n=3)
            raise ParameterError(f"--sort={sort!r}: the model has no such tag"
                                 + (f"; did you mean {', '.join(close)}?" if close else ""))
        # the tag's rows in the (model, tag, probability) index, walked from the top: a limit stops early
        join, order = "JOIN tags s ON s.track = r.track AND s.model = r.model AND s.tag = ? ", "s.probability DESC, t.path"
        params.insert(0, sort)
    sql = (f"SELECT t.path, t.duration, r.probabilities, r.decided, r.warning FROM results r JOIN tracks t "
           f"ON t.id = r.track {join}WHERE {' AND '.join(where)} ORDER BY {order}")
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    out = []
    for path, duration, probs, decided, warning in store.db.execute(sql, params):
        p = np.frombuffer(probs, np.float32)
        out.append({"path": fs_str(path), "duration_seconds": duration,
                    "decided": None if decided is None else json.loads(decided),
                    "probabilities": {t: round(float(v), 4) for t, v in zip(tags, p)}, "warning": warning})
    return out


def model_version(store: Store, model: Optional[str]) -> dict:
    """The model version called ``model`` (its name or the start of its digest) in ``store``; ``None``:
    the one added last."""
    versions = store.models()
    if not versions:
        raise ParameterError(f"{store.path} holds no tagged tracks yet: run `python -m tfmusictag.library update "
                             "FOLDER --model=...` first")
    if model is None:
        return versions[-1]
    found = [v for v in versions if v["digest"].startswith(model) or v["name"] == model]
    if not found:
        names = ", ".join(f"{v['name']} ({v['digest'][:12]})" for v in versions)
        raise ParameterError(f"--model={model!r} has tagged nothing in {store.path}; its models: {names}")
    return found[-1]


def write_jsonl(tracks, out) -> None:
    for track in tracks:
        out.write(json.dumps(track) + "\n")  # ASCII: a name that is not UTF-8 round-trips


def write_csv(tracks, out) -> None:
    writer = csv.writer(out)
    writer.writerow(["path", "duration_seconds", "decided", "tags"])
    for track in tracks:
        best = sorted(track["probabilities"].items(), key=lambda kv: -kv[1])
        writer.writerow([track["path"], track["duration_seconds"], ";".join(track["decided"] or []),
                         ";".join(f"{t}:{p:.3f}" for t, p in best)])


def _m3u_location(path: str) -> str:
    """A path as an M3U entry: as it is, or as a ``file://`` URI when a line cannot hold it (a
    newline or a carriage return in the name, bytes that are not UTF-8)."""
    try:
        path.encode("utf-8")
        plain = "\n" not in path and "\r" not in path
    except UnicodeEncodeError:
        plain = False
    if plain:
        return path
    return "file://" + urllib.parse.quote(os.fsencode(os.path.abspath(path)))


def write_m3u(tracks, out) -> None:
    """An extended M3U playlist (UTF-8: save it as ``.m3u8`` or ``.m3u``): ``#EXTINF`` with the length
    and the file's name, then its path."""
    out.write("#EXTM3U\n")
    for track in tracks:
        seconds = int(round(track["duration_seconds"] or -1))
        title = os.path.splitext(os.path.basename(track["path"]))[0]
        title = title.encode("utf-8", "replace").decode("utf-8").replace("\n", " ").replace("\r", " ")
        out.write(f"#EXTINF:{seconds},{title}\n{_m3u_location(track['path'])}\n")


def render(tracks, fmt: str) -> str:
    """``tracks`` in ``fmt`` (one of :data:`FORMATS`) as text."""
    if fmt not in FORMATS:
        raise ParameterError(f"format={fmt!r} must be one of {FORMATS}")
    buf = io.StringIO()
    {"jsonl": write_jsonl, "csv": write_csv, "m3u": write_m3u}[fmt](tracks, buf)
    return buf.getvalue()
