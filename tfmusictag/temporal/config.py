"""The temporal stage's configs (:class:`TemporalConfig`) and their registry (:data:`TEMPORALS`):
which stage a variant's ``temporal.type`` builds, with what sizes (Sec. 2.3, Tables 4.3–4.4)."""

from __future__ import annotations

import dataclasses

from tfmusictag.registry import Registry
from tfmusictag.shapes import merge_dims


@dataclasses.dataclass(frozen=True)
class BoFConfig:
    """Bag of Frames: ``num_clusters`` (the thesis's Z; Table 4.3 picks 1024)."""

    num_clusters: int = 1024
    epochs: int = 5
    batch_size: int = 4096
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class LSTMConfig:
    """LSTM size ``units`` (the thesis's T, Table 4.4 picks 1024), dropout ``p`` (0.3), layers, and
    ``standardize``: the LSTM's input features standardised with training-set statistics (see
    :mod:`~tfmusictag.temporal.lstm`; the thesis does not say how its inputs were scaled). Off in the
    bare config (the LSTM as the thesis writes it); every variant (:mod:`tfmusictag.variants`)
    turns it on, because unscaled CNN and MFCC features saturate the gates."""

    units: int = 1024
    dropout: float = 0.3
    num_layers: int = 2
    standardize: bool = False


@dataclasses.dataclass(frozen=True)
class TemporalConfig:
    """One of ``'bof'``, ``'mean'``, ``'max'``, ``'mean_std'``, ``'mean_std_max'``, ``'lstm'`` (Alg. 9–11, 25),
    ``'hierarchical_lstm'`` (Alg. 24), or ``'tag_mean'`` (late fusion: mean of per-segment tags,
    musicnn's)."""

    type: str = "bof"
    bof: BoFConfig = dataclasses.field(default_factory=BoFConfig)
    lstm: LSTMConfig = dataclasses.field(default_factory=LSTMConfig)


TEMPORALS = Registry("temporal")


def build_temporal(config: TemporalConfig, name: str = "temporal"):
    return TEMPORALS.get(config.type)(config, name)


def _flatten_time(x, mask):
    """(B, S, F, D) or (B, S, D) → (B, N, D); masks alike → (B, N)."""
    return merge_dims(x, 1, -1), merge_dims(mask, 1, mask.shape.rank)
