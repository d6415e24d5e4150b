"""Tagging audio files: paths and a model in, one record per track out.

:func:`tag_files` is what ``python -m tfmusictag.predict``, the Beam pipeline
(:mod:`tfmusictag.beam`) and the demo tag with; :func:`track_record` is the record of one tagged
track, the same in all of them. The model is anything :class:`~tfmusictag.serving.InferenceModel` loads:
an exported SavedModel (then nothing but TensorFlow runs the model), a training run's directory or
a pretrained name (``'MTT_musicnn'``).

Example::

    from tfmusictag.tagging import tag_files

    for record in tag_files(["~/Music/album", "song.mp3"], "MTT_musicnn", top_k=5):
        print(record["path"], record.get("tags") or record["error"])
"""

from __future__ import annotations

import collections
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from tfmusictag import audio
from tfmusictag.constants import DEFAULT_MODEL
from tfmusictag.errors import ParameterError
from tfmusictag.taggram import FORMATS
from tfmusictag.thresholds import describe_decision

__all__ = ["DAMAGED", "DEFAULT_MODEL", "tag_files", "tag_file", "tag_waveform", "track_record", "error_record",
           "expand_paths"]

#: ``damaged`` choices. The default, ``tag``, is what someone tagging a large personal library
#: wants: a file cut short by an interrupted copy, or with a damaged stretch, still gets tags from
#: the audio that survives, and the record says exactly what was wrong (nothing is hidden, as a
#: decoder that silently returns the readable part would); ``skip`` refuses such files. Training
#: stays strict: a damaged track never becomes a silently shorter training example.
DAMAGED = ("tag", "skip")


#: Tracks tagged at the same time (each by TensorFlow's thread pool; see :func:`tag_files`).
TRACKS_AT_ONCE = 2

#: The ``error`` of a record for an argument that matched no audio file starts with this.
UNMATCHED = "ParameterError: "


def _top(tags, probs, k):
    order = np.asarray(probs).argsort()[::-1][: (k or len(tags))]
    return {tags[i]: round(float(probs[i]), 4) for i in order}


def expand_paths(paths: Iterable[str]) -> Tuple[List[str], List[Tuple[int, str, str]]]:
    """Every audio file under ``paths`` (files, folders — recursive, sorted — and globs), in order,
    and the arguments that matched none.

    Returns:
        ``(files, unmatched)``: ``unmatched`` holds ``(position, arg, message)`` per argument that
        matched no audio file, ``position`` being where its files would be in ``files``.

    Raises:
        ParameterError: when no argument matches any audio file (nothing to do).
    """
    files, unmatched = [], []
    for arg in paths:
        found = list(audio.iter_audio_files([arg]))
        if not found:
            kind = "folder" if os.path.isdir(arg) else "pattern" if any(c in arg for c in "*?[") else "path"
            unmatched.append((len(files), arg, f"the {kind} {arg!r} matched no audio file (extensions: "
                                               f"{', '.join(audio.AUDIO_EXTENSIONS)})"))
        files += found
    if not files:
        raise ParameterError(unmatched[0][2] if len(unmatched) == 1 else
                             "no argument matched an audio file: " + "; ".join(m for _, _, m in unmatched))
    return files, unmatched


def error_record(path, exc: BaseException) -> dict:
    """The record of a file that could not be tagged: ``{"path", "decided": None, "tags": {},
    "error"}``, the error being its class and its one-line message, naming the file."""
    message = " ".join(str(exc).split()) or "no message"
    if str(path) not in message:
        message = f"{path}: {message}"
    return {"path": path, "decided": None, "tags": {}, "error": f"{type(exc).__name__}: {message}"}


def decoder_warning(notes) -> str:
    """One line for the decoder's notes on a damaged file (:func:`tfmusictag.audio.decoder_notes`)."""
    first = next((n for n in notes if "resync" not in n.lower()), notes[0])
    more = f" (and {len(notes) - 1} more notes)" if len(notes) > 1 else ""
    return f"the decoder skipped damaged data: {first}{more}"


