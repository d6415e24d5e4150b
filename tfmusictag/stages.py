"""The stage contract: what every reduction ``D`` and temporal approximation ``T`` promises.

The thesis's model is ``pred = C(T(D(R(a))))`` (Algorithm 21). :class:`~tfmusictag.tagger.TrackTagger`
assembles any registered reduction with any registered temporal stage, and training treats
them all alike, through this contract only — never by asking which class a stage is:

* a :class:`ReductionStage` maps segmented log-mel ``(batch, segments, frames, n_mels)`` with its
  frame mask to features at its ``level``: ``'frame'`` (one vector per frame: MFCC, PCA) or
  ``'segment'`` (one vector per 29.12 s segment or 3 s patch: the CNNs); it names its layer
  groups for per-group learning rates and freezing (Tables 4.5–4.8) in :meth:`~ReductionStage.groups`;
* a :class:`TemporalStage` maps those features with their mask to one vector per track, says
  which levels it ``accepts``, and whether it fuses *tags* rather than features (``late_fusion``);
* either may be *unsupervised*: :meth:`needs_fitting` is true until :meth:`adapt` has fitted it
  on training data (PCA, Alg. 2; the BoF codebook, Alg. 8). ``TrackTagger.fit_unsupervised``
  fits them in pipeline order, before the supervised steps.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import keras

__all__ = ["ReductionStage", "TemporalStage", "LEVELS"]

#: The levels a reduction's output can have.
LEVELS = ("frame", "segment")


class _Unsupervised:
    def needs_fitting(self) -> bool:
        """True while the stage still has to be fitted on training data (:meth:`adapt`)."""
        return False

    def adapt(self, data) -> Any:
        """Fit the stage on a ``tf.data.Dataset`` of its inputs; returns a short summary (for logs).

        Stages without unsupervised parameters have nothing to fit.
        """
        return None


class ReductionStage(_Unsupervised, keras.layers.Layer):
    """Base class of reductions ``Y = D(X)`` (thesis Sec. 2.2).

    Subclasses set :attr:`level` and implement ``build(segments_shape)``,
    ``call(segments, frame_mask, training=None) -> (features, mask)`` and :meth:`output_dim`.
    ``adapt`` receives a dataset of ``(segments, frame_mask)`` batches.
    """

    #: ``'frame'`` or ``'segment'``: what one output vector stands for.
    level: str = "frame"

    def output_dim(self, n_mels: int, n_frames: int) -> int:
        """Size of one output vector for segments of ``n_frames`` × ``n_mels``."""
        raise NotImplementedError(f"{type(self).__name__} must implement output_dim")

    def feature_groups(self, n_mels: int, n_frames: int) -> Tuple[int, ...]:
        """Sizes of the consecutive groups an output vector is made of (one group: the whole vector;
        a block CNN read out at ``'last_and_all_layers'`` gives two)."""
        return (self.output_dim(n_mels, n_frames),)

    def groups(self) -> Dict[str, List[keras.layers.Layer]]:
        """Sub-layers per layer group (``cnn_low``, ``cnn_high``); empty when the stage has none."""
        return {}

    def fold(self) -> Dict[str, Tuple[int, int]]:
        """Skip, at inference, the work of units whose weights make them constant (dead filters),
        as far as the stage knows how; returns ``{layer: (live, total)}`` for what it folded.
        Derived from the current weights: call it again after they change. Default: nothing."""
        return {}

    def unfold(self) -> None:
        """Undo :meth:`fold` (every unit computed again)."""


class TemporalStage(_Unsupervised, keras.layers.Layer):
    """Base class of temporal approximations ``f = T(Y)`` (thesis Sec. 2.3).

    Subclasses implement ``call(features, mask, training=None) -> (batch, dim)`` and
    ``compute_output_shape(features_shape)``. ``adapt`` receives a dataset of
    ``(features, mask)`` batches (the reduction's output).
    """

    #: Reduction levels this stage can summarise.
    accepts: Tuple[str, ...] = LEVELS
    #: True when the classifier tags every segment and the stage pools the *tags* (:meth:`pool_tags`).
    late_fusion: bool = False
    #: True when the output is statistics of each input feature over time, each statistic laid out
    #: like the input vector (mean, max, mean + std (+ max)): a feature group of the input is then a known
    #: part of the output (the classifier's per-readout heads).
    pools_each_feature: bool = False
    #: How the outputs of consecutive chunks of whole segments combine into the whole track's
    #: output: ``'mean'`` (weighted by the valid frames or segments of each chunk), ``'max'``, or
    #: ``None`` when they do not (a sequence model). Tagging hour-long tracks in bounded memory
    #: relies on it (:meth:`tfmusictag.tagger.TrackTagger.partial`).
    chunk_combine = None

    def pool_tags(self, segment_tags, mask):
        """``(batch, segments, tags)`` → ``(batch, tags)``; only for ``late_fusion`` stages."""
        raise NotImplementedError(f"{type(self).__name__} fuses features, not tags")
