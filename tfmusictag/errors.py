"""Error types of tfmusictag.

Two families, following librosa's example of one class for bad parameters:

* :class:`ParameterError` — a function or layer was called with an invalid argument.
  The message echoes the bad value, e.g. ``hop_length=0 must be a positive integer``.
* :class:`AudioFileError` — one input file cannot be turned into audio. Every subclass
  carries ``path`` and ``reason`` and names both in its message, so a batch job can report
  the file and move on. Subclasses also inherit the matching builtin (``FileNotFoundError``,
  ``ValueError``) so generic ``except`` clauses keep working.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading

__all__ = [
    "ParameterError",
    "AudioFileError",
    "AudioFileNotFoundError",
    "EmptyAudioFileError",
    "UnsupportedAudioFormatError",
    "TruncatedAudioFileError",
    "CorruptAudioFileError",
    "NonFiniteAudioError",
    "AUDIO_ERROR_TYPES",
    "captured_stderr",
]


class ParameterError(ValueError):
    """An argument has an invalid value; the message echoes it."""


class AudioFileError(ValueError):
    """Base class: ``path`` could not be decoded to audio because of ``reason``."""

    kind = "unreadable"

    def __init__(self, path, reason: str):
        self.path = os.fspath(path) if not isinstance(path, bytes) else path.decode("utf-8", "replace")
        self.reason = reason
        super().__init__(f"{self.path}: {self.kind} audio file: {reason}")

    def __reduce__(self):  # keep pickling (multiprocessing) working with two arguments
        return (type(self), (self.path, self.reason))


class AudioFileNotFoundError(AudioFileError, FileNotFoundError):
    """The path does not exist or is not a regular file."""

    kind = "missing"


class EmptyAudioFileError(AudioFileError):
    """The file has 0 bytes, or a valid header but no samples."""

    kind = "empty"


class UnsupportedAudioFormatError(AudioFileError):
    """The file is not audio in a format libsndfile reads (WAV, FLAC, Ogg, Opus, MP3, ...)."""

    kind = "not an"


class TruncatedAudioFileError(AudioFileError):
    """The file ends before the length its header declares."""

    kind = "truncated"


class CorruptAudioFileError(AudioFileError):
    """The decoder failed part-way through the file."""

    kind = "corrupt"


class NonFiniteAudioError(AudioFileError):
    """A floating-point file holds NaN or infinite samples."""

    kind = "non-finite"


#: Every audio error class, in a fixed order: :mod:`tfmusictag.audio.tfdata` carries a failure
#: through a tf.data pipeline as its index here (1-based; 0 means no error), with path and reason
#: as separate strings, so it is rebuilt exactly (no message parsing).
AUDIO_ERROR_TYPES = tuple(
    cls
    for cls in (
        AudioFileError,
        AudioFileNotFoundError,
        EmptyAudioFileError,
        UnsupportedAudioFormatError,
        TruncatedAudioFileError,
        CorruptAudioFileError,
        NonFiniteAudioError,
    )
)


#: Held by whoever has file descriptor 2 redirected (:func:`captured_stderr`,
#: :func:`tfmusictag.audio.quiet.quiet`): two redirections that overlapped in time would restore
#: the descriptor out of order and lose standard error for the rest of the process.
FD2_LOCK = threading.RLock()


@contextlib.contextmanager
def captured_stderr():
    """Send file descriptor 2 to a temporary file (yielded) while the block runs: what C++ libraries
    print there directly (TensorFlow's start-up lines) is kept out of a command's output.

    Holds :data:`FD2_LOCK` meanwhile: a thread that wants to redirect descriptor 2 too (a decoder,
    :func:`tfmusictag.audio.quiet.quiet`) waits for the block to end."""
    with FD2_LOCK:
        sys.stderr.flush()
        saved, tmp = os.dup(2), tempfile.TemporaryFile()
        os.dup2(tmp.fileno(), 2)
        try:
            yield tmp
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.close()
