"""Which files hold audio: a user's paths, folders and globs expanded into tracks.

:func:`iter_audio_files` is how every command turns its arguments into tracks (sorted, so a run
is repeatable and a folder's tracks come in the order a file browser shows them).
"""

from __future__ import annotations

import glob
import os
from typing import Iterable, Sequence, Union

__all__ = ["AUDIO_EXTENSIONS", "iter_audio_files"]

#: File extensions :func:`iter_audio_files` treats as audio (case-insensitive).
AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")


def iter_audio_files(roots: Iterable[Union[str, bytes, os.PathLike]], extensions: Sequence[str] = AUDIO_EXTENSIONS):
    """Expand files, folders (recursively, sorted) and glob patterns into audio file paths.

    A file named directly is yielded whatever its extension (the decoder then says whether it is
    audio); a folder or a glob yields the files whose extension is in ``extensions``, for a folder,
    and every match, for a glob.
    """
    for root in roots:
        root = os.fsdecode(os.fspath(root))
        if os.path.isdir(root):
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                for name in sorted(filenames):
                    if name.lower().endswith(tuple(extensions)):
                        yield os.path.join(dirpath, name)
        elif any(ch in root for ch in "*?["):
            yield from sorted(glob.glob(root, recursive=True))
        else:
            yield root

