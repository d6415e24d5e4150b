"""The thesis's named model variants (Tables 4.9–4.10) and baselines, buildable by name.

"Black-box" (Sec. 3.2.2) means the stage's weights come from a source-task model and stay
frozen on the target task: the variant lists those groups in ``freeze``. The weights themselves
are loaded by training's ``--init_from`` (a trained source model or a converted pretrained one).
"CNN" is the thesis's Alg. 20 network by default; with ``--init_from=MTT_musicnn`` (or another
pretrained name) the variant takes the source's CNN instead (``training.transfer_config``).

| name | thesis | reduction | temporal | frozen |
|---|---|---|---|---|
| ``mfcc_bof`` | MFCC + BoF (Alg. 23) | MFCC 90 | BoF Z | — |
| ``mfcc_blackbox_lstm`` | MFCC + Black-box LSTM | MFCC 90 | Alg. 24 | temporal |
| ``mfcc_finetuned_lstm`` | MFCC + Fine-tune LSTM (Alg. 24) | MFCC 90 | Alg. 24 | — |
| ``blackbox_cnn_bof`` | Black-box CNN + BoF | CNN (Alg. 20) | BoF Z | CNN |
| ``blackbox_cnn_blackbox_lstm`` | Black-box CNN + Black-box LSTM | CNN | Alg. 25 LSTMs | CNN, temporal |
| ``blackbox_cnn_finetuned_lstm`` | Black-box CNN + Fine-tune LSTM | CNN | Alg. 25 LSTMs | CNN |
| ``finetuned_cnn_finetuned_lstm`` | Fine-tune CNN + Fine-tune LSTM (Alg. 25) | CNN | Alg. 25 LSTMs | — |
| ``pca_bof`` | PCA whitening + BoF (Sec. 3.1, [17]) | PCA | BoF Z | — |
| ``cnn_mean`` / ``cnn_max`` | segment pooling baseline (musicnn, Won et al.) | CNN | mean / max | — |
| ``transfer_stats`` | small-catalog recipe (beyond the thesis) | CNN, last + all layers | mean + std + max | CNN |

Thesis sizes are the defaults: Z = H = T = 1024, p = 0.3. The LSTMs standardise their input with
training statistics (``temporal.lstm.standardize``; the thesis does not say how it scaled them).

``transfer_stats`` is the recipe for small catalogs (:mod:`tfmusictag.training.recipe`): frozen
source CNNs (the recipe's two, side by side: an ``'ensemble'`` reduction, or one) read out at their
last layer and at every layer (``reduction.readout='last_and_all_layers'``, Choi et al. 2017), the
mean, standard deviation and maximum of their patch vectors over the track
(:class:`~tfmusictag.temporal.StatsPooling`, ``temporal.type='mean_std_max'``), and one linear head per network and readout on
standardised features with an L2 penalty, their probabilities averaged (``classifier.hidden=0``,
``heads='per_readout'``, ``standardize``, ``l2``). It has no parameter fitted on fewer tracks than it can carry: the
thesis's Z = 1024-centre codebook and H = 1024 hidden units are fitted on a few hundred tracks
in Table 4.9's setting, which is where a linear probe on the same network wins.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Sequence

from tfmusictag.classifier import ClassifierConfig
from tfmusictag.reduction import ReductionConfig
from tfmusictag.registry import Registry, override
from tfmusictag.tagger import TaggerConfig, TrackTagger
from tfmusictag.temporal import LSTMConfig, TemporalConfig

__all__ = ["VARIANTS", "variant_config", "build_variant"]

VARIANTS = Registry("variant")
_CNN = ("cnn_low", "cnn_high")


def _variant(name, reduction, temporal, freeze=(), readout="last", classifier=None):
    def make() -> TaggerConfig:
        # the LSTMs standardise their input (temporal.LSTMConfig: MFCCs otherwise saturate the gates)
        return TaggerConfig(reduction=ReductionConfig(type=reduction, readout=readout),
                            temporal=TemporalConfig(type=temporal, lstm=LSTMConfig(standardize=True)),
                            freeze=tuple(freeze),
                            classifier=classifier or ClassifierConfig())

    VARIANTS.register(name)(make)


_variant("mfcc_bof", "mfcc", "bof")
_variant("mfcc_blackbox_lstm", "mfcc", "hierarchical_lstm", ["temporal"])
_variant("mfcc_finetuned_lstm", "mfcc", "hierarchical_lstm")
_variant("blackbox_cnn_bof", "cnn", "bof", _CNN)
_variant("blackbox_cnn_blackbox_lstm", "cnn", "lstm", _CNN + ("temporal",))
_variant("blackbox_cnn_finetuned_lstm", "cnn", "lstm", _CNN)
_variant("finetuned_cnn_finetuned_lstm", "cnn", "lstm")
_variant("pca_bof", "pca", "bof")
_variant("cnn_mean", "cnn", "mean")
_variant("cnn_max", "cnn", "max")
_variant("transfer_stats", "cnn", "mean_std_max", _CNN, readout="last_and_all_layers",
         classifier=ClassifierConfig(hidden=0, standardize=True, l2=1e-2, heads="per_readout"))

#: The seven variants of the thesis's Tables 4.9–4.10, in table order.
THESIS_VARIANTS = ("mfcc_bof", "mfcc_blackbox_lstm", "mfcc_finetuned_lstm", "blackbox_cnn_bof",
                   "blackbox_cnn_blackbox_lstm", "blackbox_cnn_finetuned_lstm", "finetuned_cnn_finetuned_lstm")


def variant_config(name: str, tags: Sequence[str], overrides: Dict[str, Any] = None) -> TaggerConfig:
    """The :class:`TaggerConfig` of variant ``name`` for ``tags``, with dotted-path ``overrides``.

    >>> cfg = variant_config("mfcc_bof", ["piano", "drums"], {"temporal.bof.num_clusters": 64})
    >>> cfg.temporal.bof.num_clusters
    64
    """
    config = dataclasses.replace(VARIANTS.get(name)(), tags=tuple(tags))
    for path, value in (overrides or {}).items():
        config = override(config, path, value)
    return config.validate()


def build_variant(name: str, tags: Sequence[str], overrides: Dict[str, Any] = None) -> TrackTagger:
    """Build variant ``name`` (see the table above) as a :class:`TrackTagger`."""
    return TrackTagger(variant_config(name, tags, overrides), name=name)
