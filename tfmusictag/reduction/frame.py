"""Frame reductions ``Y = D(X)`` applied frame by frame: MFCC (Alg. 4–5) and PCA whitening (Alg. 2–3).

:class:`FrameReduction` is the stage (:class:`~tfmusictag.stages.ReductionStage`, level
``'frame'``) that applies one of these layers (or none: the log-mel frames themselves) to the
segmented spectrogram. A PCA reduction is fitted on the training frames before supervised
training (:meth:`FrameReduction.adapt`, called by :meth:`tfmusictag.tagger.TrackTagger.fit_unsupervised`).
"""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from tfmusictag import constants
from tfmusictag.errors import ParameterError
from tfmusictag.reduction.config import REDUCTIONS, ReductionConfig
from tfmusictag.stages import ReductionStage

__all__ = ["dct_matrix", "MFCC", "PCAWhitening", "FrameReduction"]

_PACKAGE = "tfmusictag"


def dct_matrix(n: int, k: int) -> np.ndarray:
    """The first ``k`` orthonormal DCT-II basis vectors of length ``n`` as an ``(n, k)`` matrix
    (``x @ dct_matrix(n, k)`` equals ``scipy.fft.dct(x, norm='ortho')[..., :k]``)."""
    i = np.arange(n)[:, None]
    j = np.arange(k)[None, :]
    basis = np.cos(np.pi * (2 * i + 1) * j / (2 * n)) * np.sqrt(2.0 / n)
    basis[:, 0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MFCC(keras.layers.Layer):
    """Mel-frequency cepstral coefficients: DCT-II of log-mel bands (Algorithms 4–5).

    ``Y = W_MFCC · ln(X)`` with the orthonormal DCT-II basis (as ``scipy.fft.dct(norm='ortho')``
    and ``librosa.feature.mfcc``), keeping the first ``n_mfcc`` coefficients. The thesis keeps
    90 coefficients of 96 bands (Algorithm 23, step 5).

    Args:
        n_mfcc: int > 0, coefficients kept. Defaults to 90.

    Call arguments:
        log_mel: ``(..., frames, n_mels)`` log-mel spectrogram (e.g. :class:`LogMelSpectrogram`).

    Returns:
        ``(..., frames, n_mfcc)``.
    """

    def __init__(self, n_mfcc: int = constants.N_MFCC, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n_mfcc, (int, np.integer)) or n_mfcc <= 0:
            raise ParameterError(f"n_mfcc={n_mfcc!r} must be a positive integer")
        self.n_mfcc = int(n_mfcc)

    def build(self, input_shape):
        n_mels = input_shape[-1]
        if n_mels is not None and self.n_mfcc > n_mels:
            raise ParameterError(f"n_mfcc={self.n_mfcc} must be <= the number of mel bands ({n_mels})")
        self._basis = None if n_mels is None else tf.constant(dct_matrix(int(n_mels), self.n_mfcc))

    def call(self, log_mel):
        # W_MFCC of Algorithm 4 as a matrix: no FFT intermediates (tf.signal.dct pads to 2N
        # complex values), the output is written once — what matters on hour-long tracks.
        basis = self._basis if self._basis is not None else tf.constant(dct_matrix(log_mel.shape[-1], self.n_mfcc))
        return tf.tensordot(log_mel, basis, axes=1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.n_mfcc,)

    def get_config(self):
        config = super().get_config()
        config.update({"n_mfcc": self.n_mfcc})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PCAWhitening(keras.layers.Layer):
    """PCA reduction and PCA whitening of frame features (Algorithms 2–3), fitted with ``adapt``.

    ``adapt`` streams a dataset once, accumulating the mean and the covariance
    ``Σ = (1/Q)·Ŝ·Ŝᵀ`` of all frames (Algorithm 2, step 1) in float64; ``Σ = V Λ Vᵀ`` is then
    diagonalised and the top ``n_components`` eigenvectors kept. ``call`` computes
    ``Y = W (x − E[x])`` (Algorithm 3) frame by frame.

    Whitening: the thesis writes ``W_PCAW = Λ⁻¹ V̂ᵀ``. That divides each component by its
    variance, leaving a covariance of ``Λ⁻¹``, not the identity it asks for; the whitening
    operator with identity covariance is ``Λ^(-1/2) V̂ᵀ``, which is what ``whiten=True`` uses
    (``epsilon`` is added to each eigenvalue to keep silent directions finite).

    Eigenvector signs are fixed (largest-magnitude entry positive) so fits are reproducible.

    Args:
        n_components: int > 0 or None, components kept (``T``). ``None`` keeps all.
        whiten: bool, scale components to unit variance. Defaults to ``True``.
        epsilon: float >= 0, added to eigenvalues before whitening. Defaults to ``1e-6``.

    Call arguments:
        inputs: ``(..., features)`` frames (e.g. log-mel bands).

    Returns:
        ``(..., n_components)``.

    Example:

    >>> import numpy as np
    >>> from tfmusictag.reduction import PCAWhitening
    >>> pca = PCAWhitening(n_components=8)
    >>> pca.adapt(np.random.default_rng(0).normal(size=(1000, 16)).astype("float32"))
    >>> pca(np.zeros((2, 16), "float32")).shape
    TensorShape([2, 8])
    """

    def __init__(self, n_components: Optional[int] = None, whiten: bool = True, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        if n_components is not None and (not isinstance(n_components, (int, np.integer)) or n_components <= 0):
            raise ParameterError(f"n_components={n_components!r} must be a positive integer or None")
        if epsilon < 0:
            raise ParameterError(f"epsilon={epsilon!r} must be >= 0")
        self.n_components = None if n_components is None else int(n_components)
        self.whiten = bool(whiten)
        self.epsilon = float(epsilon)
        self.num_features = None

    def build(self, input_shape):
        d = input_shape[-1]
        if d is None:
            raise ParameterError("PCAWhitening needs a known last dimension; received input_shape=" f"{input_shape}")
        self.num_features = int(d)
        k = self.n_components or self.num_features
        if k > self.num_features:
            raise ParameterError(f"n_components={k} must be <= the number of input features ({self.num_features})")
        self.mean = self.add_weight(name="mean", shape=(d,), initializer="zeros", trainable=False)
        self.components = self.add_weight(name="components", shape=(d, k), initializer="zeros", trainable=False)
        self.eigenvalues = self.add_weight(name="eigenvalues", shape=(k,), initializer="ones", trainable=False)
        self.adapted = self.add_weight(name="adapted", shape=(), initializer="zeros", trainable=False)

    def is_adapted(self) -> bool:
        return self.built and float(self.adapted.numpy()) == 1

    def adapt(self, data, steps: Optional[int] = None):
        """Fit mean and principal components on ``data``.

        Parameters
        ----------
        data : np.ndarray, tf.Tensor or tf.data.Dataset
            Frames ``(..., features)``, or a dataset yielding such tensors, or ``(frames, mask)``
            pairs where ``mask`` (``(...)``, bool/0–1) marks real frames (padding is ignored).
        steps : int or None
            Number of dataset batches to use (``None``: all).
        """
        if isinstance(data, tf.data.Dataset):
            batches = data.take(steps) if steps is not None else data
        else:
            batches = [data]
        shift = count = s1 = s2 = None
        for batch in batches:
            x, mask = (batch if isinstance(batch, (tuple, list)) else (batch, None))
            x = tf.convert_to_tensor(x)
            if not self.built:
                self.build(x.shape)
            x = tf.reshape(tf.cast(x, tf.float64), [-1, self.num_features])
            w = None if mask is None else tf.reshape(tf.cast(mask, tf.float64), [-1, 1])
            if shift is None:  # shift by a first estimate of the mean: avoids cancellation
                n0 = tf.reduce_sum(w) if w is not None else tf.cast(tf.shape(x)[0], tf.float64)
                shift = (tf.reduce_sum(x * w, 0) if w is not None else tf.reduce_sum(x, 0)) / tf.maximum(n0, 1.0)
                count, s1 = tf.constant(0.0, tf.float64), tf.zeros_like(shift)
                s2 = tf.zeros((self.num_features, self.num_features), tf.float64)
            c, b1, b2 = _moment_sums(x - shift, w)
            count, s1, s2 = count + c, s1 + b1, s2 + b2
        if count is None or float(count) < 2:
            raise ParameterError("PCAWhitening.adapt needs at least 2 (unmasked) frames; received "
                                 f"{0 if count is None else int(float(count))}")
        mean_shifted = s1 / count
        cov = (s2 / count - tf.tensordot(mean_shifted, mean_shifted, axes=0)).numpy()
        cov = 0.5 * (cov + cov.T)
        values, vectors = np.linalg.eigh(cov)
        order = np.argsort(values)[::-1][: self.n_components or self.num_features]
        values, vectors = np.maximum(values[order], 0.0), vectors[:, order]
        signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
        vectors = vectors * np.where(signs == 0, 1.0, signs)
        self.mean.assign((mean_shifted + shift).numpy().astype(np.float32))
        self.components.assign(vectors.astype(np.float32))
        self.eigenvalues.assign(values.astype(np.float32))
        self.adapted.assign(1.0)

    def call(self, inputs):
        y = tf.tensordot(tf.cast(inputs, tf.float32) - self.mean, self.components, axes=1)
        if self.whiten:
            y = y * tf.math.rsqrt(self.eigenvalues + self.epsilon)
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.n_components or input_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"n_components": self.n_components, "whiten": self.whiten, "epsilon": self.epsilon})
        return config


