"""Representation stage ``X = R(a)``: log-mel spectrogram, 29.12 s segments, streaming (thesis Sec. 2.1).

Keras 3 layers computed with ``tf.signal`` inside the graph, so the same front end runs in
training, in ``tf.data`` on a GPU, and inside an exported SavedModel (no numpy, no
``py_function`` in any ``call``). Every layer serialises (``get_config`` round trip) and is
registered under the package name ``tfmusictag``.

Thesis references ("Analyses of Convolutional Neural Networks for Automatic tagging of music
tracks"): Algorithm 1 (``X = R_MEL(a)``: STFT → power → mel), Table 4.1 (parameters),
Section 4.3.3 (1366-frame segments of 29.1 s). The frame reductions that follow (MFCC, PCA) are
the next stage: :mod:`tfmusictag.reduction.frame`.

Why the mel filter bank is built here and not with ``tf.signal.linear_to_mel_weight_matrix``:
TensorFlow's matrix only knows the HTK scale, draws its triangles in the mel domain and never
area-normalises, so it cannot express the front ends the pretrained models were trained with
(Choi et al. 2016 and musicnn use librosa's Slaney scale with Slaney normalisation). The
filter bank is a constant computed once at layer construction, replicating
``librosa.filters.mel`` exactly (triangles in Hz between mel-spaced edges), for both scales.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from tfmusictag import constants
from tfmusictag.errors import ParameterError
from tfmusictag.registry import Registry
from tfmusictag.shapes import merge_dims

__all__ = [
    "hz_to_mel",
    "mel_to_hz",
    "mel_filterbank",
    "FrontEndConfig",
    "FRONT_ENDS",
    "get_front_end",
    "LogMelSpectrogram",
    "SegmentFrames",
    "iter_log_mel",
    "CHUNK_FRAMES",
]

_PACKAGE = "tfmusictag"

#: Frames computed at once wherever a track is processed piecewise (the front end's graph, chunked
#: tagging): ~87 s at 12 kHz, 65 s at 16 kHz — long enough that per-chunk overhead is negligible,
#: short enough that a chunk's activations stay well under a gigabyte for every pretrained network
#: (``benchmarks/bench_memory.py``).
CHUNK_FRAMES = 4096

# --------------------------------------------------------------------------------------------
# Mel scale and filter bank (numpy, evaluated once when a layer is built)
# --------------------------------------------------------------------------------------------

_MEL_SCALES = ("htk", "slaney")
_MEL_NORMS = (None, "slaney")


def hz_to_mel(frequencies, scale: str = "htk"):
    """Convert Hz to mels.

    Parameters
    ----------
    frequencies : float or np.ndarray
    scale : {'htk', 'slaney'}
        ``'htk'``: ``2595·log10(1 + f/700)``, the thesis's Eq. 2.8. ``'slaney'``: linear below
        1 kHz, logarithmic above (Slaney's Auditory Toolbox; librosa's default).
    """
    f = np.asanyarray(frequencies, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    if scale != "slaney":
        raise ParameterError(f"scale={scale!r} must be one of {_MEL_SCALES}")
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    mels = f / f_sp
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mels)


def mel_to_hz(mels, scale: str = "htk"):
    """Inverse of :func:`hz_to_mel`."""
    m = np.asanyarray(mels, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if scale != "slaney":
        raise ParameterError(f"scale={scale!r} must be one of {_MEL_SCALES}")
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sample_rate: int, fft_length: int, n_mels: int, fmin: float = 0.0,
                   fmax: Optional[float] = None, scale: str = "htk", norm: Optional[str] = None) -> np.ndarray:
    """Triangular mel filter bank ``W_MEL`` of Eq. 2.9, as ``librosa.filters.mel`` builds it.

    Parameters
    ----------
    sample_rate : int > 0
    fft_length : int > 0
    n_mels : int > 0
    fmin : float >= 0
    fmax : float > fmin or None
        ``None``: ``sample_rate / 2``.
    scale : {'htk', 'slaney'}
    norm : {None, 'slaney'}
        ``None``: triangles peak at 1 (HTK). ``'slaney'``: each triangle has unit area.

    Returns
    -------
    np.ndarray [shape=(1 + fft_length // 2, n_mels), dtype=float32]
        Right-multiplies a power spectrogram ``(..., frames, bins)``.
    """
    if scale not in _MEL_SCALES:
        raise ParameterError(f"mel_scale={scale!r} must be one of {_MEL_SCALES}")
    if norm not in _MEL_NORMS:
        raise ParameterError(f"mel_norm={norm!r} must be one of {_MEL_NORMS}")
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    if not 0 <= fmin < fmax <= sample_rate / 2.0:
        raise ParameterError(f"need 0 <= fmin < fmax <= sample_rate/2; received fmin={fmin}, fmax={fmax}, "
                             f"sample_rate={sample_rate}")
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, 1 + fft_length // 2)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin, scale), hz_to_mel(fmax, scale), n_mels + 2), scale)
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.T.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Front-end configurations: the thesis's and those of the pretrained models
# --------------------------------------------------------------------------------------------

_WINDOWS = {"hamming": tf.signal.hamming_window, "hann": tf.signal.hann_window}
_COMPRESSIONS = ("ln", "db", "log10p", "none")
_PAD_MODES = ("constant", "reflect")


@dataclasses.dataclass(frozen=True)
class FrontEndConfig:
    """Every parameter of the representation stage ``R`` (Algorithm 1 plus compression).

    Attributes
    ----------
    sample_rate : int
        Rate of the input waveform in Hz.
    frame_length : int
        STFT window length in samples (``win_length``).
    hop_length : int
        STFT hop in samples.
    fft_length : int
        FFT size (>= ``frame_length``).
    window : {'hamming', 'hann'}
        Periodic window, as ``scipy.signal.get_window(..., fftbins=True)``.
    center : bool
        Pad ``frame_length // 2`` samples on both sides so frame ``t`` is centred on sample
        ``t·hop`` (librosa's ``center=True``). With centring, 29.12 s at 12 kHz give 1366 frames.
    pad_mode : {'constant', 'reflect'}
        Padding used when centring (librosa ≥ 0.10 uses ``'constant'``; older versions reflected).
    power : float
        Exponent of the STFT magnitude (2 = power spectrum, Eq. 2.7).
    n_mels, fmin, fmax, mel_scale, mel_norm
        The mel filter bank (:func:`mel_filterbank`).
    mel_power : float
        Exponent applied after the mel projection (Choi et al. squared the mel power once more).
    compression : {'ln', 'db', 'log10p', 'none'}
        ``'ln'``: ``ln(max(x, log_floor))`` (the thesis). ``'db'``: ``10·log10(max(x, log_floor))``,
        optionally clipped to ``top_db`` below the example's maximum (librosa ``power_to_db``).
        ``'log10p'``: ``log10(1 + log_gain·x)`` (musicnn uses ``log_gain=10000``).
    log_floor : float > 0
        Floor before a logarithm, so silence gives finite features.
    log_gain : float > 0
        ``C`` of ``log10(1 + C·x)``.
    top_db : float > 0 or None
        Dynamic range kept by ``'db'``.
    """

    sample_rate: int = constants.SAMPLE_RATE
    frame_length: int = constants.FRAME_LENGTH
    hop_length: int = constants.HOP_LENGTH
    fft_length: int = constants.FFT_LENGTH
    window: str = "hamming"
    center: bool = True
    pad_mode: str = "constant"
    power: float = 2.0
    n_mels: int = constants.N_MELS
    fmin: float = 0.0
    fmax: Optional[float] = None
    mel_scale: str = "htk"
    mel_norm: Optional[str] = None
    mel_power: float = 1.0
    compression: str = "ln"
    log_floor: float = constants.LOG_FLOOR
    log_gain: float = 1.0
    top_db: Optional[float] = None

    def validate(self) -> "FrontEndConfig":
        for name in ("sample_rate", "frame_length", "hop_length", "fft_length", "n_mels"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
                raise ParameterError(f"{name}={v!r} must be a positive integer")
        if self.frame_length > self.fft_length:
            raise ParameterError(f"frame_length={self.frame_length} must be <= fft_length={self.fft_length}")
        if self.window not in _WINDOWS:
            raise ParameterError(f"window={self.window!r} must be one of {tuple(_WINDOWS)}")
        if self.pad_mode not in _PAD_MODES:
            raise ParameterError(f"pad_mode={self.pad_mode!r} must be one of {_PAD_MODES}")
        if self.compression not in _COMPRESSIONS:
            raise ParameterError(f"compression={self.compression!r} must be one of {_COMPRESSIONS}")
        for name in ("power", "mel_power", "log_floor", "log_gain"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"{name}={getattr(self, name)!r} must be > 0")
        if self.top_db is not None and not self.top_db > 0:
            raise ParameterError(f"top_db={self.top_db!r} must be > 0 or None")
        mel_filterbank(self.sample_rate, self.fft_length, self.n_mels, self.fmin, self.fmax,
                       self.mel_scale, self.mel_norm)  # validates the mel parameters
        return self

    def silence_value(self) -> float:
        """The feature value of digital silence (what padding should look like to a model)."""
        zero = 0.0 ** self.mel_power
        if self.compression in ("ln", "db"):
            v = math.log(max(zero, self.log_floor))
            return v if self.compression == "ln" else 10.0 * v / math.log(10.0)
        return math.log10(1.0 + self.log_gain * zero) if self.compression == "log10p" else zero

    def num_frames(self, num_samples):
        """Frames produced for ``num_samples`` samples (0 if too short without centring).

        The package's one frame count: the front end's graph, the data pipeline, chunked tagging
        and the exported models all use it. Works on Python/numpy integers and on integer tensors.
        """
        if self.center:  # padded by frame_length // 2 on both sides
            return 1 + (num_samples + 2 * (self.frame_length // 2) - self.frame_length) // self.hop_length
        if isinstance(num_samples, (int, np.integer)):
            return max(0, 1 + (int(num_samples) - self.frame_length) // self.hop_length)
        return tf.maximum(0, 1 + (num_samples - self.frame_length) // self.hop_length)


#: Named front ends. ``thesis``: Table 4.1 with the HTK scale of Eq. 2.8, natural log (Alg. 22).
#: ``choi2016``: the input of the MSD-trained CNN/CRNN (librosa 0.4 defaults: Hann, Slaney mel,
#: reflect padding, dB of the squared mel power, 80 dB range). ``musicnn``: Pons et al. 2019.
FRONT_ENDS = Registry("front_end")
FRONT_ENDS.add("thesis", FrontEndConfig())
FRONT_ENDS.add("choi2016", FrontEndConfig(window="hann", pad_mode="reflect", mel_scale="slaney", mel_norm="slaney",
                                          mel_power=2.0, compression="db", top_db=80.0))
FRONT_ENDS.add("musicnn", FrontEndConfig(sample_rate=16000, window="hann", pad_mode="constant", mel_scale="slaney",
                                         mel_norm="slaney", compression="log10p", log_gain=10000.0))


def get_front_end(name_or_config) -> FrontEndConfig:
    """Resolve a registered front-end name, a dict of fields, or a :class:`FrontEndConfig`."""
    if isinstance(name_or_config, FrontEndConfig):
        return name_or_config.validate()
    if isinstance(name_or_config, dict):
        fields = {f.name for f in dataclasses.fields(FrontEndConfig)}
        unknown = sorted(set(name_or_config) - fields)
        if unknown:
            raise ParameterError(f"unknown front-end fields {unknown}; allowed: {sorted(fields)}")
        return FrontEndConfig(**name_or_config).validate()
    return FRONT_ENDS.get(name_or_config).validate()


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package=_PACKAGE)
class LogMelSpectrogram(keras.layers.Layer):
    """Log-mel power spectrogram, the representation ``X = R(a)`` of Algorithm 22 (steps 1–4).

    STFT (``tf.signal.stft``) → ``|C|^power`` (Eq. 2.7) → mel projection (Eq. 2.9) →
    ``^mel_power`` → compression. Defaults are the thesis's Table 4.1: 12 kHz, Hamming 512,
    hop 256, FFT 512, 96 HTK mel bands, natural log floored at 1e-10.

    Args:
        front_end: a registered name (``'thesis'``, ``'choi2016'``, ``'musicnn'``), a dict of
            :class:`FrontEndConfig` fields, or a :class:`FrontEndConfig`. Defaults to ``'thesis'``.
        chunk_frames: int > 0 or None, frames computed at once (default :data:`CHUNK_FRAMES`, ~87 s at 12 kHz):
            bounds the memory of the STFT on long tracks without changing the result. ``None``
            computes the whole signal in one STFT.
        **kwargs: individual :class:`FrontEndConfig` fields replacing those of ``front_end``
            (e.g. ``mel_scale='slaney'``).

    Call arguments:
        waveform: float tensor ``(batch, samples)`` (or ``(samples,)``), mono, at ``sample_rate``.

    Returns:
        ``(batch, frames, n_mels)`` float32, frames along time
        (``frames = 1 + samples // hop`` when centred).

    Example:

    >>> import numpy as np
    >>> from tfmusictag.frontend import LogMelSpectrogram
    >>> layer = LogMelSpectrogram()
    >>> layer(np.zeros((1, 349440), "float32")).shape   # 29.12 s at 12 kHz
    TensorShape([1, 1366, 96])
    """

    def __init__(self, front_end="thesis", chunk_frames: Optional[int] = CHUNK_FRAMES, **kwargs):
        layer_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in ("name", "dtype", "trainable")}
        super().__init__(**layer_kwargs)
        if chunk_frames is not None and (not isinstance(chunk_frames, (int, np.integer)) or chunk_frames <= 0):
            raise ParameterError(f"chunk_frames={chunk_frames!r} must be a positive integer or None")
        self.chunk_frames = None if chunk_frames is None else int(chunk_frames)
        base = get_front_end(front_end)
        self.config = dataclasses.replace(base, **kwargs).validate() if kwargs else base
        c = self.config
        self._mel = tf.constant(mel_filterbank(c.sample_rate, c.fft_length, c.n_mels, c.fmin, c.fmax,
                                               c.mel_scale, c.mel_norm))
        self.supports_masking = False

    def num_frames(self, num_samples):
        """Frames produced for ``num_samples`` samples (:meth:`FrontEndConfig.num_frames`)."""
        return self.config.num_frames(num_samples)

    def call(self, waveform):
        c = self.config
        x = tf.convert_to_tensor(waveform, dtype=tf.float32)
        lead = tf.shape(x)[:-1]
        x = tf.reshape(x, [-1, tf.shape(x)[-1]])  # (batch, samples)
        n = tf.shape(x)[-1]
        pad = c.frame_length // 2 if c.center else 0
        n_frames = c.num_frames(n)
        if self.chunk_frames is None:
            mel = _compress(self._mel_power(self._pad(x, pad, 0)), c)
        else:
            # Long signals are processed in chunks of `chunk_frames` frames so that the STFT's
            # intermediates (frames, complex spectrum, power: ~4 KB per frame) never exist for a
            # whole track at once; the output is identical (each frame sees the same samples).
            step = self.chunk_frames * c.hop_length
            span = (self.chunk_frames - 1) * c.hop_length + c.frame_length
            n_chunks = tf.maximum(1, (n_frames + self.chunk_frames - 1) // self.chunk_frames)
            x = self._pad(x, pad, tf.maximum(0, (n_chunks - 1) * step + span - (n + 2 * pad)))
            mel = tf.map_fn(lambda k: _compress(self._mel_power(x[:, k * step:k * step + span]), c, clip=False),
                            tf.range(n_chunks),
                            fn_output_signature=tf.TensorSpec([None, self.chunk_frames, c.n_mels], tf.float32),
                            **({} if tf.executing_eagerly() else {"parallel_iterations": 2}))
            mel = merge_dims(tf.transpose(mel, [1, 0, 2, 3]), 1, 3)[:, :n_frames]
            mel = _clip_top_db(mel, c)
        return tf.reshape(mel, tf.concat([lead, [n_frames, c.n_mels]], 0))

    def _pad(self, x, pad, extra):
        """Centre-pad ``pad`` samples on both sides and append ``extra`` zeros, in one copy."""
        c = self.config
        if pad and c.pad_mode == "reflect":
            n = tf.shape(x)[-1]
            zeros = tf.zeros([tf.shape(x)[0], extra], x.dtype)
            # reflect needs more samples than the pad; tiny inputs fall back to zeros.
            return tf.cond(n > pad,
                           lambda: tf.concat([tf.reverse(x[:, 1:pad + 1], [1]), x,
                                              tf.reverse(x[:, n - pad - 1:n - 1], [1]), zeros], axis=1),
                           lambda: tf.pad(x, [[0, 0], [pad, pad + extra]]))
        return tf.pad(x, [[0, 0], [pad, pad + extra]])

    def _mel_power(self, x):
        """Steps 1–3 of Algorithm 1 (plus ``mel_power``) on already centred signals."""
        c = self.config
        stft = tf.signal.stft(x, frame_length=c.frame_length, frame_step=c.hop_length, fft_length=c.fft_length,
                              window_fn=_WINDOWS[c.window], pad_end=False)
        power = tf.math.square(tf.math.real(stft)) + tf.math.square(tf.math.imag(stft))
        if c.power != 2.0:
            power = tf.math.pow(power, c.power / 2.0)
        mel = tf.tensordot(power, self._mel, axes=1)
        if c.mel_power != 1.0:
            mel = tf.math.pow(mel, c.mel_power)
        return mel

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else self.config.num_frames(int(samples))
        return tuple(input_shape[:-1]) + (frames, self.config.n_mels)

    def get_config(self):
        config = super().get_config()
        config.update({"front_end": dataclasses.asdict(self.config), "chunk_frames": self.chunk_frames})
        return config


def _compress(mel, c: FrontEndConfig, clip: bool = True):
    """The compression of ``c``; ``clip=False`` leaves ``top_db`` (a per-example max) for later."""
    if c.compression == "ln":
        return tf.math.log(tf.maximum(mel, c.log_floor))
    if c.compression == "log10p":
        return tf.math.log1p(c.log_gain * mel) / math.log(10.0)
    if c.compression == "db":
        db = (10.0 / math.log(10.0)) * tf.math.log(tf.maximum(mel, c.log_floor))
        return _clip_top_db(db, c) if clip else db
    return mel


def _clip_top_db(db, c: FrontEndConfig):
    """librosa's ``top_db``: keep ``top_db`` dB below each example's maximum."""
    if c.compression != "db" or c.top_db is None:
        return db
    peak = tf.reduce_max(db, axis=[-2, -1], keepdims=True)
    return tf.maximum(db, peak - c.top_db)


_TAILS = ("pad", "drop")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SegmentFrames(keras.layers.Layer):
    """Cut a track's frames into segments of 1366 frames (29.12 s), Section 4.3.3.

    The thesis tags whole songs by summarising every 29.1 s segment (Algorithms 24–25). A
    track rarely lasts a whole number of segments; ``tail`` says what happens to the rest:

    * ``'pad'`` (default): the tail becomes a last segment, padded with ``pad_value`` and
      marked in ``frame_mask``. Nothing of the track is lost.
    * ``'drop'``: an incomplete tail is discarded (Choi et al.'s clip-based practice), except
      that a track shorter than one segment always keeps its single, padded segment.

    Args:
        segment_frames: int > 0, frames per segment. Defaults to 1366.
        hop_frames: int > 0 or None, step between segment starts (``None``: ``segment_frames``,
            no overlap).
        tail: ``'pad'`` or ``'drop'``.
        pad_value: float, value of padded frames (use the front end's value of silence, e.g.
            ``ln(1e-10)``, if a model must not see padding as loud). Defaults to ``0.0``.

    Call arguments:
        frames: ``(batch, frames, features)``.
        lengths: optional int ``(batch,)`` number of real frames of each track (batches of
            tracks of unequal length, zero-padded). ``None``: all frames are real.

    Returns:
        ``segments`` ``(batch, n_segments, segment_frames, features)`` and ``frame_mask``
        ``(batch, n_segments, segment_frames)`` bool (True for real frames). A segment is
        valid when any of its frames is: ``segment_mask = reduce_any(frame_mask, -1)``.
    """

    def __init__(self, segment_frames: int = constants.SEGMENT_FRAMES, hop_frames: Optional[int] = None,
                 tail: str = "pad", pad_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        for name, v in (("segment_frames", segment_frames), ("hop_frames", hop_frames)):
            if v is not None and (not isinstance(v, (int, np.integer)) or v <= 0):
                raise ParameterError(f"{name}={v!r} must be a positive integer")
        if tail not in _TAILS:
            raise ParameterError(f"tail={tail!r} must be one of {_TAILS}")
        self.segment_frames = int(segment_frames)
        self.hop_frames = None if hop_frames is None else int(hop_frames)
        self.tail = tail
        self.pad_value = float(pad_value)

    @property
    def hop(self) -> int:
        """Frames between the starts of consecutive segments (``hop_frames``, else ``segment_frames``)."""
        return self.hop_frames or self.segment_frames

    def start_seconds(self, num_segments, seconds_per_frame: float):
        """Start time in seconds of each of ``num_segments`` segments (a float32 tensor): segment
        ``s`` starts ``s·hop`` frames into the track. The one definition of a timeline's times."""
        return tf.cast(tf.range(num_segments), tf.float32) * float(self.hop * seconds_per_frame)

    def num_segments(self, num_frames):
        """Segments produced for a track of ``num_frames`` frames (int or tensor); at least 1."""
        hop, seg = self.hop_frames or self.segment_frames, self.segment_frames
        if self.tail == "pad":
            n = (num_frames - seg + hop - 1) // hop + 1  # ceil((n - seg) / hop) + 1
        else:
            n = (num_frames - seg) // hop + 1
        return tf.maximum(n, 1) if tf.is_tensor(n) else max(int(n), 1)

    def call(self, frames, lengths=None):
        frames = tf.convert_to_tensor(frames)
        seg, hop = self.segment_frames, self.hop_frames or self.segment_frames
        total = tf.shape(frames)[1]
        lengths = tf.fill([tf.shape(frames)[0]], total) if lengths is None else tf.cast(lengths, tf.int32)
        # the longest track sets the segment count; an empty batch (a replica's share of a small
        # last batch) has none: reduce_max of nothing is the smallest int32, hence the maximum with 0
        n_seg = self.num_segments(tf.maximum(tf.reduce_max(lengths), 0))
        needed = (n_seg - 1) * hop + seg
        frames = tf.pad(frames[:, :needed], [[0, 0], [0, tf.maximum(needed - total, 0)], [0, 0]],
                        constant_values=self.pad_value)
        if hop == seg:  # non-overlapping: a reshape, no copy
            segments = tf.reshape(frames, [tf.shape(frames)[0], n_seg, seg, frames.shape[-1]])
        else:
            segments = tf.signal.frame(frames, seg, hop, axis=1)  # (B, S, seg, F)
        position = tf.range(n_seg)[:, None] * hop + tf.range(seg)[None, :]  # (S, seg)
        frame_mask = position[None] < lengths[:, None, None]
        if self.tail == "drop":
            keep = self.num_segments(lengths)  # per track
            frame_mask &= tf.range(n_seg)[None, :, None] < keep[:, None, None]
        # frames past a track's length become pad_value (skipped when no track is shorter than
        # the input, e.g. a single track: saves a copy of the whole input)
        segments = tf.cond(tf.reduce_all(lengths >= total) & (self.tail == "pad"), lambda: segments,
                           lambda: tf.where(frame_mask[..., None], segments, tf.cast(self.pad_value, segments.dtype)))
        return segments, frame_mask

    def compute_output_shape(self, input_shape, lengths_shape=None):
        b, _, f = input_shape
        return (b, None, self.segment_frames, f), (b, None, self.segment_frames)

    def get_config(self):
        config = super().get_config()
        config.update({"segment_frames": self.segment_frames, "hop_frames": self.hop_frames,
                       "tail": self.tail, "pad_value": self.pad_value})
        return config


def iter_log_mel(blocks, compute, front_end="thesis", chunk_frames: int = CHUNK_FRAMES):
    """Log-mel frames of a track given as a stream of waveform blocks, yielded in order, ``chunk_frames``
    at a time (the last chunk may be shorter), never holding the whole waveform or spectrogram.

    Each chunk is computed from the samples it needs plus enough context that every frame sees
    exactly the samples it would in one call, so the chunks concatenate to ``compute(whole_waveform)``.
    This is how ``python -m tfmusictag.predict`` tags hour-long tracks in bounded memory.

    Parameters
    ----------
    blocks : iterable of np.ndarray [shape=(n,), dtype=float32]
        Consecutive mono blocks at the front end's rate (e.g. :func:`tfmusictag.audio.stream`).
    compute : callable
        ``waveform (1, samples) → log-mel (1, frames, n_mels)`` for this front end (a
        :class:`LogMelSpectrogram`, or a SavedModel's ``front_end`` signature).
    front_end : name, dict or FrontEndConfig
        Its parameters. ``compression='db'`` with ``top_db`` needs the whole track (a global
        maximum) and is refused.
    chunk_frames : int > 0

    Yields
    ------
    np.ndarray [shape=(frames, n_mels), dtype=float32]
    """
    c = get_front_end(front_end)
    if c.compression == "db" and c.top_db is not None:
        raise ParameterError("log-mel in chunks cannot apply top_db (a per-track maximum); compute the whole track")
    if not c.center:
        raise ParameterError("log-mel in chunks needs centred frames (center=True)")
    if not isinstance(chunk_frames, (int, np.integer)) or chunk_frames <= 0:
        raise ParameterError(f"chunk_frames={chunk_frames!r} must be a positive integer")
    hop, pad = c.hop_length, c.frame_length // 2
    ctx = -(-pad // hop) * hop  # samples of left context: ceil(pad / hop) frames
    buf, buf_start, next_frame, total = np.zeros(0, np.float32), 0, 0, 0

    def frames(lo, hi, n_frames, drop):
        return np.asarray(compute(buf[lo - buf_start:hi - buf_start][None]))[0][drop:drop + n_frames]

    for block in blocks:
        block = np.asarray(block, np.float32)
        buf = np.concatenate([buf, block]) if len(buf) else block  # a whole decoded track is not copied
        total += len(block)
        # a chunk of frames [next_frame, next_frame + C) needs samples up to its last centre + pad
        while (next_frame + chunk_frames - 1) * hop + pad <= total:
            lo = max(0, next_frame * hop - ctx)
            yield frames(lo, (next_frame + chunk_frames - 1) * hop + pad, chunk_frames, (next_frame * hop - lo) // hop)
            next_frame += chunk_frames
            keep_from = max(0, next_frame * hop - ctx)
            buf, buf_start = buf[keep_from - buf_start:], keep_from
    n_total = c.num_frames(total)
    if next_frame < n_total:
        lo = max(0, next_frame * hop - ctx)
        yield frames(lo, total, n_total - next_frame, (next_frame * hop - lo) // hop)