def track_record(tagger, path, probs, timeline, frames, damage=(), top_k=10, threshold=None, notes=()) -> dict:
    """The record of one tagged track: ``path``, ``duration_seconds``, ``decided`` (the tags the
    model decides for, best first, by its rule: :meth:`~tfmusictag.serving.InferenceModel.decide`),
    ``decided_by`` (one line saying how: fitted where, or which rule), ``tags`` (the ``top_k`` best,
    tag → calibrated probability, best first; 0: all), ``warning`` for a damaged file tagged from
    its decodable part, and ``timeline`` (``start_seconds`` and ``tags`` of every segment) when
    asked for.

    ``probs``, ``timeline`` and ``frames`` are :meth:`~tfmusictag.serving.InferenceModel.tag_chunks`'s
    result; ``damage``: the error of a damaged file (a one-element sequence, or empty);
    ``threshold``: one cut for every tag instead of the model's rule. A model that decides
    nothing gives ``decided`` ``None`` and no ``decided_by``. ``notes``: the decoder's messages on damaged data
    (a ``warning`` too).

    Every record has ``path``, ``decided`` and ``tags``; a tagged track also ``duration_seconds``,
    a track that could not be tagged ``error`` (:func:`error_record`).
    """
    duration = (frames - 1) * tagger.front_end.hop_length / tagger.sample_rate
    result = {"path": path, "duration_seconds": round(duration, 2)}
    mask = tagger.decide(probs, threshold)
    result["decided"] = None if mask is None else [
        tagger.tags[i] for i in np.argsort(-np.asarray(probs), kind="stable") if mask[i]]
    if mask is not None:
        result["decided_by"] = describe_decision(tagger.decision, tagger.thresholds, None, threshold) if (
            threshold is not None) else tagger.decided_by
    result["tags"] = _top(tagger.tags, probs, top_k)
    if damage:
        result["warning"] = f"{type(damage[0]).__name__}: {damage[0]}; tagged the {duration:.2f} s that could be decoded"
    elif notes:
        result["warning"] = decoder_warning(notes)
    if timeline:
        seg, mask = np.asarray(timeline["segment_probabilities"][0]), np.asarray(timeline["segment_mask"][0])
        starts = np.asarray(timeline["segment_start_seconds"])
        result["timeline"] = [{"start_seconds": round(float(starts[s]), 2), "tags": _top(tagger.tags, seg[s], top_k)}
                              for s in range(len(mask)) if mask[s]]
    return result


