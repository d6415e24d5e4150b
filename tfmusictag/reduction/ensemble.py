"""Several segment CNNs read out side by side on the same patches (``reduction.type='ensemble'``).

The thesis transfers one source network (Sec. 3.2). On a small catalog, what one network's
embedding misses another's often has: the pretrained MagnaTagATune VGG and the MSD musicnn were
trained on other tags and with other filters, so one linear head per network and readout,
their probabilities averaged, is steadier than any one network's probe
(``benchmarks/bench_small_catalog.py`` compares them). The
networks that share a front end and patch length (``MTT_vgg``, ``MSD_vgg``, ``MTT_musicnn``,
``MSD_musicnn``: the musicnn log-mel, 187-frame patches) can be computed on the same segmented
spectrogram and their vectors concatenated; each member's feature groups stay groups of the whole
(:meth:`EnsembleReduction.feature_groups`), so a classifier with ``heads='per_readout'`` gives each
network (and each readout) its own head and averages their probabilities: late fusion.

``python -m tfmusictag.train --init_from=MTT_vgg,MSD_musicnn`` builds one from the named source
models (:func:`tfmusictag.training.transfer.transfer_config`) and copies each one's weights into
its member.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tfmusictag.errors import ParameterError
from tfmusictag.reduction.config import ALL_LAYER_READOUTS, REDUCTIONS, ReductionConfig
from tfmusictag.stages import ReductionStage

__all__ = ["EnsembleReduction"]

_PACKAGE = "tfmusictag"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class EnsembleReduction(ReductionStage):
    """Segment CNNs applied to the same segments, their vectors concatenated in order.

    Args:
        members: list of segment-level :class:`~tfmusictag.stages.ReductionStage` layers (at least
            one); they must accept the same segments (the same front end and patch length).

    Call arguments:
        segments: ``(batch, segments, frames, n_mels)`` log-mel segments.
        frame_mask: ``(batch, segments, frames)`` bool, the valid frames.
        training: passed on to every member.

    Returns:
        ``(features, mask)``: ``(batch, segments, sum of the members' dims)`` and the first member's
        ``(batch, segments)`` segment mask (every member derives it from the same frame mask).

    Example:
        >>> from tfmusictag.reduction import EnsembleReduction, MusicnnCNN, MusicnnVGG
        >>> both = EnsembleReduction([MusicnnVGG(readout="last_and_all_layers"), MusicnnCNN()])
        >>> both.feature_groups(96, 187)
        (256, 1280, 1506)
    """

    level = "segment"

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        members = list(members)
        if not members:
            raise ParameterError("EnsembleReduction needs at least one member; received members=[]")
        bad = [type(m).__name__ for m in members if not isinstance(m, ReductionStage) or m.level != "segment"]
        if bad:
            raise ParameterError(f"EnsembleReduction members must be segment-level reductions (CNNs); received {bad}")
        self.members = members

    def groups(self):
        """Every member's ``cnn_low`` and ``cnn_high`` layers, so that freezing or a per-group learning
        rate applies to the same layers of every network."""
        out = {}
        for member in self.members:
            for group, layers in member.groups().items():
                out.setdefault(group, []).extend(layers)
        return out

    def feature_groups(self, n_mels, n_frames):
        return tuple(g for m in self.members for g in m.feature_groups(n_mels, n_frames))

    def output_dim(self, n_mels, n_frames):
        return sum(m.output_dim(n_mels, n_frames) for m in self.members)

    def needs_fitting(self) -> bool:
        return any(m.needs_fitting() for m in self.members)

    def fold(self):
        """Every member's :meth:`~tfmusictag.stages.ReductionStage.fold`, keyed ``member/layer``."""
        return {f"{m.name}/{k}": v for m in self.members for k, v in m.fold().items()}

    def unfold(self):
        for m in self.members:
            m.unfold()

    def build(self, segments_shape, frame_mask_shape=None):
        for member in self.members:
            member.build(segments_shape)
        self.built = True

    def call(self, segments, frame_mask, training=None):
        outputs = [m(segments, frame_mask, training=training) for m in self.members]
        features = outputs[0][0] if len(outputs) == 1 else tf.concat([f for f, _ in outputs], -1)
        return features, outputs[0][1]

    def get_config(self):
        config = super().get_config()
        config["members"] = [keras.saving.serialize_keras_object(m) for m in self.members]
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["members"] = [keras.saving.deserialize_keras_object(m) for m in config["members"]]
        return cls(**config)


@REDUCTIONS.register("ensemble")
def _build_ensemble(config: ReductionConfig, name):
    """Members ``config.members`` (reduction types, checked by ``TaggerConfig.validate``), each built
    from ``config``'s own sub-config of its type, at ``config.readout`` where the type has layers to
    read out (else its one vector)."""
    members = []
    for i, kind in enumerate(config.members):
        readout = config.readout if kind in ALL_LAYER_READOUTS else "last"
        member = dataclasses.replace(config, type=kind, readout=readout, members=())
        members.append(REDUCTIONS.get(kind)(member, f"{name}_{i}_{kind}"))
    return EnsembleReduction(members, name=name)
