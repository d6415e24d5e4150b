"""The one bridge from the decoder into ``tf.data``: typed errors, never an exception in the graph.

Every pipeline that decodes audio — :func:`audio_dataset` (files) and
:func:`tfmusictag.data.track_features` (the encoded bytes of a TFDS example, for training and
evaluation) — goes through :func:`decode_op`. Decoding runs in Python (``tf.numpy_function``)
with the GIL released by libsndfile and libsoxr, so a parallel ``map`` decodes on all cores.

A file that fails yields empty audio and its error *typed*: the index of the error class in
:data:`tfmusictag.errors.AUDIO_ERROR_TYPES` (``error_type``, 0 = no error) and the cause
(``error_reason``) as separate tensors. :func:`raise_for_error` rebuilds the exact exception
from them — path and reason as they were, whatever characters the path holds.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import tensorflow as tf
from absl import logging

from tfmusictag import constants
from tfmusictag.audio import PathLike, _fspath, decode, load, usable_cores
from tfmusictag.errors import AUDIO_ERROR_TYPES, AudioFileError

__all__ = ["decode_op", "audio_dataset", "error_from", "raise_for_error"]

_CODE = {cls: i + 1 for i, cls in enumerate(AUDIO_ERROR_TYPES)}


def _decode_py(source, name, from_bytes, sample_rate, max_samples, quality, log_errors, damaged):
    """numpy_function body: ``(audio, error_type, error_reason)``."""
    label = name.decode("utf-8", "replace") if name else _fspath(source)
    damaged = damaged.decode()
    try:
        if from_bytes:
            out = decode(source, label, int(sample_rate), resample_quality=quality.decode(), damaged=damaged)
        else:
            out = load(source, int(sample_rate), resample_quality=quality.decode(), damaged=damaged)
        y, damage = out if damaged == "keep" else (out, None)
        if max_samples > 0:
            y = y[:max_samples]
        if damage is not None:  # the decodable audio, and what is wrong with the file
            return y, np.int32(_CODE[type(damage)]), damage.reason.encode("utf-8", "replace")
        return y, np.int32(0), b""
    except AudioFileError as exc:
        err = exc
    except Exception as exc:  # noqa: BLE001 - a batch job must survive anything one file does
        err = AudioFileError(label, f"unexpected decoding failure: {exc!r}")
    if log_errors:
        logging.warning("skipping %s", err)
    return np.zeros(0, np.float32), np.int32(_CODE[type(err)]), err.reason.encode("utf-8", "replace")


def decode_op(source, sample_rate: int = constants.SAMPLE_RATE, *, name=None, from_bytes: bool = False,
              max_samples: int = 0, resample_quality: str = "HQ", log_errors: bool = False, damaged: str = "raise"):
    """Graph op: decode one file to mono float32 at ``sample_rate``; never raises.

    Parameters
    ----------
    source : tf.Tensor [shape=(), dtype=string]
        A path, or (``from_bytes=True``) the encoded file itself.
    sample_rate : int > 0
    name : tf.Tensor [shape=(), dtype=string] or None
        How errors name the file (a track id); default: the path.
    from_bytes : bool
        ``source`` holds the file's bytes (a TFDS example's ``audio``), not its path.
    max_samples : int >= 0
        Keep at most this many output samples (0: all).
    resample_quality : str
        See :func:`tfmusictag.audio.load`.
    log_errors : bool
        Also log each failure as a warning (training's pipelines skip broken tracks).
    damaged : {'raise', 'keep'}
        See :func:`tfmusictag.audio.load`: with ``'keep'`` a damaged file yields the audio decoded
        up to the damage *and* its error.

    Returns
    -------
    dict
        ``audio`` float32 ``(n,)`` (empty on failure), ``error_type`` int32 ``()`` (0: none, else
        1 + the index in :data:`~tfmusictag.errors.AUDIO_ERROR_TYPES`), ``error_reason`` string ``()``.
        Non-empty audio with an error is a damaged file decoded as far as possible.
    """
    name = tf.constant(b"") if name is None else name
    audio, error_type, reason = tf.numpy_function(
        _decode_py, [source, name, from_bytes, np.int64(sample_rate), np.int64(max_samples), resample_quality,
                     log_errors, damaged],
        [tf.float32, tf.int32, tf.string], stateful=False, name="decode_audio")
    audio.set_shape([None])
    error_type.set_shape([])
    reason.set_shape([])
    return {"audio": audio, "error_type": error_type, "error_reason": reason}


def _text(x) -> str:
    if hasattr(x, "numpy"):
        x = x.numpy()
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)


def error_from(path, error_type, error_reason) -> Optional[AudioFileError]:
    """The exception behind a :func:`decode_op` result, or ``None`` when ``error_type`` is 0."""
    code = int(error_type.numpy() if hasattr(error_type, "numpy") else error_type)
    if code == 0:
        return None
    return AUDIO_ERROR_TYPES[code - 1](_text(path), _text(error_reason))


def raise_for_error(element) -> None:
    """Raise the typed exception carried by an :func:`audio_dataset` element; nothing if it has none.

    >>> for x in audio_dataset(["a.mp3"]).as_numpy_iterator():   # doctest: +SKIP
    ...     raise_for_error(x)
    """
    err = error_from(element["path"], element["error_type"], element["error_reason"])
    if err is not None:
        raise err


def audio_dataset(
    paths: Union[Sequence[PathLike], "tf.Tensor", "tf.data.Dataset"],
    sample_rate: int = constants.SAMPLE_RATE,
    *,
    num_parallel_calls: Optional[int] = None,
    deterministic: bool = True,
    resample_quality: str = "HQ",
    damaged: str = "raise",
):
    """A ``tf.data.Dataset`` that decodes audio files in parallel, one element per file.

    Parameters
    ----------
    paths : sequence of paths, a string tensor, or a ``tf.data.Dataset`` of strings
    sample_rate : int > 0
    num_parallel_calls : int or None
        Files decoded at once; ``None`` means one per usable core. (A fixed value is used rather
        than ``tf.data.AUTOTUNE``, whose ramp-up cost up to 40 % of the throughput of short
        jobs in ``benchmarks/bench_frontend.py``.)
    deterministic : bool
        Keep the input order (default). ``False`` lets a fast file overtake a slow one.
    resample_quality : str
        See :func:`tfmusictag.audio.load`.
    damaged : {'raise', 'keep'}
        See :func:`decode_op`.

    Returns
    -------
    tf.data.Dataset
        Elements ``{"path", "audio", "error_type", "error_reason"}`` (see :func:`decode_op`). A
        file that fails yields an empty ``audio``; :func:`raise_for_error` raises its exception,
        which names the file and the cause. The other files are unaffected. Keep the good ones
        with ``ds.filter(lambda x: x["error_type"] == 0)``.

    Examples
    --------
    >>> ds = audio_dataset(["a.mp3", "b.flac"])          # doctest: +SKIP
    >>> for x in ds.as_numpy_iterator():                 # doctest: +SKIP
    ...     err = error_from(x["path"], x["error_type"], x["error_reason"])
    """
    if isinstance(paths, tf.data.Dataset):
        ds = paths
    else:
        if not isinstance(paths, tf.Tensor):
            paths = tf.constant([_fspath(p) for p in paths], dtype=tf.string)
        ds = tf.data.Dataset.from_tensor_slices(paths)

    def _decode(path):
        return {"path": path, **decode_op(path, sample_rate, resample_quality=resample_quality, damaged=damaged)}

    return ds.map(_decode, num_parallel_calls=num_parallel_calls or usable_cores(), deterministic=deterministic)
