"""tfmusictag.errors: the error classes a user's mistake or bad file raises (what callers catch them
as, how a tf.data pipeline carries them), and :func:`captured_stderr` keeping C-level chatter out of
a command's output without losing standard error. (Each module's own one-line errors: its tests;
two redirections of standard error at once: ``test_audio.py``.)"""

import os
import pickle
import subprocess
import sys
import textwrap

import pytest

from tfmusictag import errors
from support import ENV


def test_every_audio_error_is_an_audio_file_error_and_a_value_error_and_picklable():
    assert errors.AUDIO_ERROR_TYPES[0] is errors.AudioFileError
    assert len(set(errors.AUDIO_ERROR_TYPES)) == len(errors.AUDIO_ERROR_TYPES)
    for cls in errors.AUDIO_ERROR_TYPES:
        assert issubclass(cls, errors.AudioFileError) and issubclass(cls, ValueError)
    assert issubclass(errors.AudioFileNotFoundError, FileNotFoundError)  # `except FileNotFoundError` catches it
    assert issubclass(errors.ParameterError, ValueError)
    assert not issubclass(errors.ParameterError, errors.AudioFileError)


@pytest.mark.parametrize("cls", errors.AUDIO_ERROR_TYPES)
def test_an_audio_error_keeps_its_message_through_pickling(cls):
    """Errors cross processes (a Beam worker, a tuner's worker) whole."""
    exc = cls("music/song.mp3", "the file ends at 12.0 s but its header declares 180.0 s")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is cls and str(back) == str(exc) and (back.path, back.reason) == (exc.path, exc.reason)
    assert str(exc).startswith(f"music/song.mp3: {cls.kind} audio file: ")  # the file first, then the problem


def test_captured_stderr_keeps_c_level_writes_and_gives_standard_error_back():
    """What a C library writes to descriptor 2 inside the block is in the yielded file, not on the
    process's standard error; afterwards descriptor 2 is the original one and no descriptor is left open."""
    code = textwrap.dedent("""
        import os, sys
        from tfmusictag.errors import captured_stderr
        fds = len(os.listdir("/proc/self/fd"))
        with captured_stderr() as f:
            os.write(2, b"chatter from C\\n")
            print("from Python", file=sys.stderr)
        f_closed = f.closed
        os.write(2, b"after\\n")
        print(f_closed, len(os.listdir("/proc/self/fd")) == fds)
    """)
    out = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.stderr == "after\n"
    assert out.stdout.split() == ["True", "True"]
