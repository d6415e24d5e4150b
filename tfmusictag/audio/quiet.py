"""The decoders' own messages, kept out of the caller's terminal and handed to whoever asks.

libmpg123 (libsndfile's MP3 decoder) prints notes on damaged MP3 data straight to the process's
standard error (``Note: Illegal Audio-MPEG-Header 0x… at offset 21896.``, ``Note: Trying to
resync...``), where no Python code can catch them. :func:`quiet` sends file descriptor 2 to a
temporary file while the decoder runs, one decoding step at a time (a lock,
:data:`tfmusictag.errors.FD2_LOCK`, keeps two threads from redirecting at once), and sorts what
arrived: the decoder's lines go to the current thread's :func:`decoder_notes` collector (or
nowhere), any other line back to standard error.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading

from tfmusictag.errors import FD2_LOCK

__all__ = ["quiet", "decoder_notes", "DECODER_PREFIXES"]

#: Lines that come from a decoder library, not from the program.
DECODER_PREFIXES = ("Note:", "Warning:", "[src/libmpg123", "[libmpg123", "Error:")

_local = threading.local()


@contextlib.contextmanager
def decoder_notes():
    """Collect the decoder messages of this thread's decoding in a list (yielded).

    Example::

        with audio.decoder_notes() as notes:
            y = audio.load("damaged.mp3")
        # notes: ['Note: Illegal Audio-MPEG-Header 0x626c908e at offset 21896.', ...]
    """
    outer = getattr(_local, "notes", None)
    _local.notes = notes = []
    try:
        yield notes
    finally:
        _local.notes = outer
        if outer is not None:
            outer.extend(notes)


@contextlib.contextmanager
def quiet():
    """Run the block with file descriptor 2 captured (see the module docstring)."""
    with FD2_LOCK:
        try:
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        try:
            saved = os.dup(2)
        except OSError:  # no standard error to keep clean (a closed descriptor): nothing to capture
            yield
            return
        sink = tempfile.TemporaryFile()
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            sink.close()
    if text:
        notes = getattr(_local, "notes", None)
        other = []
        for line in text.splitlines():
            if line.strip().startswith(DECODER_PREFIXES):
                if notes is not None:
                    notes.append(line.strip())
            elif line.strip():
                other.append(line)
        if other:
            print("\n".join(other), file=sys.stderr)
