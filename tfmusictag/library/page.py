"""The catalog page: a library store's tracks in a browser — filtered by tags, sorted by a tag's
probability, searched by name, each track's taggram on a click, a playlist of what is filtered.

:func:`write_page` writes a folder that opens from disk with no network and no server:
``index.html`` (the page, its script and style, and the tracks' data inline: names, lengths,
decided tags, every tag's probability ×255 as one base64 block) and ``taggrams/NNNNN.js`` (the
taggrams the store keeps, :func:`tfmusictag.taggram.kept_taggram`, :data:`CHUNK` tracks to a file,
loaded by the page on the first click into one of them: a ``<script>`` loads from ``file://``
where ``fetch`` may not). The page filters with the query language of ``library search`` (``piano
-vocals dark>0.7``), shows :data:`PAGE_SIZE` tracks at a time, and draws taggrams on a canvas with
the colours of :func:`tfmusictag.taggram.taggram_figure`. The data is one byte per tag and track
plus the names, and filtering and sorting all tracks is a loop over typed arrays, so the page
stays responsive at 100,000 tracks (``benchmarks/bench_catalog_page.py`` measures it in Chromium). Names are set as text, never as
HTML, so a file called ``<script>`` is shown as it is.

The folder is written beside the target and swapped in whole, so a page being rewritten is never
half old, half new; an existing folder is replaced only if it holds a catalog page (or nothing).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import tempfile
from typing import Optional

import numpy as np

from tfmusictag.errors import ParameterError
from tfmusictag.library.query import model_version, search
from tfmusictag.library.store import Store, fs_str

__all__ = ["write_page", "PAGE_SIZE", "CHUNK", "TAGGRAM_ROWS"]

#: Tracks shown at a time (the rest a click on "next" away).
PAGE_SIZE = 100
#: Tracks per taggram file.
CHUNK = 500
#: Rows of a taggram on the page: the track's best tags, and every decided tag.
TAGGRAM_ROWS = 16
_MARK = ".tfmusictag-catalog"
_TEMPLATE = os.path.join(os.path.dirname(__file__), "catalog.html")


def _b64(array) -> str:
    return base64.b64encode(np.ascontiguousarray(array, np.uint8).tobytes()).decode("ascii")


def _colormap() -> str:
    """Magma as 256 RGB bytes: the colours of the taggram pictures."""
    from matplotlib import colormaps

    return _b64(np.round(colormaps["magma"](np.arange(256))[:, :3] * 255))


def _taggram_entry(picture: Optional[bytes], seconds, probs: np.ndarray, decided_mask: np.ndarray):
    """One track's taggram as the page draws it: the rows (best tags, every decided one), best first."""
    if picture is None or not seconds:
        return None
    tags = len(probs)
    cells = np.frombuffer(picture, np.uint8)
    if cells.size == 0 or cells.size % tags:
        return None
    cells = cells.reshape(-1, tags)
    order = np.argsort(-probs, kind="stable")
    decided = [int(j) for j in order if decided_mask[j]]
    rest = [int(j) for j in order if not decided_mask[j]][: max(0, TAGGRAM_ROWS - len(decided))]
    rows = sorted(decided + rest, key=lambda j: -probs[j])
    return {"rows": rows, "columns": int(cells.shape[0]), "seconds": round(float(seconds), 3),
            "data": _b64(cells[:, rows].T)}


