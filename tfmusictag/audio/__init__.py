"""Audio input: any file → mono float32 at the model's sample rate.

This is step 0 of the thesis's pipeline (Section 4.3, Algorithm 22: ``a ∈ R^{12000·t}``): the
signal is decoded, mixed to mono and down-sampled to 12 kHz before the representation
stage (:mod:`tfmusictag.frontend`).

Decoding uses libsndfile (through ``soundfile``: WAV, AIFF, FLAC, Ogg Vorbis, Opus, MP3) and
resampling uses libsoxr (``soxr``, streaming). ``tensorflow-io`` is deliberately not used: its
last release does not load on TensorFlow 2.21 (the README gives the comparison).

Files are decoded in blocks of ``block_frames`` frames; each block is mixed to mono and fed to a
streaming resampler, so peak memory is the *output* plus one block, never the whole decoded
input (a 2-hour 48 kHz stereo file needs ~346 MB of 12 kHz mono output, not 2.8 GB of input).

Every failure is raised as a subclass of :class:`tfmusictag.errors.AudioFileError` that names
the file and the cause; :mod:`tfmusictag.audio.tfdata` carries the same failures, typed, through
a ``tf.data`` pipeline so one broken file never stops a batch job.
"""

from __future__ import annotations

import io
import math
import os
import re
from typing import Optional, Union

import numpy as np
import soundfile as sf
import soxr

from tfmusictag import constants
from tfmusictag.audio.files import AUDIO_EXTENSIONS, iter_audio_files
from tfmusictag.audio.quiet import decoder_notes, quiet
from tfmusictag.errors import (
    AudioFileNotFoundError,
    CorruptAudioFileError,
    EmptyAudioFileError,
    NonFiniteAudioError,
    ParameterError,
    TruncatedAudioFileError,
    UnsupportedAudioFormatError,
)
from tfmusictag.kernels import usable_cores

__all__ = ["load", "decode", "stream", "AudioInfo", "info", "iter_audio_files", "usable_cores", "AUDIO_EXTENSIONS",
           "decoder_notes"]

PathLike = Union[str, bytes, os.PathLike]


_RESAMPLE_QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")
# libsndfile's log says "data : 882000 (should be 440978)" when a WAV/AIFF data chunk is cut short.
_HEADER_SHORT = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
# Streaming writers leave these placeholder sizes in the header: length unknown, not truncated.
_UNKNOWN_SIZES = {0, 0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF}

#: Samples per MPEG-1 Layer III frame (MPEG-2/2.5 frames hold half as many). libsndfile 1.2's MP3
#: reader decodes some frames wrongly when a read ends inside a frame (libmpg123 then complains of
#: "part2_3_length"); reads of whole frames give the one-shot result (tests/test_audio.py).
MP3_FRAME_SAMPLES = 1152

#: What :func:`load` does with a damaged file (truncated, or corrupt part-way): raise, or keep
#: what can be decoded and return the error beside it.
_DAMAGED = ("raise", "keep")


