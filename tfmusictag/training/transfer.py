"""Transfer learning from a source-task model (thesis Sec. 3.2, Fig. 3.2).

The source model (a MagnaTagATune tagger: pretrained or trained with this package) lends its
front end, segmentation and reduction — and its temporal stage where it has one — to the target
model, whose classifier is new (the target vocabulary differs).

Several source models (``init_from='MTT_vgg,MSD_musicnn'``) that share a front end and segment
length lend their CNNs side by side: the target's reduction is an ``'ensemble'`` of them
(:class:`~tfmusictag.reduction.ensemble.EnsembleReduction`), each member with its source's weights.
The thesis transfers one network; the small-catalog recipe (:mod:`~tfmusictag.training.recipe`)
reads two, one linear head per network and readout.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, Sequence, Union

from tfmusictag import pretrained, rundir
from tfmusictag.errors import ParameterError
from tfmusictag.reduction.config import ENSEMBLE_MEMBERS, ReductionConfig
from tfmusictag.tagger import TaggerConfig, TrackTagger

__all__ = ["SEGMENT_CNNS", "source_names", "source_config", "load_source", "transfer_config", "transfer_weights"]


#: Reductions that turn a segment into one vector with a CNN: interchangeable as the "CNN" of the
#: thesis's variants (its own Alg. 20 CNN, or the pretrained musicnn / VGG source models).
SEGMENT_CNNS = ENSEMBLE_MEMBERS + ("ensemble",)


def source_names(init_from: str) -> list:
    """The source models named by ``init_from``: one pretrained name or model directory, or several
    joined by commas (``'MTT_vgg,MSD_musicnn'``)."""
    names = [n.strip() for n in str(init_from).split(",") if n.strip()]
    if not names:
        raise ParameterError(f"init_from={init_from!r} names no source model; give a pretrained name or a model "
                             f"directory, or several joined by commas")
    return names


def source_config(name: str) -> TaggerConfig:
    """The :class:`TaggerConfig` of one source model (a pretrained name, converted on first use, or a
    model directory), read without building the model where it can be."""
    path = pretrained.model_path(name)
    run = rundir.RunDir(path)
    if os.path.isdir(path) and os.path.exists(run.file(rundir.MODEL_CONFIG)):
        return run.read_model_config()
    return pretrained.load_model(name).tagger_config


def load_source(init_from: str):
    """The source model(s) of ``init_from``: a :class:`TrackTagger`, or a tuple of them when it names
    several (:func:`source_names`)."""
    models = tuple(pretrained.load_model(name) for name in source_names(init_from))
    return models[0] if len(models) == 1 else models


def _ensemble(target_readout: str, sources: Sequence[TaggerConfig], names: Sequence[str]):
    """The ``'ensemble'`` reduction config of several source configs (one member each, in order)."""
    first = sources[0]
    for name, s in zip(names[1:], sources[1:]):
        if s.front_end != first.front_end or s.segments != first.segments:
            raise ParameterError(
                f"{names[0]} and {name} cannot be read out side by side: their front ends ({first.front_end!r}, "
                f"{s.front_end!r}) or segments ({first.segments.segment_frames}, {s.segments.segment_frames} frames) "
                f"differ; join networks that share them (MTT_vgg, MSD_vgg, MTT_musicnn, MSD_musicnn)")
    kinds = tuple(s.reduction.type for s in sources)
    bad = [f"{n} ({k})" for n, k in zip(names, kinds) if k not in ENSEMBLE_MEMBERS]
    if bad:
        raise ParameterError(f"several source models are joined by their CNNs; {', '.join(bad)} has no segment CNN "
                             f"(one of {ENSEMBLE_MEMBERS})")
    sizes = {}
    for name, s in zip(names, sources):
        size = getattr(s.reduction, s.reduction.type)
        if sizes.setdefault(s.reduction.type, (name, size))[1] != size:
            raise ParameterError(f"{sizes[s.reduction.type][0]} and {name} are both {s.reduction.type!r} networks "
                                 f"of different sizes; an ensemble holds one size per network type")
    return ReductionConfig(type="ensemble", readout=target_readout, members=kinds,
                           **{kind: size for kind, (_, size) in sizes.items()})


def transfer_config(target: TaggerConfig, source: Union[TaggerConfig, Sequence[TaggerConfig]],
                    names: Sequence[str] = None) -> TaggerConfig:
    """The target model's config when it starts from ``source`` (Sec. 3.2, Fig. 3.2).

    The transferred stages only make sense on the input they were trained on, so the target
    takes the source's front end, segmentation and reduction (type and sizes); its temporal
    stage, classifier (new vocabulary) and frozen groups stay those of the chosen variant. A
    variant whose reduction is "the CNN" accepts any segment CNN (the thesis's, musicnn's, VGG);
    otherwise the reduction types must match. The variant's ``readout`` (which layers give the
    segment vector) is kept: it reads the same weights. Several sources (a sequence of configs or
    models, which must share front end and segments) give an ``'ensemble'`` reduction of their CNNs;
    ``names`` (default: the models' names, or "source model i") name them in errors.
    """
    given = list(source) if isinstance(source, (list, tuple)) else [source]
    sources = [getattr(s, "tagger_config", s) for s in given]
    names = list(names or [getattr(s, "name", None) or f"source model {i}" for i, s in enumerate(given, 1)])
    t, s = target.reduction.type, sources[0].reduction.type
    if len(sources) > 1:
        if t not in SEGMENT_CNNS:
            raise ParameterError(f"the variant's reduction is {t!r}; several source models are joined by their CNNs, "
                                 f"so choose a CNN variant (e.g. transfer_stats, blackbox_cnn_bof)")
        reduction = _ensemble(target.reduction.readout, sources, names)
    else:
        if t != s and not (t in SEGMENT_CNNS and s in SEGMENT_CNNS):
            raise ParameterError(f"the variant's reduction is {t!r} but the source model's is {s!r}; choose a variant "
                                 f"with the source's reduction (a CNN variant for a CNN source)")
        reduction = dataclasses.replace(sources[0].reduction, readout=target.reduction.readout)
    return dataclasses.replace(target, front_end=sources[0].front_end, segments=sources[0].segments,
                               reduction=reduction).validate()


def transfer_weights(source: Union[TrackTagger, Sequence[TrackTagger]], target: TrackTagger,
                     stages=("reduction", "temporal")) -> Dict[str, int]:
    """Copy the weights of ``stages`` from a source-task model into ``target`` (Sec. 3.2).

    Several sources (a sequence, the target built by :func:`transfer_config` from them) each give
    their reduction to one member of the target's ensemble, in order; the temporal stage is then
    the variant's own, trained (several sources have no one temporal stage to lend).

    The classifier is never copied (the target vocabulary differs). The reduction must match in
    variables and shapes (:func:`transfer_config` makes it so). The temporal stage is copied when
    it matches too; a source without temporal weights (e.g. musicnn, whose tags are a mean over
    patches) leaves it to be trained, unless the variant freezes it ("black-box LSTM"), which
    would freeze untrained weights and is refused.

    Returns:
        ``{stage: number of variables copied}``.
    """
    if isinstance(source, (list, tuple)):
        if len(source) > 1:
            return _transfer_several(source, target, stages)
        source = source[0]
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


def _transfer_several(sources: Sequence[TrackTagger], target: TrackTagger, stages) -> Dict[str, int]:
    members = getattr(target.reduction, "members", None)
    if members is None or len(members) != len(sources):
        raise ParameterError(f"{len(sources)} source models need a target whose reduction is an ensemble of "
                             f"{len(sources)} CNNs (transfer_config makes it); received {target.reduction.name!r}")
    copied = {"reduction": 0}
    for i, (source, member) in enumerate(zip(sources, members), 1):
        src, dst = source.reduction.weights, member.weights
        if [tuple(v.shape) for v in src] != [tuple(v.shape) for v in dst]:
            raise ParameterError(f"cannot transfer source model {i} ({source.name!r}): its CNN's variables differ "
                                 f"from the ensemble's member {i}; build the target with transfer_config")
        for s, d in zip(src, dst):
            d.assign(s)
        copied["reduction"] += len(dst)
    if "temporal" in stages:
        if "temporal" in target.tagger_config.freeze and target.temporal.weights:
            raise ParameterError("the variant freezes the temporal stage but several source models have no one "
                                 "temporal stage to transfer; choose a variant that trains it")
        copied["temporal"] = 0
    return copied
