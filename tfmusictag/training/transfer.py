"""Transfer learning from a source-task model (thesis Sec. 3.2, Fig. 3.2).

The source model (a MagnaTagATune tagger: pretrained or trained with this package) lends its
front end, segmentation and reduction — and its temporal stage where it has one — to the target
model, whose classifier is new (the target vocabulary differs).
"""

from __future__ import annotations

import dataclasses
from typing import Dict

from tfmusictag.errors import ParameterError
from tfmusictag.tagger import TaggerConfig, TrackTagger

__all__ = ["SEGMENT_CNNS", "transfer_config", "transfer_weights"]


#: Reductions that turn a segment into one vector with a CNN: interchangeable as the "CNN" of the
#: thesis's variants (its own Alg. 20 CNN, or the pretrained musicnn / VGG source models).
SEGMENT_CNNS = ("cnn", "crnn", "musicnn", "vgg")


def transfer_config(target: TaggerConfig, source: TaggerConfig) -> TaggerConfig:
    """The target model's config when it starts from ``source`` (Sec. 3.2, Fig. 3.2).

    The transferred stages only make sense on the input they were trained on, so the target
    takes the source's front end, segmentation and reduction (type and sizes); its temporal
    stage, classifier (new vocabulary) and frozen groups stay those of the chosen variant. A
    variant whose reduction is "the CNN" accepts any segment CNN (the thesis's, musicnn's, VGG);
    otherwise the reduction types must match. The variant's ``readout`` (which layers give the
    segment vector) is kept: it reads the same weights.
    """
    t, s = target.reduction.type, source.reduction.type
    if t != s and not (t in SEGMENT_CNNS and s in SEGMENT_CNNS):
        raise ParameterError(f"the variant's reduction is {t!r} but the source model's is {s!r}; choose a variant "
                             f"with the source's reduction (a CNN variant for a CNN source)")
    reduction = dataclasses.replace(source.reduction, readout=target.reduction.readout)
    return dataclasses.replace(target, front_end=source.front_end, segments=source.segments,
                               reduction=reduction).validate()


def transfer_weights(source: TrackTagger, target: TrackTagger, stages=("reduction", "temporal")) -> Dict[str, int]:
    """Copy the weights of ``stages`` from a source-task model into ``target`` (Sec. 3.2).

    The classifier is never copied (the target vocabulary differs). The reduction must match in
    variables and shapes (:func:`transfer_config` makes it so). The temporal stage is copied when
    it matches too; a source without temporal weights (e.g. musicnn, whose tags are a mean over
    patches) leaves it to be trained, unless the variant freezes it ("black-box LSTM"), which
    would freeze untrained weights and is refused.

    Returns:
        ``{stage: number of variables copied}``.
    """
    copied = {}
    for stage in stages:
        src, dst = getattr(source, stage).weights, getattr(target, stage).weights
        shapes_src, shapes_dst = [tuple(v.shape) for v in src], [tuple(v.shape) for v in dst]
        if shapes_src != shapes_dst:
            other_kind = source.tagger_config.temporal.type != target.tagger_config.temporal.type
            if stage == "temporal" and (not src or other_kind):  # e.g. BoF over a CNN+LSTM source's CNN
                if "temporal" in target.tagger_config.freeze:
                    raise ParameterError(f"the variant freezes the temporal stage (black-box LSTM) but the source "
                                         f"model {source.name!r} has no {target.tagger_config.temporal.type!r} "
                                         f"temporal weights to transfer; choose a variant that trains it (e.g. "
                                         f"blackbox_cnn_finetuned_lstm)")
                copied[stage] = 0
                continue
            raise ParameterError(f"cannot transfer {stage}: source variables {shapes_src} differ from target "
                                 f"{shapes_dst}; use the source model's variant and sizes")
        for s, d in zip(src, dst):
            d.assign(s)
        copied[stage] = len(dst)
    return copied