class AudioInfo:
    """What the header of an audio file declares (see :func:`info`)."""

    __slots__ = ("path", "sample_rate", "channels", "frames", "format", "subtype")

    def __init__(self, path, sample_rate, channels, frames, format, subtype):
        self.path, self.sample_rate, self.channels = path, sample_rate, channels
        self.frames, self.format, self.subtype = frames, format, subtype

    @property
    def duration(self) -> float:
        """Duration in seconds as declared by the header (may be an estimate for MP3)."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    def __repr__(self):
        return (f"AudioInfo(path={self.path!r}, sample_rate={self.sample_rate}, channels={self.channels}, "
                f"frames={self.frames}, format={self.format!r}, subtype={self.subtype!r})")


def _fspath(path: PathLike) -> str:
    if isinstance(path, bytes):
        return path.decode("utf-8", "surrogateescape")
    if hasattr(path, "numpy"):  # an eager tf.Tensor
        return _fspath(path.numpy())
    return os.fspath(path)


def _sf_path(path):
    """What soundfile opens: a path as the file system's bytes (soundfile encodes ``str`` strictly, so a
    name that is not UTF-8 — ``os`` gives it with surrogates — would not open), a file object as it is."""
    return os.fsencode(path) if isinstance(path, str) else path


def _check_exists(path: str) -> None:
    if not os.path.exists(path):
        raise AudioFileNotFoundError(path, "no such file")
    if not os.path.isfile(path):
        raise AudioFileNotFoundError(path, "not a regular file (a directory or a device?)")
    if os.path.getsize(path) == 0:
        raise EmptyAudioFileError(path, "the file has 0 bytes")


def _open(path, name: Optional[str] = None) -> sf.SoundFile:
    """Open a path (checked first) or a binary file object; ``name`` is used in errors."""
    if name is None:
        _check_exists(path)
    name = path if name is None else name
    try:
        with quiet():  # libsndfile probes MP3 with libmpg123, which prints to fd 2
            return sf.SoundFile(_sf_path(path))
    except sf.LibsndfileError as exc:
        # libsndfile's own wording ("File does not exist or is not a regular file") is misleading
        # for an existing file it cannot parse; state what actually happened.
        detail = getattr(exc, "error_string", str(exc))
        # libsndfile says "File does not exist or is not a regular file" for files it cannot
        # parse as MP3; the file exists (checked above), so that wording would mislead.
        detail = "" if "does not exist" in detail else f" (libsndfile: {detail})"
        raise UnsupportedAudioFormatError(
            name, f"not a recognised audio format or the header is damaged{detail}") from None
    except (RuntimeError, TypeError, ValueError) as exc:
        raise UnsupportedAudioFormatError(name, str(exc)) from None


def info(path: PathLike) -> AudioInfo:
    """Read an audio file's header without decoding it.

    Parameters
    ----------
    path : str or os.PathLike
        Audio file (WAV, AIFF, FLAC, Ogg Vorbis, Opus, MP3).

    Returns
    -------
    AudioInfo
        ``sample_rate``, ``channels``, ``frames``, ``duration``, ``format``, ``subtype``.

    Raises
    ------
    AudioFileError
        A subclass naming the file and the cause (missing, empty, not audio).
    """
    path = _fspath(path)
    with _open(path) as f:
        return AudioInfo(path, f.samplerate, f.channels, f.frames, f.format, f.subtype)


def _mp3_declares_length(fh) -> bool:
    """True when an MP3 (binary file object) carries a Xing/Info/VBRI header: an exact length.

    Without one, libsndfile *estimates* the length from the file size and the first frame's
    bitrate, which is wrong for variable-bitrate files, so a shortfall proves nothing.
    """
    fh.seek(0)
    head = fh.read(10)
    start = 0
    if head[:3] == b"ID3" and len(head) == 10:  # skip an ID3v2 tag (syncsafe size)
        size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
        start = 10 + size + (10 if head[5] & 0x10 else 0)
    fh.seek(start)
    block = fh.read(4096)
    sync = next((i for i in range(len(block) - 1) if block[i] == 0xFF and block[i + 1] & 0xE0 == 0xE0), None)
    if sync is None:
        return False
    first_frame = block[sync:sync + 200]
    return any(tag in first_frame for tag in (b"Xing", b"Info", b"VBRI"))


def _check_not_truncated(path: str, f: sf.SoundFile, decoded_frames: int, source=None) -> None:
    """Raise :class:`TruncatedAudioFileError` when the header promises more than the file holds."""
    log = f.extra_info or ""
    m = _HEADER_SHORT.search(log)
    if m:
        declared, actual = int(m.group(1)), int(m.group(2))
        block_align = max(1, f.channels) * 8
        if declared not in _UNKNOWN_SIZES and declared - actual > block_align:
            raise TruncatedAudioFileError(
                path, f"the header declares {declared} bytes of audio data but the file holds {actual} "
                      f"({actual / declared:.0%}); was the download or copy interrupted?")
    if f.format == "OGG" and "lacks an end-of-stream bit" in log:
        raise TruncatedAudioFileError(
            path, "the Ogg stream ends without its end-of-stream page after "
                  f"{decoded_frames / f.samplerate:.2f} s; was the download or copy interrupted?")
    if f.format == "MP3" and f.frames > 0 and decoded_frames < 0.98 * f.frames - f.samplerate // 2:
        if source is None:
            with open(path, "rb") as fh:
                declares = _mp3_declares_length(fh)
        else:
            declares = _mp3_declares_length(source)
        if declares:
            raise TruncatedAudioFileError(
                path, f"the MP3 header declares {f.frames / f.samplerate:.2f} s but only "
                      f"{decoded_frames / f.samplerate:.2f} s could be decoded")


def load(
    path: PathLike,
    sample_rate: Optional[int] = constants.SAMPLE_RATE,
    *,
    offset: float = 0.0,
    duration: Optional[float] = None,
    resample_quality: str = "HQ",
    block_frames: int = 1 << 18,
    check_truncation: bool = True,
    damaged: str = "raise",
) -> np.ndarray:
    """Decode an audio file to a mono float32 signal at ``sample_rate``.

    Channels are averaged to mono, then the signal is resampled with libsoxr, block by block,
    so memory stays proportional to the output (see the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        WAV, AIFF, FLAC, Ogg Vorbis, Opus or MP3 file at any sample rate and channel count.
    sample_rate : int > 0 or None
        Target rate in Hz (default 12000, Table 4.1 of the thesis). ``None`` keeps the file's rate.
    offset : float >= 0
        Start reading this many seconds into the file.
    duration : float > 0 or None
        Read at most this many seconds (``None``: to the end).
    resample_quality : {'QQ', 'LQ', 'MQ', 'HQ', 'VHQ'}
        libsoxr recipe; ``'HQ'`` is what ``librosa.load`` uses by default (``res_type='soxr_hq'``).
    block_frames : int > 0
        Frames decoded per block; bounds the memory used for the decoded input.
    check_truncation : bool
        Verify the decoded length against what the header declares (see
        :class:`~tfmusictag.errors.TruncatedAudioFileError`).
    damaged : {'raise', 'keep'}
        A truncated file, or one whose decoding fails part-way: ``'raise'`` its error (default),
        or ``'keep'`` everything that can be decoded up to the damage and return the error
        beside it (``None`` for an intact file). A file with nothing decodable always raises.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono signal. Silence, DC offsets and clipped (±1) signals are returned unchanged.
    damage : TruncatedAudioFileError, CorruptAudioFileError or None
        Only with ``damaged='keep'``: ``(y, damage)`` is returned.

    Raises
    ------
    AudioFileNotFoundError
        The path does not exist or is not a file.
    EmptyAudioFileError
        The file has 0 bytes or no samples.
    UnsupportedAudioFormatError
        The file is not audio libsndfile can read (e.g. a text file named ``.mp3``).
    TruncatedAudioFileError
        The file ends before the length its header declares.
    CorruptAudioFileError
        The decoder failed part-way.
    NonFiniteAudioError
        A float file holds NaN or ±Inf samples.
    ParameterError
        An argument is invalid.

    Examples
    --------
    >>> from tfmusictag import audio
    >>> y = audio.load("song.flac")              # doctest: +SKIP
    >>> y.dtype, y.ndim
    (dtype('float32'), 1)
    """
    return _decode(_fspath(path), None, sample_rate, offset, duration, resample_quality, block_frames,
                   check_truncation, damaged)


def decode(
    data: bytes,
    name: str = "<bytes>",
    sample_rate: Optional[int] = constants.SAMPLE_RATE,
    *,
    offset: float = 0.0,
    duration: Optional[float] = None,
    resample_quality: str = "HQ",
    block_frames: int = 1 << 18,
    check_truncation: bool = True,
    damaged: str = "raise",
) -> np.ndarray:
    """:func:`load` for an encoded file held in memory (e.g. the ``audio`` bytes of a TFDS example).

    Parameters
    ----------
    data : bytes
        The complete file: WAV, AIFF, FLAC, Ogg Vorbis, Opus or MP3.
    name : str
        How errors name this file (a track id or the original path).

    Notes
    -----
    The other parameters, the return value and the errors are those of :func:`load`.
    """
    if hasattr(data, "numpy"):
        data = data.numpy()
    data = bytes(data)
    if not data:
        raise EmptyAudioFileError(name, "the file has 0 bytes")
    return _decode(io.BytesIO(data), name, sample_rate, offset, duration, resample_quality, block_frames,
                   check_truncation, damaged)


def _decode(source, name, sample_rate, offset, duration, resample_quality, block_frames, check_truncation,
            damaged="raise"):
    """Shared body of :func:`load` (``source`` a path, ``name`` None) and :func:`decode`."""
    if damaged not in _DAMAGED:
        raise ParameterError(f"damaged={damaged!r} must be one of {_DAMAGED}")
    keep = damaged == "keep"
    blocks = _blocks(source, name, sample_rate, offset, duration, resample_quality, block_frames, check_truncation)
    capacity = next(blocks)  # the generator announces the expected output length first
    out = np.empty(capacity, dtype=np.float32)
    n_out, damage = 0, None
    try:
        for chunk in blocks:
            if n_out + len(chunk) > len(out):
                grown = np.empty(max(2 * len(out), n_out + len(chunk)), dtype=np.float32)
                grown[:n_out] = out[:n_out]
                out = grown
            out[n_out:n_out + len(chunk)] = chunk
            n_out += len(chunk)
    except (TruncatedAudioFileError, CorruptAudioFileError) as exc:
        if not keep or n_out == 0:
            raise
        damage = exc
    y = out[:n_out].copy() if n_out < 0.9 * len(out) else out[:n_out]  # over-estimated length: give memory back
    return (y, damage) if keep else y


def stream(path: PathLike, sample_rate: Optional[int] = constants.SAMPLE_RATE, *, resample_quality: str = "HQ",
           block_frames: int = 1 << 18, check_truncation: bool = True):
    """Decode a file block by block: yields mono float32 arrays at ``sample_rate``.

    The concatenation of the blocks equals :func:`load`'s output; memory stays at one block, so
    tracks of any length can be processed (e.g. by ``python -m tfmusictag.predict``). The same
    errors as :func:`load` are raised, the truncation check after the last block.
    """
    blocks = _blocks(_fspath(path), None, sample_rate, 0.0, None, resample_quality, block_frames, check_truncation)
    next(blocks)
    for chunk in blocks:
        if len(chunk):
            yield chunk


def _read_failure(path, position, declared, sr_in, detail):
    where = position / sr_in
    if declared and position < declared:
        return TruncatedAudioFileError(path, f"decoding stopped at {where:.2f} s of the {declared / sr_in:.2f} s the "
                                             f"header declares (libsndfile: {detail})")
    if declared:
        return CorruptAudioFileError(path, f"all {where:.2f} s the header declares were decoded, but the file goes on "
                                           f"with data that is not valid audio (libsndfile: {detail})")
    return CorruptAudioFileError(path, f"decoding failed at {where:.2f} s (libsndfile: {detail})")


def _salvaged_blocks(source, position, step: int = 4 * MP3_FRAME_SAMPLES):
    """Mono blocks from ``position`` up to the first failing read, decoded ``step`` frames at a time
    in a fresh decoder (the one that failed may be in any state)."""
    if hasattr(source, "seek"):
        source.seek(0)
    try:
        with quiet():
            f = sf.SoundFile(_sf_path(source))
        with f:
            skip = position
            while skip > 0:  # what was already decoded, read again (seeking a damaged file is unreliable)
                with quiet():
                    got = len(f.read(min(skip, 64 * step), dtype="float32"))
                if got == 0:
                    return
                skip -= got
            while True:
                with quiet():
                    block = f.read(step, dtype="float32", always_2d=True)
                if len(block) == 0:
                    return
                mono = _mono(block)
                if not np.isfinite(mono).all():
                    return
                yield mono
                if len(block) < step:
                    return
    except (sf.LibsndfileError, RuntimeError):
        return


def _mono(block: np.ndarray) -> np.ndarray:
    """The mean of a ``(frames, channels)`` float32 block's channels. Stereo is ``(l + r)·0.5``:
    bit for bit ``block.mean(axis=1)``, which reduces along the short, strided axis many times
    slower. Float samples so large that their float32 sum overflows (a damaged float file can hold
    any bit pattern) are averaged in float64 instead: finite samples give a finite mean, and NaN
    or ±Inf samples are left for the caller to report."""
    if block.ndim == 1:  # already mono (a read without always_2d)
        return block
    if block.shape[1] == 1:
        return block[:, 0]
    with np.errstate(over="ignore", invalid="ignore"):
        if block.shape[1] == 2:
            mono = (block[:, 0] + block[:, 1]) * np.float32(0.5)
        else:
            mono = block.mean(axis=1, dtype=np.float32)
        if np.isinf(mono).any():  # in float64 a NaN or ±Inf sample stays one, a finite pair stays finite
            mono = block.mean(axis=1, dtype=np.float64).astype(np.float32)
    return mono


def _blocks(source, name, sample_rate, offset, duration, resample_quality, block_frames, check_truncation):
    """Generator: first the expected number of output samples, then the resampled mono blocks.

    When a read fails part-way (a damaged file), everything that can be decoded up to the damage is
    yielded first, then the error is raised — naming where decoding really stopped.
    """
    path = source if name is None else name
    if sample_rate is not None and (not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0):
        raise ParameterError(f"sample_rate={sample_rate!r} must be a positive integer or None")
    if resample_quality not in _RESAMPLE_QUALITIES:
        raise ParameterError(f"resample_quality={resample_quality!r} must be one of {_RESAMPLE_QUALITIES}")
    if not isinstance(block_frames, (int, np.integer)) or block_frames <= 0:
        raise ParameterError(f"block_frames={block_frames!r} must be a positive integer")
    if offset < 0 or not math.isfinite(offset):
        raise ParameterError(f"offset={offset!r} must be a finite number >= 0")
    if duration is not None and (duration <= 0 or not math.isfinite(duration)):
        raise ParameterError(f"duration={duration!r} must be a finite number > 0 or None")

    with _open(source, name) as f:
        sr_in = f.samplerate
        if f.channels < 1 or sr_in <= 0:
            raise UnsupportedAudioFormatError(path, f"header declares channels={f.channels}, samplerate={sr_in}")
        sr_out = sr_in if sample_rate is None else int(sample_rate)
        start = int(round(offset * sr_in))
        declared = max(f.frames, 0)
        limit = max(1, int(round(duration * sr_in))) if duration is not None else None
        want = declared - start if declared else 0
        if limit is not None:
            want = min(want, limit) if declared else limit
        if declared and start >= declared:
            raise ParameterError(f"offset={offset} s lies beyond the end of {path} ({declared / sr_in:.2f} s)")
        if start:
            try:
                f.seek(start)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise CorruptAudioFileError(path, f"cannot seek to {offset} s: {exc}") from None

        resampler = None if sr_out == sr_in else soxr.ResampleStream(
            sr_in, sr_out, 1, dtype="float32", quality=resample_quality)
        yield max(16, int(math.ceil(max(want, 0) * sr_out / sr_in)) + 64)
        n_in, failure = 0, None
        if f.format == "MP3":  # whole MPEG frames per read (see MP3_FRAME_SAMPLES)
            block_frames = max(1, block_frames // MP3_FRAME_SAMPLES) * MP3_FRAME_SAMPLES
        buf = np.empty((min(block_frames, limit or block_frames), f.channels), dtype=np.float32)
        while True:
            frames = len(buf) if limit is None else min(len(buf), limit - n_in)
            if f.format == "MP3" and len(buf) > (start + n_in) % MP3_FRAME_SAMPLES:
                # end every read on a frame boundary, also after a seek
                frames = min(frames, len(buf) - (start + n_in) % MP3_FRAME_SAMPLES)
            if frames <= 0:
                break
            try:
                if f.format == "MP3":  # libmpg123's notes on damaged frames: to decoder_notes()
                    with quiet():
                        block = f.read(frames, dtype="float32", out=buf[:frames])
                else:
                    block = f.read(frames, dtype="float32", out=buf[:frames])
            except (sf.LibsndfileError, RuntimeError) as exc:
                failure = getattr(exc, "error_string", str(exc))
                # A failed read loses the whole block: decode up to the damage in small steps.
                for mono in _salvaged_blocks(source, start + n_in):
                    n_in += len(mono)
                    yield mono if resampler is None else resampler.resample_chunk(mono, last=False)
                break
            if len(block) == 0:
                break
            mono = _mono(block)
            if not np.isfinite(mono).all():
                bad = int(np.flatnonzero(~np.isfinite(mono))[0]) + start + n_in
                raise NonFiniteAudioError(
                    path, f"NaN or infinite sample values, first at sample {bad} ({bad / sr_in:.3f} s)")
            n_in += len(block)
            yield mono.copy() if resampler is None else resampler.resample_chunk(mono, last=False)
            if len(block) < frames:
                break
        if resampler is not None:
            yield resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        if failure is not None:  # everything decodable has been yielded: now report the damage
            raise _read_failure(path, start + n_in, declared, sr_in, failure)

        if n_in == 0:
            raise EmptyAudioFileError(path, "the header is valid but the file contains no audio samples"
                                      if start == 0 else f"no samples after offset={offset} s")
        if check_truncation and limit is None and start == 0:
            _check_not_truncated(path, f, n_in, None if name is None else source)