def tag_files(paths: Sequence[str], model=DEFAULT_MODEL, *, top_k: int = 10, timeline: bool = False,
              stream_above_minutes: float = 10.0, damaged: str = "tag", threshold=None,
              embedding: bool = False, plot: Optional[str] = None, plot_format: str = "png") -> Iterator[dict]:
    """Tag every audio file under ``paths`` with ``model``: one record per track, in order.

    Args:
        paths: files, folders (recursive, sorted) and globs, in the order the records come.
        model: a :class:`~tfmusictag.serving.InferenceModel`, or what it loads (a SavedModel version
            folder, a training run's directory, a pretrained name); default :data:`DEFAULT_MODEL`.
        top_k: tags per record, best first (0: all).
        timeline: also the tags of every segment (29.12 s; 3 s for musicnn's models).
        stream_above_minutes: files up to this length are decoded whole, two tracks at a time
            (each decoded and tagged by a worker thread); longer ones block by block as the model
            goes, alone (the output is the same; memory stays bounded for any length).
        damaged: ``'tag'``: a truncated or part-corrupt file is tagged from the audio that can be
            decoded, its record carrying a ``warning``; ``'skip'``: it gets an ``error`` record.
        threshold: one probability cut for every tag, in place of the model's own rule;
            ``None``: the model's.
        embedding: also the track's ``embedding`` (a list of floats; ``None`` for a model that
            tags tracks whole, such as the LSTM variants): what similar tracks are found by.
        plot: a folder to draw every tagged track's taggram into (:mod:`tfmusictag.taggram`:
            ``<file name>.png``, ``-2``, ``-3``… added where names repeat); the record's
            ``taggram`` is its path. ``None``: none drawn.
        plot_format: ``'png'`` or ``'svg'``.

    Yields:
        One dict per file, in order, every one with ``path``, ``decided`` (a list, or ``None``
        when the model decides nothing and no ``threshold`` is given) and ``tags``:
        :func:`track_record` for a tagged track (with ``warning`` for a damaged one); for a file
        that cannot be tagged, whatever the reason, :func:`error_record` (``decided`` ``None``,
        ``tags`` empty, ``error``: the error's class and one-line message, naming the file) — the
        other files are still tagged; for an argument that matches no audio file the same with
        ``"error": "ParameterError: ..."`` at its place. Nothing is skipped silently. The decoders'
        own messages never reach standard error: they become the record's ``warning``. A caller
        that stops reading early (``break``) does not wait for the tracks in flight.

    Raises:
        ParameterError: a bad ``damaged``, or no argument matches any audio file (before the model
            is loaded). A model that cannot be loaded raises as :class:`~tfmusictag.serving.InferenceModel` does.
    """
    from tfmusictag.serving import InferenceModel

    if damaged not in DAMAGED:
        raise ParameterError(f"damaged={damaged!r} must be one of {DAMAGED}")
    if threshold is not None and not 0 <= float(threshold) <= 1:
        raise ParameterError(f"threshold={threshold!r} must be a probability in [0, 1]")
    if plot is not None and plot_format not in FORMATS:
        raise ParameterError(f"plot_format={plot_format!r} must be one of {FORMATS}")
    files, unmatched = expand_paths(paths)
    pictures = _picture_paths(files, plot, plot_format) if plot is not None else {}
    tagger = model if isinstance(model, InferenceModel) else InferenceModel(model)
    stream = {}
    for f in files:
        try:
            stream[f] = tagger.streamable() and audio.info(f).duration > 60 * stream_above_minutes
        except Exception:  # noqa: BLE001 - decoding it reports the error, in its place
            stream[f] = False

    def unmatched_until(position):
        while unmatched and unmatched[0][0] <= position:
            _, arg, message = unmatched.pop(0)
            yield {"path": arg, "decided": None, "tags": {}, "error": UNMATCHED + message}

    stop = threading.Event()  # set when the caller stops reading: tracks in flight end at their next chunk

    def until_stopped(chunks):
        for chunk in chunks:
            if stop.is_set():
                raise _Stopped()
            yield chunk

    def tag(path, streamed=False):
        """One track's record, decoded and tagged; runs in a worker thread (libsndfile, soxr and
        TensorFlow release the GIL). No error of one track, of any kind, ends the others: it
        becomes that track's error record."""
        try:
            with audio.decoder_notes() as notes:
                damage = []
                if streamed:  # decoded block by block as the model goes
                    kept = damage if damaged == "tag" else None
                    blocks = lambda: tagger.stream_blocks(path, damage=kept)  # noqa: E731
                else:
                    y, problem = audio.load(path, tagger.sample_rate, damaged="keep")
                    if problem is not None and (damaged == "skip" or not len(y)):
                        raise problem
                    damage += [problem] if problem is not None else []
                    blocks = lambda: [y]  # noqa: E731
                # the front end and the model run chunk by chunk (bounded memory for any length)
                probs, tl, frames, emb = tagger.tag_chunks(until_stopped(tagger.log_mel_chunks(blocks)),
                                                           timeline or plot is not None, embedding=True)
        except _Stopped:
            return None
        except Exception as exc:  # noqa: BLE001 - one track's failure (an AudioFileError or anything else) is its record
            return error_record(path, exc)
        record = track_record(tagger, path, probs, tl if timeline else None, frames, damage, top_k, threshold, notes)
        if embedding:
            record["embedding"] = None if emb is None else [float(v) for v in emb]
        if plot is not None:
            _draw(record, tagger, probs, tl, pictures[path])
        return record

    def ready(record):
        done = Future()
        done.set_result(record)
        return done

    # Two tracks decoded and tagged at once, each by a worker thread: a 3 s patch is too small a job
    # for TensorFlow to keep two cores busy with (reductions, gathers, the front end), and decoding
    # overlaps tagging; records still come in order, and at most two tracks are in memory.
    pending = collections.deque()
    # TensorFlow's one-off set-up runs while the first tracks are decoded
    threading.Thread(target=tagger.warm_up, args=(timeline or plot is not None,), daemon=True,
                     name="tfmusictag-warm-up").start()
    pool = ThreadPoolExecutor(max_workers=TRACKS_AT_ONCE, thread_name_prefix="tfmusictag-tag")
    try:
        for i, path in enumerate(files):
            pending.extend(ready(r) for r in unmatched_until(i))
            if stream[path]:  # a long file: alone (its blocks in memory, nothing else), after the others
                while pending:
                    yield pending.popleft().result()
                yield tag(path, streamed=True)
                continue
            pending.append(pool.submit(tag, path))
            while len(pending) > TRACKS_AT_ONCE or (pending and pending[0].done()):
                yield pending.popleft().result()
        pending.extend(ready(r) for r in unmatched_until(len(files)))
        while pending:
            yield pending.popleft().result()
    finally:  # also when the caller stops early (break, a closed pipe): it does not wait for tracks in flight
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)


def _picture_paths(files, folder: str, fmt: str) -> dict:
    """Each file's taggram path in ``folder``: its name with ``.<fmt>`` in place of its extension,
    ``-2``, ``-3``… added in argument order where names repeat."""
    taken, out = set(), {}
    for f in files:
        stem = os.path.splitext(os.path.basename(f))[0] or "track"
        name, n = f"{stem}.{fmt}", 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}.{fmt}"
        taken.add(name)
        out[f] = os.path.join(folder, name)
    return out