@tf.function(reduce_retracing=True)
def _moment_sums(x, w):
    if w is None:
        return tf.cast(tf.shape(x)[0], tf.float64), tf.reduce_sum(x, 0), tf.matmul(x, x, transpose_a=True)
    xw = x * w
    return tf.reduce_sum(w), tf.reduce_sum(xw, 0), tf.matmul(xw, x, transpose_a=True)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FrameReduction(ReductionStage):
    """Apply a frame-wise layer (MFCC, PCA, identity) to segmented frames; keeps the frame mask.

    Args:
        frame_layer: a Keras layer mapping ``(..., n_mels)`` to ``(..., dim)``, or ``None`` for
            the identity (log-mel frames are the features).

    Call arguments:
        segments: ``(batch, segments, frames, n_mels)``.
        frame_mask: ``(batch, segments, frames)`` bool.

    Returns:
        ``(features, frame_mask)``, features ``(batch, segments, frames, dim)``.
    """

    level = "frame"

    def __init__(self, frame_layer: Optional[keras.layers.Layer] = None, **kwargs):
        super().__init__(**kwargs)
        self.frame_layer = frame_layer

    def build(self, segments_shape, frame_mask_shape=None):
        if self.frame_layer is not None and not self.frame_layer.built:
            self.frame_layer.build(segments_shape)

    def needs_fitting(self) -> bool:
        """PCA is fitted on the training frames (Algorithm 2) before supervised training."""
        return isinstance(self.frame_layer, PCAWhitening) and not self.frame_layer.is_adapted()

    def adapt(self, data):
        """Fit the PCA on a dataset of ``(segments, frame_mask)`` batches (padding ignored)."""
        if isinstance(self.frame_layer, PCAWhitening):
            self.frame_layer.adapt(data)
            return {"pca_components": int(self.frame_layer.components.shape[1])}
        return None

    def call(self, segments, frame_mask, training=None):
        y = segments if self.frame_layer is None else self.frame_layer(segments)
        return y, frame_mask

    def output_dim(self, n_mels, n_frames=None):
        if self.frame_layer is None:
            return n_mels
        return self.frame_layer.compute_output_shape((None, n_mels))[-1]

    def get_config(self):
        config = super().get_config()
        config["frame_layer"] = None if self.frame_layer is None else keras.saving.serialize_keras_object(self.frame_layer)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = config.pop("frame_layer")
        return cls(frame_layer=None if layer is None else keras.saving.deserialize_keras_object(layer), **config)


@REDUCTIONS.register("mfcc")
def _build_mfcc(config: ReductionConfig, name):
    return FrameReduction(MFCC(config.mfcc.n_mfcc, name="mfcc"), name=name)


@REDUCTIONS.register("pca")
def _build_pca(config: ReductionConfig, name):
    return FrameReduction(PCAWhitening(config.pca.n_components, whiten=config.pca.whiten, name="pca"), name=name)


@REDUCTIONS.register("identity")
def _build_identity(config: ReductionConfig, name):
    return FrameReduction(None, name=name)