def _script_json(value) -> str:
    """JSON that can sit inside a ``<script>`` element whatever the strings hold."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "&", "\\u0026")


def write_page(store: Store, output: str, *, query: str = "", model: Optional[str] = None, cut: float = 0.5) -> dict:
    """Write the catalog page of ``store`` into the folder ``output``.

    Args:
        store: an open :class:`~tfmusictag.library.store.Store`.
        output: the folder to write (created; replaced if it holds an earlier catalog page).
        query: only the tracks that match (``library search``'s language); '' for every track.
        model: which model version's tags (name or digest start; ``None``: the latest). A store
            with no tagged track still gets a page, which says how to tag a folder.
        cut: for a model without decisions, the probability at which a tag counts as present.

    Returns:
        ``{"index": path of index.html, "tracks": count, "bytes": size of the folder's files}``.

    Raises:
        ParameterError: ``output`` is a file, or a folder holding something other than a catalog
            page; an unknown model or a query naming no tag of the model.
    """
    output = os.path.abspath(os.path.expanduser(output))
    if os.path.exists(output) and not os.path.isdir(output):
        raise ParameterError(f"--output={output}: a file is there; give a folder for the catalog page")
    if os.path.isdir(output) and os.listdir(output) and not os.path.exists(os.path.join(output, _MARK)):
        raise ParameterError(f"--output={output}: the folder holds files that are not a catalog page; give a new "
                             "or empty folder (an earlier catalog page is replaced)")
    with open(_TEMPLATE, encoding="utf-8") as f:
        template = f.read()

    versions = store.models()
    chosen = model_version(store, model) if (versions or model) else None
    tags = chosen["tags"] if chosen else []
    decides = bool(chosen) and not chosen["decides"].startswith("no decisions")
    wanted = None
    if chosen and query.strip():
        wanted = {t["path"] for t in search(store, query, model=chosen["digest"], cut=cut)}

    paths, durations, decided, warnings, probabilities, taggrams = [], [], [], {}, [], []
    index = {t: j for j, t in enumerate(tags)}
    for path, duration, probs, chosen_tags, warning, picture, seconds in (
            store.pages(chosen["id"]) if chosen else ()):
        name = fs_str(path)
        if wanted is not None and name not in wanted:
            continue
        mask = np.zeros(len(tags), bool)
        if decides and chosen_tags:
            mask[[index[t] for t in chosen_tags if t in index]] = True
        elif not decides:
            mask = probs >= cut
        if warning:
            warnings[len(paths)] = warning
        paths.append(name)
        durations.append(None if duration is None else round(float(duration), 2))
        decided.append([index[t] for t in chosen_tags if t in index] if decides and chosen_tags else
                       [int(j) for j in np.argsort(-probs, kind="stable") if mask[j]])  # best first
        probabilities.append(np.round(np.clip(probs, 0, 1) * 255).astype(np.uint8))
        taggrams.append(_taggram_entry(picture, seconds, probs, mask))

    data = {
        "tags": tags, "paths": paths, "durations": durations, "decides": decides, "cut": float(cut),
        "decided": decided, "warnings": warnings,
        "probabilities": _b64(np.concatenate(probabilities) if probabilities else np.zeros(0)),
        "colormap": _colormap(), "page_size": PAGE_SIZE, "chunk": CHUNK,
        "taggrams": any(t is not None for t in taggrams),
        "model": chosen["name"] if chosen else "no model yet",
        "decided_by": chosen["decides"] if chosen else "",
        "written": datetime.datetime.now().strftime("%Y-%m-%d %H:%M") + (f" · query: {query}" if query.strip() else ""),
    }
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.", dir=parent)
    try:
        with open(os.path.join(staging, "index.html"), "w", encoding="utf-8") as f:
            f.write(template.replace("/*DATA*/", _script_json(data), 1))
        if data["taggrams"]:
            os.mkdir(os.path.join(staging, "taggrams"))
            for c in range(0, len(taggrams), CHUNK):
                with open(os.path.join(staging, "taggrams", f"{c // CHUNK:05d}.js"), "w", encoding="ascii") as f:
                    f.write(f"tfmusictagTaggrams({c // CHUNK},{_script_json(taggrams[c:c + CHUNK])});\n")
        open(os.path.join(staging, _MARK), "w").close()
        os.chmod(staging, 0o755)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(staging) for f in fs)
        old = None
        if os.path.isdir(output):
            old = output + f".old-{os.getpid()}"
            os.replace(output, old)
        os.replace(staging, output)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"index": os.path.join(output, "index.html"), "tracks": len(paths), "bytes": size}