def _draw(record: dict, tagger, probs, tl, path: str) -> None:
    """Draw a tagged track's taggram into ``path`` and name it in the record (``taggram``); a
    drawing that fails (a full disk) is the record's ``warning``, its tags are kept."""
    from tfmusictag.taggram import clock, save_taggram

    mask = np.asarray(tl["segment_mask"][0], bool)
    title = f"{os.path.basename(record['path'])} ({clock(record.get('duration_seconds', 0) / 60)})"
    try:
        record["taggram"] = save_taggram(
            path, np.asarray(tl["segment_probabilities"][0])[mask], np.asarray(tl["segment_start_seconds"])[mask],
            tagger.tags, segment_seconds=tagger.segment_seconds, track_probabilities=probs,
            decided=record.get("decided") or (), title=title)
    except Exception as exc:  # noqa: BLE001 - the tags stand without their picture
        note = f"taggram not drawn ({type(exc).__name__}: {exc})"
        record["warning"] = f"{record['warning']}; {note}" if "warning" in record else note


class _Stopped(Exception):
    """The caller stopped reading the records (see :func:`tag_files`)."""


def tag_file(path, model=DEFAULT_MODEL, **kwargs) -> dict:
    """One file's record (:func:`tag_files` with one path and the same keyword arguments).

    Raises:
        AudioFileError: the file cannot be tagged (the error :func:`tag_files` would put in its
            record, raised: one file asked for, one answer or one error).
        ParameterError: ``path`` is not an audio file.
    """
    from tfmusictag.errors import AudioFileError

    if not os.path.isfile(path):
        raise ParameterError(f"{path}: no such file" if not os.path.exists(path) else f"{path} is not a file")
    record = next(iter(tag_files([path], model, **kwargs)))
    if "error" in record:  # "<class>: <path>: <problem>": raised with the record's own message
        message = record["error"].split(": ", 1)[-1]
        error = AudioFileError(path, message[len(f"{path}: "):] if message.startswith(f"{path}: ") else message)
        error.args = (message,)
        raise error
    return record


def tag_waveform(y, sample_rate: int, model=DEFAULT_MODEL, *, top_k: int = 10, timeline: bool = False,
                 threshold=None, embedding: bool = False, name: str = "<waveform>") -> dict:
    """Tag audio already in memory, as :func:`tag_files` tags a file: resampled to the model's rate
    (libsoxr, as files are), cut into the model's chunks, tagged whole however long it is.

    Args:
        y: samples, ``(n,)`` mono or ``(n, channels)`` (averaged to mono), any float or integer type
            (integers are scaled to [-1, 1]).
        sample_rate: the samples' rate in Hz.
        model: as in :func:`tag_files`.
        top_k: as in :func:`tag_files`.
        timeline: as in :func:`tag_files`.
        threshold: as in :func:`tag_files`.
        embedding: as in :func:`tag_files`.
        name: the record's ``path``.

    Returns:
        The record :func:`tag_files` would give for a file holding ``y``.

    Raises:
        ParameterError: ``y`` is empty, not finite, of more than two dimensions, or ``sample_rate`` is
            not positive.
    """
    import soxr

    from tfmusictag.serving import InferenceModel

    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer):
        y = y.astype(np.float32) / float(np.iinfo(y.dtype).max)
    y = np.asarray(y, np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1, dtype=np.float32)
    if y.ndim != 1 or not y.size:
        raise ParameterError(f"{name}: a waveform is (samples,) or (samples, channels) with samples; received "
                             f"shape {y.shape}")
    if not np.isfinite(y).all():
        raise ParameterError(f"{name}: the waveform holds NaN or infinite samples")
    if not sample_rate or int(sample_rate) <= 0:
        raise ParameterError(f"sample_rate={sample_rate!r} must be a positive number of Hz")
    tagger = model if isinstance(model, InferenceModel) else InferenceModel(model)
    if int(sample_rate) != tagger.sample_rate:
        y = soxr.resample(y, int(sample_rate), tagger.sample_rate, quality="HQ").astype(np.float32)
    probs, tl, frames, emb = tagger.tag_chunks(tagger.log_mel_chunks(lambda: [y]), timeline, embedding=True)
    record = track_record(tagger, name, probs, tl if timeline else None, frames, (), top_k, threshold)
    if embedding:
        record["embedding"] = None if emb is None else [float(v) for v in emb]
    return record
