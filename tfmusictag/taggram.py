"""Taggrams: a track's tags over time, as a picture.

A taggram (musicnn's name for it) shows a whole track at a glance: one row per tag, the model's
best first (by the track's probability), one column per segment at its real start time, the
colour the segment's probability (the timeline of :func:`tfmusictag.tagging.tag_files` with
``timeline=True``; 29.12 s segments for the thesis's models, 3 s patches for musicnn's). The
decided tags are marked beside their rows. The time axis is in minutes and seconds, and a track's
segments are drawn as one image, so a 60-minute track (1,200 musicnn patches) is as readable and as
cheap to draw as a 10-minute one: the figure's size depends on the number of tags shown, never on
the track's length.

Drawing uses Matplotlib's object interface (no ``pyplot`` state), so tracks can be drawn from the
worker threads that tag them. ``.png`` and ``.svg`` are written (chosen by the file's extension).
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from tfmusictag.errors import ParameterError

__all__ = ["taggram_figure", "save_taggram", "kept_taggram", "clock", "FORMATS", "MAX_TAGS", "KEPT_COLUMNS"]

#: File formats :func:`save_taggram` writes.
FORMATS = ("png", "svg")
#: Rows of a taggram by default: the model's best tags for the track.
MAX_TAGS = 20
#: Columns of a taggram kept in the library store (:func:`kept_taggram`): a 4-minute track at
#: musicnn's 3 s patches keeps all its 80; longer tracks are averaged down to these.
KEPT_COLUMNS = 120
#: Spacings of the time axis's ticks, in seconds: the first that gives at most 10 ticks.
TICK_SECONDS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def clock(minutes: float, _=None) -> str:
    """``m:ss`` of a time in minutes."""
    seconds = int(round(minutes * 60))
    return f"{seconds // 60}:{seconds % 60:02d}"


def taggram_figure(segment_probabilities, start_seconds, tags: Sequence[str], *, segment_seconds: float,
                   track_probabilities=None, decided: Sequence[str] = (), max_tags: int = MAX_TAGS,
                   title: Optional[str] = None):
    """A Matplotlib ``Figure`` of one track's taggram.

    Args:
        segment_probabilities: ``(segments, tags)`` probabilities of every segment.
        start_seconds: ``(segments,)`` each segment's start time in the track.
        tags: the model's tag names, in column order.
        segment_seconds: a segment's length (the last column ends at its start plus this).
        track_probabilities: ``(tags,)`` the whole track's probabilities, which order the rows
            (best first); default: the mean over segments.
        decided: the tags the model decided for the track, marked beside their rows.
        max_tags: rows shown (the best tags, and every decided tag); 0: every tag.
        title: drawn above (e.g. the file's name and length).

    Raises:
        ParameterError: the shapes disagree, or there is no segment.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    p = np.asarray(segment_probabilities, np.float32)
    starts = np.asarray(start_seconds, np.float64)
    if p.ndim != 2 or p.shape[1] != len(tags) or starts.shape != (p.shape[0],) or not len(starts):
        raise ParameterError(f"a taggram needs (segments, {len(tags)}) probabilities and one start time per "
                             f"segment; received {p.shape} and {starts.shape}")
    track = np.asarray(track_probabilities, np.float64) if track_probabilities is not None else p.mean(0)
    decided = set(decided or ())
    order = np.argsort(-track, kind="stable")
    shown = max(max_tags or len(tags), len(decided))  # every decided tag has its row
    rows = np.array([j for j in order if tags[j] in decided]
                    + [j for j in order if tags[j] not in decided][: shown - len(decided)], int)
    rows = rows[np.argsort(-track[rows], kind="stable")]
    start_min = float(starts[0]) / 60
    end_min = (float(starts[-1]) + float(segment_seconds)) / 60
    top, bottom, height = 0.4, 0.75, 0.26 * len(rows)  # inches: the size follows the rows, not the length
    fig = Figure(figsize=(10.0, top + height + bottom), dpi=100)
    total = top + height + bottom
    ax = fig.add_axes((0.2, bottom / total, 0.68, height / total))
    image = ax.imshow(p[:, rows].T, aspect="auto", interpolation="nearest", origin="upper", cmap="magma",
                      vmin=0.0, vmax=1.0, extent=(start_min, end_min, len(rows) - 0.5, -0.5))
    ax.set_yticks(range(len(rows)))
    labels = ax.set_yticklabels([("● " if tags[j] in decided else "") + tags[j] for j in rows])
    for label, j in zip(labels, rows):
        if tags[j] in decided:
            label.set_fontweight("bold")
        else:
            label.set_color("0.35")
    span = (end_min - start_min) * 60
    step = next((s for s in TICK_SECONDS if span / s <= 10), TICK_SECONDS[-1])
    ax.xaxis.set_major_locator(MultipleLocator(step / 60))
    ax.xaxis.set_major_formatter(FuncFormatter(clock))
    ax.set_xlabel("time (min:s)")
    ax.set_xlim(start_min, end_min)
    cax = fig.add_axes((0.9, bottom / total, 0.015, height / total))
    fig.colorbar(image, cax=cax, label="probability")
    caption = "● decided; " if decided else ""
    fig.text(0.2, 0.08 / total, f"{caption}rows: the track's best tags, best first", fontsize=8, color="0.35")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    return fig


def save_taggram(path: str, segment_probabilities, start_seconds, tags: Sequence[str], **kwargs) -> str:
    """Draw :func:`taggram_figure` (same arguments) into ``path`` (``.png`` or ``.svg``, written
    through a temporary file and a rename); returns ``path``."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise ParameterError(f"{path}: a taggram is written as {' or '.join('.' + f for f in FORMATS)}")
    fig = taggram_figure(segment_probabilities, start_seconds, tags, **kwargs)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format=ext)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def kept_taggram(segment_probabilities, start_seconds, segment_seconds: float, columns: int = None):
    """A track's taggram as the library store keeps it: ``(uint8 (columns, tags), seconds per
    column)``, probabilities ×255 rounded (a picture needs no more), at most ``columns``
    (:data:`KEPT_COLUMNS`) columns whatever the track's length, so a store of 100,000 tracks holds
    their pictures in a few hundred MB.

    Segments are kept as they are when there are at most ``columns``; more are averaged in
    ``columns`` runs of consecutive segments (as many in each, ±1), each run a column of equal time.

    Args:
        segment_probabilities: ``(segments, tags)``.
        start_seconds: ``(segments,)``, increasing, evenly spaced (as the models' segments are).
        segment_seconds: a segment's length: a lone segment's column width.
        columns: at most this many columns (default :data:`KEPT_COLUMNS`).

    Raises:
        ParameterError: no segment, or the shapes disagree.
    """
    columns = KEPT_COLUMNS if columns is None else int(columns)
    seg = np.asarray(segment_probabilities, np.float32)
    starts = np.asarray(start_seconds, np.float64)
    if seg.ndim != 2 or not len(seg) or starts.shape != (len(seg),) or columns < 1:
        raise ParameterError(f"a taggram needs (segments, tags) probabilities and a start time per segment; got "
                             f"{seg.shape} and {starts.shape}")
    step = float(np.median(np.diff(starts))) if len(starts) > 1 else float(segment_seconds)
    if len(seg) > columns:
        seg = np.stack([run.mean(axis=0) for run in np.array_split(seg, columns)])
        step *= len(starts) / columns
    return np.round(np.clip(seg, 0.0, 1.0) * 255).astype(np.uint8), step
