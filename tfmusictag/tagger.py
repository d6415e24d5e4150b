"""The task model: a whole track → tag probabilities, assembled from a :class:`TaggerConfig`.

``pred = C(T(D(R(a))))`` (thesis Algorithm 21): representation ``R``
(:class:`~tfmusictag.frontend.LogMelSpectrogram`), 29.12 s segments
(:class:`~tfmusictag.frontend.SegmentFrames`), reduction ``D`` (:mod:`tfmusictag.reduction`),
temporal approximation ``T`` (:mod:`tfmusictag.temporal`) and classifier ``C``
(:mod:`tfmusictag.classifier`). Each stage is chosen by name through its registry and speaks
through the contract of :mod:`tfmusictag.stages`; the model fits its own unsupervised stages
(:meth:`TrackTagger.fit_unsupervised`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Dict, Tuple

import keras
import tensorflow as tf

from tfmusictag import constants
from tfmusictag.classifier import HEADS, ClassifierConfig, TagClassifier, head_ranges
from tfmusictag.errors import ParameterError
from tfmusictag.frontend import LogMelSpectrogram, SegmentFrames, get_front_end
from tfmusictag.reduction import ReductionConfig, build_reduction
from tfmusictag.reduction.config import ALL_LAYER_READOUTS, ENSEMBLE_MEMBERS, READOUTS
from tfmusictag.registry import config_from_dict, config_to_dict
from tfmusictag.shapes import merge_dims
from tfmusictag.stages import ReductionStage, TemporalStage
from tfmusictag.temporal import TemporalConfig, build_temporal, combine_chunks

__all__ = ["SegmentConfig", "TaggerConfig", "TrackTagger", "LAYER_GROUPS", "DECISIONS", "combine_partials"]

#: How a model decides its tags (``TaggerConfig.decision``).
DECISIONS = ("thresholds", "expected_f1")

#: Groups of layers that training can freeze or give their own learning rate (Tables 4.5–4.8).
LAYER_GROUPS = ("cnn_low", "cnn_high", "reduction", "temporal", "classifier")


@dataclasses.dataclass(frozen=True)
class SegmentConfig:
    """How a track is cut into segments (see :class:`~tfmusictag.frontend.SegmentFrames`)."""

    segment_frames: int = constants.SEGMENT_FRAMES
    hop_frames: Any = None
    tail: str = "pad"


@dataclasses.dataclass(frozen=True)
class TaggerConfig:
    """Everything that defines a :class:`TrackTagger`.

    Attributes:
        tags: the tag vocabulary, in output order.
        front_end: a registered front-end name or a dict of its fields.
        segments, reduction, temporal, classifier: the stage configs.
        freeze: layer groups whose weights stay fixed ("black-box", Sec. 3.2.2): any of
            ``cnn_low``, ``cnn_high``, ``reduction``, ``temporal``, ``classifier``.
        thresholds: one calibrated probability per tag above which the tag is *decided*
            (:mod:`tfmusictag.thresholds`), fitted when training ends; ``()`` for a model without
            them.
        calibration: per tag ``[a, b]``, the Platt map ``σ(a·logit(p) + b)`` that turns the
            network's probability into the calibrated one every output shows
            (:mod:`tfmusictag.calibration`), fitted when training ends; ``()``: none (the
            network's probabilities are shown as they are).
        decision: how tags are decided (:data:`DECISIONS`): ``"thresholds"`` (at ``thresholds``;
            none without them) or ``"expected_f1"`` (per track, the set of tags with the highest
            expected F1, :func:`tfmusictag.thresholds.decide_expected_f1`: a pretrained model's
            rule, which needs no labels).

    The network itself outputs the uncalibrated probabilities (what training's loss sees);
    :class:`~tfmusictag.serving.InferenceModel` and the SavedModel's answering signatures apply
    ``calibration`` and ``decision``.
    """

    tags: Tuple[str, ...] = ()
    front_end: Any = "thesis"
    segments: SegmentConfig = dataclasses.field(default_factory=SegmentConfig)
    reduction: ReductionConfig = dataclasses.field(default_factory=ReductionConfig)
    temporal: TemporalConfig = dataclasses.field(default_factory=TemporalConfig)
    classifier: ClassifierConfig = dataclasses.field(default_factory=ClassifierConfig)
    freeze: Tuple[str, ...] = ()
    thresholds: Tuple[float, ...] = ()
    calibration: Tuple[Tuple[float, float], ...] = ()
    decision: str = "thresholds"

    def validate(self) -> "TaggerConfig":
        if not self.tags:
            raise ParameterError("tags=() must name at least one tag")
        dupes = sorted({t for t in self.tags if self.tags.count(t) > 1})
        if dupes:
            raise ParameterError(f"tags must be unique; repeated: {dupes}")
        bad = sorted(set(self.freeze) - set(LAYER_GROUPS))
        if bad:
            raise ParameterError(f"freeze={list(self.freeze)} names unknown groups {bad}; allowed: {list(LAYER_GROUPS)}")
        r = self.reduction
        if r.readout not in READOUTS:
            raise ParameterError(f"reduction.readout={r.readout!r} must be one of {READOUTS}")
        if r.type == "ensemble":
            if not r.members:
                raise ParameterError(f"reduction.type='ensemble' needs reduction.members, a list of "
                                     f"{ENSEMBLE_MEMBERS}; received members=()")
            bad = [m for m in r.members if m not in ENSEMBLE_MEMBERS]
            if bad:
                raise ParameterError(f"reduction.members={list(r.members)}: {bad} are not segment CNNs; choose "
                                     f"from {ENSEMBLE_MEMBERS}")
            readable = [m for m in r.members if m in ALL_LAYER_READOUTS]
            if r.readout != "last" and not readable:
                raise ParameterError(f"reduction.readout={r.readout!r} needs a CNN member "
                                     f"({', '.join(ALL_LAYER_READOUTS)}); reduction.members={list(r.members)}")
        elif r.members:
            raise ParameterError(f"reduction.members={list(r.members)} is for reduction.type='ensemble'; "
                                 f"received type={r.type!r}")
        elif r.readout != "last" and r.type not in ALL_LAYER_READOUTS:
            raise ParameterError(f"reduction.readout={r.readout!r} needs a CNN reduction ({', '.join(ALL_LAYER_READOUTS)}); "
                                 f"{r.type!r} has one layer")
        if self.thresholds and (len(self.thresholds) != len(self.tags)
                                or not all(isinstance(t, (int, float)) and 0 <= t <= 1 for t in self.thresholds)):
            raise ParameterError(f"thresholds must be one probability in [0, 1] per tag ({len(self.tags)}), or () "
                                 f"for none; received {list(self.thresholds)}")
        if self.calibration and (len(self.calibration) != len(self.tags) or not all(
                len(m) == 2 and all(isinstance(v, (int, float)) and math.isfinite(v) for v in m) for m in self.calibration)):
            raise ParameterError(f"calibration must be one finite [a, b] per tag ({len(self.tags)}), or () for none; "
                                 f"received {list(self.calibration)[:3]}...")
        if self.decision not in DECISIONS:
            raise ParameterError(f"decision={self.decision!r} must be one of {DECISIONS}")
        if self.classifier.heads not in HEADS:
            raise ParameterError(f"classifier.heads={self.classifier.heads!r} must be one of {HEADS}")
        get_front_end(self.front_end)
        return self

    def to_dict(self) -> Dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TaggerConfig":
        return config_from_dict(cls, data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


@keras.saving.register_keras_serializable(package="tfmusictag")
class TrackTagger(keras.Model):
    """Tag whole tracks of any length: waveform → log-mel → segments → D → T → C.

    Args:
        config: a :class:`TaggerConfig` or its dict.

    Call arguments:
        inputs: one of
            * a waveform ``(batch, samples)`` at the front end's sample rate (every row a
              whole track);
            * ``{"waveform": (batch, samples), "length": (batch,)}`` — tracks of unequal length,
              zero-padded to the longest; ``length`` counts real samples;
            * ``{"log_mel": (batch, frames, n_mels), "num_frames": (batch,)}`` — precomputed
              front-end output (e.g. a cached dataset), ``num_frames`` optional.
            * ``{"segments": (batch, segments, dim), "segment_mask": (batch, segments)}`` —
              precomputed output of a segment-level reduction (:meth:`reduce`): training a
              black-box CNN variant computes the frozen CNN once per track, not once per step.
            * ``{"embedding": (batch, dim)}`` — a precomputed track embedding ``f`` (the
              ``embedding`` of :meth:`analyze`), for a temporal stage that pools features: the
              classifier alone (the recipe's training caches it).
        training: bool.

    Returns:
        ``(batch, num_tags)`` tag probabilities. :meth:`analyze` also returns the track
        embedding ``f`` and the per-segment tag probabilities (the tag timeline).

    Padding never changes a track's output: padded samples produce frames beyond the track's
    frame count, which the segment masks exclude from every temporal stage.

    Example:

    >>> from tfmusictag.tagger import TrackTagger, TaggerConfig
    >>> model = TrackTagger(TaggerConfig(tags=("piano", "drums")))
    >>> model(np.zeros((1, 12000 * 40), "float32")).shape    # doctest: +SKIP
    TensorShape([1, 2])
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        cfg = config if isinstance(config, TaggerConfig) else TaggerConfig.from_dict(config)
        self.tagger_config = cfg.validate()
        self.front_end = LogMelSpectrogram(cfg.front_end, name="front_end")
        fe = self.front_end.config
        s = cfg.segments
        self.segmenter = SegmentFrames(s.segment_frames, s.hop_frames, s.tail, pad_value=fe.silence_value(),
                                       name="segments")
        self.reduction = build_reduction(cfg.reduction, name="reduction")
        self.temporal = build_temporal(cfg.temporal, name="temporal")
        for stage, base in ((self.reduction, ReductionStage), (self.temporal, TemporalStage)):
            if not isinstance(stage, base):
                raise ParameterError(f"{type(stage).__name__} must subclass tfmusictag.stages.{base.__name__}")
        if self.reduction.level not in self.temporal.accepts:
            raise ParameterError(
                f"temporal={cfg.temporal.type!r} needs {' or '.join(self.temporal.accepts)}-level features but "
                f"reduction={cfg.reduction.type!r} gives one vector per {self.reduction.level}")
        c = cfg.classifier
        self.classifier = TagClassifier(len(cfg.tags), c.hidden, c.dropout, c.input_norm, c.hidden_norm,
                                             c.input_dropout, c.standardize, c.l2, self._head_ranges(c.heads),
                                             name="classifier")
        for group in cfg.freeze:
            for layer in self.layer_groups()[group]:
                layer.trainable = False
        self.build()

    def _head_ranges(self, heads):
        """The classifier's per-readout heads (``classifier.heads='per_readout'``), or None: one head
        per feature group of the reduction, so one head where it gives one (musicnn, ``readout='last'``)."""
        n_frames, n_mels = self.segmenter.segment_frames, self.front_end.config.n_mels
        groups = self.reduction.feature_groups(n_mels, n_frames)
        if heads == "one" or len(groups) == 1:
            return None
        ranges = None
        if self.temporal.pools_each_feature and self.reduction.level == "segment":
            dim = self.reduction.output_dim(n_mels, n_frames)
            ranges = head_ranges(groups, int(self.temporal.compute_output_shape((None, None, dim))[-1]))
        if ranges is None:
            cfg = self.tagger_config
            raise ParameterError(
                f"classifier.heads={heads!r} needs the readouts of a segment CNN (reduction.readout="
                f"'last_and_all_layers') pooled feature by feature (temporal mean, max, mean_std or mean_std_max); received "
                f"reduction={cfg.reduction.type!r} (readout {cfg.reduction.readout!r}), temporal={cfg.temporal.type!r}")
        return ranges

    # -- structure ---------------------------------------------------------------------------

    @property
    def tags(self) -> Tuple[str, ...]:
        return self.tagger_config.tags

    @property
    def front_end_config(self):
        """The :class:`~tfmusictag.frontend.FrontEndConfig` the model's inputs are computed with."""
        return self.front_end.config

    @property
    def sample_rate(self) -> int:
        return self.front_end.config.sample_rate

    def layer_groups(self) -> Dict[str, list]:
        """Layers per group (Tables 4.5–4.8): ``cnn_low`` (input norm, conv 1–2), ``cnn_high``
        (conv 3–5), ``reduction`` (the whole reduction), ``temporal``, ``classifier``."""
        groups = {"cnn_low": [], "cnn_high": [], "reduction": [self.reduction], "temporal": [self.temporal],
                  "classifier": [self.classifier]}
        if hasattr(self.reduction, "groups"):
            groups.update(self.reduction.groups())
        return groups

    def group_variables(self) -> Dict[str, list]:
        """Trainable variables per group; every trainable variable is in exactly one group."""
        out = {}
        for name in ("cnn_low", "cnn_high", "temporal", "classifier"):
            out[name] = [v for layer in self.layer_groups()[name] for v in layer.trainable_weights]
        ids = {id(v) for vs in out.values() for v in vs}
        out["reduction"] = [v for v in self.reduction.trainable_weights if id(v) not in ids]
        return out

    def build(self, input_shape=None):
        """Create every weight from the configured shapes (inputs may have any length)."""
        if self.built:
            return
        n_frames, n_mels = self.segmenter.segment_frames, self.front_end.config.n_mels
        self.reduction.build((None, None, n_frames, n_mels))
        dim = self.reduction.output_dim(n_mels, n_frames)
        features = (None, None, n_frames, dim) if self.reduction.level == "frame" else (None, None, dim)
        self.temporal.build(features)
        self.embedding_dim = int(self.temporal.compute_output_shape(features)[-1])
        self.classifier.build((None, self.embedding_dim))
        self.built = True

    def get_build_config(self):
        return {"built": bool(self.built)}

    def build_from_config(self, config):
        if config.get("built"):
            self.build()

    # -- forward ------------------------------------------------------------------------------

    def _features(self, inputs):
        """(log_mel (B, P, M), frames (B,)) from any accepted input form (segment features as is)."""
        if isinstance(inputs, dict) and "embedding" in inputs:
            if self.temporal.late_fusion:
                raise ParameterError(f"'embedding' inputs need a temporal stage that pools features; "
                                     f"{self.temporal.name} pools the segments' tags")
            return {"embedding": tf.convert_to_tensor(inputs["embedding"], tf.float32)}
        if isinstance(inputs, dict) and "segments" in inputs:
            if self.reduction.level != "segment":
                raise ParameterError(f"'segments' inputs need a segment-level reduction; {self.reduction.name} "
                                     f"gives one vector per {self.reduction.level}")
            return {"segments": inputs["segments"], "segment_mask": tf.cast(inputs["segment_mask"], tf.bool)}
        if isinstance(inputs, dict):
            if "log_mel" in inputs:
                log_mel = tf.convert_to_tensor(inputs["log_mel"], tf.float32)
                n = inputs.get("num_frames")
                n = tf.fill([tf.shape(log_mel)[0]], tf.shape(log_mel)[1]) if n is None else tf.cast(n, tf.int32)
                return log_mel, n
            if "waveform" not in inputs:
                raise ParameterError(f"inputs must hold 'waveform' or 'log_mel'; received keys {sorted(inputs)}")
            waveform, length = inputs["waveform"], inputs.get("length")
        else:
            waveform, length = inputs, None
        waveform = tf.convert_to_tensor(waveform, tf.float32)
        if waveform.shape.rank == 1:
            waveform = waveform[None]
        log_mel = self.front_end(waveform)
        if length is None:
            n = tf.fill([tf.shape(log_mel)[0]], tf.shape(log_mel)[1])
        else:
            n = tf.minimum(self.front_end.num_frames(tf.cast(length, tf.int32)), tf.shape(log_mel)[1])
        return log_mel, n

    def reduce(self, log_mel, num_frames=None, training=False):
        """The reduction stage's output ``(Y, mask)`` for log-mel input (see :meth:`call`)."""
        log_mel = tf.convert_to_tensor(log_mel, tf.float32)
        n = tf.fill([tf.shape(log_mel)[0]], tf.shape(log_mel)[1]) if num_frames is None else tf.cast(num_frames, tf.int32)
        return self.reduction(*self.segmenter(log_mel, n), training=training)

    def _forward(self, features, training=None, timeline=False, heads=False):
        if isinstance(features, dict) and "embedding" in features:  # a precomputed track embedding
            return self._classify({"embedding": features["embedding"]}, training, heads)
        if isinstance(features, dict):  # precomputed segment-level reduction output
            y, mask = tf.convert_to_tensor(features["segments"], tf.float32), features["segment_mask"]
            segment_mask = mask
        else:
            log_mel, n_frames = features
            segments, frame_mask = self.segmenter(log_mel, n_frames)
            y, mask = self.reduction(segments, frame_mask, training=training)
            segment_mask = tf.reduce_any(frame_mask, -1)
        f = self.temporal(y, mask, training=training)
        # what the temporal stage summarised: valid frames (frame level) or segments (segment level)
        weight = tf.reduce_sum(merge_dims(tf.cast(mask, tf.float32), 1, mask.shape.rank), axis=1)
        out = {"embedding": f, "segment_mask": segment_mask, "weight": weight}
        if self.temporal.late_fusion:
            # the classifier tags every segment; the track's tags are their masked mean
            d = y.shape[-1]
            seg = tf.reshape(self.classifier(tf.reshape(y, [-1, d]), training=training),
                             [tf.shape(y)[0], tf.shape(y)[1], len(self.tags)])
            out["tags"] = self.temporal.pool_tags(seg, mask)
            if timeline:
                out["segment_tags"] = seg
            return out
        self._classify(out, training, heads)
        if timeline and not heads:
            # Each segment on its own, as if it were a track: (B, S, ...) → (B·S, 1, ...).
            b, s = tf.shape(y)[0], tf.shape(y)[1]
            y1 = tf.reshape(y, tf.concat([[-1, 1], tf.shape(y)[2:]], 0))
            m1 = tf.reshape(mask, tf.concat([[-1, 1], tf.shape(mask)[2:]], 0))
            seg = self.classifier(self.temporal(y1, m1, training=training), training=training)
            out["segment_tags"] = tf.reshape(seg, [b, s, len(self.tags)])
        return out

    def _classify(self, out, training, heads):
        """``out`` with the ``tags`` of its ``embedding`` and, with ``heads``, every head's
        probabilities ``head_tags`` ``(B, heads, L)`` (the trainer's loss), ``tags`` their mean."""
        f = out["embedding"]
        if heads:
            out["head_tags"] = self.classifier.head_probabilities(f, training=training)
            out["tags"] = tf.reduce_mean(out["head_tags"], 1)
        else:
            out["tags"] = self.classifier(f, training=training)
        return out

    def call(self, inputs, training=None):
        return self._forward(self._features(inputs), training=training)["tags"]

    def head_probabilities(self, inputs, training=None):
        """``(batch, heads, num_tags)``: the tag probabilities of each of the classifier's heads
        (one head unless ``classifier.heads='per_readout'``); :meth:`call` gives their mean. The
        trainer's loss is the heads' mean loss, so each head learns as a model of its own."""
        features = self._features(inputs)
        if self.temporal.late_fusion:
            return self._forward(features, training=training)["tags"][:, None]
        return self._forward(features, training=training, heads=True)["head_tags"]

    def analyze(self, inputs, training=False):
        """Tags, track embedding ``f`` and tag timeline in one pass.

        Returns:
            dict with ``tags`` ``(B, L)``, ``embedding`` ``(B, Z)``, ``segment_tags``
            ``(B, S, L)`` (each 29.12 s segment tagged on its own) and ``segment_mask``
            ``(B, S)`` (False for padding).
        """
        return self._forward(self._features(inputs), training=training, timeline=True)

    # -- unsupervised stages --------------------------------------------------------------------

    def needs_fitting(self) -> bool:
        """True while a stage still has to be fitted on training data (see :meth:`fit_unsupervised`)."""
        return self.reduction.needs_fitting() or self.temporal.needs_fitting() or self.classifier.needs_fitting()

    def fit_unsupervised(self, batches: tf.data.Dataset) -> Dict[str, Any]:
        """Fit the unsupervised stages in pipeline order on batched training data (thesis Sec. 2).

        PCA (Algorithm 2) is fitted on the segmented log-mel frames, then the BoF codebook
        (Algorithm 8) on the reduction's output, so the codebook sees the features it will
        quantise, then the classifier's standardisation (``classifier.standardize``) on the track
        embeddings. Stages that are fitted already (restored, transferred) are left alone.

        Args:
            batches: ``(inputs, labels)`` batches of :func:`tfmusictag.data.track_pipeline`
                (``log_mel``, ``num_frames``), of precomputed segment features
                (``segments``, ``segment_mask``) of a frozen segment-level reduction, or of
                precomputed track embeddings (``embedding``) of a frozen reduction and a weightless
                temporal stage.

        Returns:
            ``{stage: summary}`` of what was fitted (empty when nothing needed it).
        """
        done = {}
        if "embedding" in batches.element_spec[0]:  # precomputed track embeddings: the classifier alone
            if self.classifier.needs_fitting():
                done["classifier"] = self.classifier.adapt(x["embedding"].numpy() for x, _ in batches)
            return done
        if "segments" in batches.element_spec[0]:
            features = batches.map(lambda x, y: (x["segments"], x["segment_mask"]))
        else:
            segmented = batches.map(lambda x, y: self.segmenter(x["log_mel"], x["num_frames"]))
            if self.reduction.needs_fitting():
                done["reduction"] = self.reduction.adapt(segmented)
            features = segmented.map(lambda s, m: self.reduction(s, m, training=False))
        if self.temporal.needs_fitting():
            done["temporal"] = self.temporal.adapt(features)
        if self.classifier.needs_fitting():
            if self.temporal.late_fusion:  # the classifier sees every valid segment vector
                rows = (tf.boolean_mask(y, m).numpy() for y, m in features)
            else:
                rows = (self.temporal(y, m, training=False).numpy() for y, m in features)
            done["classifier"] = self.classifier.adapt(rows)
        return done

    # -- tagging in chunks ------------------------------------------------------------------------

    @property
    def chunk_combine(self):
        """How chunks of whole segments combine (see :attr:`~tfmusictag.stages.TemporalStage.chunk_combine`):
        ``None`` when the model must see the whole track at once, or when segments overlap."""
        return None if self.segmenter.hop_frames not in (None, self.segmenter.segment_frames) else (
            self.temporal.chunk_combine)

    def partial(self, inputs, training=False):
        """What a chunk of a track contributes: ``embedding`` ``(B, Z)``, ``tags`` ``(B, L)`` and the
        ``weight`` ``(B,)`` (valid frames or segments) it carries.

        For a chunk made of whole segments (a multiple of ``segment_frames`` frames, cut at segment
        boundaries), the whole track's output follows exactly from its chunks' partials
        (:func:`combine_partials`) — so a track of any length is tagged in bounded memory.
        """
        out = self._forward(self._features(inputs), training=training)
        return {"embedding": out["embedding"], "tags": out["tags"], "weight": out["weight"]}

    def tags_from_embedding(self, embedding, training=False):
        """The classifier alone: tags of a (combined) track embedding ``f``."""
        return self.classifier(embedding, training=training)

    def fold(self) -> Dict[str, Any]:
        """Fold the reduction's dead units for inference (:meth:`~tfmusictag.stages.ReductionStage.fold`:
        musicnn's constant filters); returns what was folded. Inference afterwards matches the
        unfolded model to within the stage's tolerance (1e-5 per filter output); training is unchanged."""
        return self.reduction.fold()

    def checkpoint(self, **extra) -> tf.train.Checkpoint:
        """A ``tf.train.Checkpoint`` of the model (and of ``extra`` objects: a trainer's step and
        optimizers). Keras 3 does not show layers held in lists (a CNN's blocks, an ensemble's
        members) to TensorFlow's checkpoint graph, so ``model=`` alone leaves their variables out —
        a resumed run would start from random frozen CNN weights. Every variable is therefore also
        tracked in :attr:`weights` order, which the config fixes."""
        return tf.train.Checkpoint(model=self, weights=list(self.weights), **extra)

    def get_config(self):
        return {"config": self.tagger_config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def combine_partials(partials, combine: str, late_fusion: bool):
    """The whole track's ``(embedding, tags or None)`` from its chunks' :meth:`TrackTagger.partial`
    outputs (numpy arrays of one track each: ``embedding (Z,)``, ``tags (L,)``, ``weight ()``).

    ``tags`` is returned for late-fusion models (the tags themselves combine); otherwise it is
    ``None`` and the tags are the classifier applied to the combined embedding.
    """
    import numpy as np

    kept = [p for p in partials if float(p["weight"]) > 0] or list(partials)
    key = "tags" if late_fusion else "embedding"
    value = combine_chunks(combine, np.stack([np.asarray(p[key]) for p in kept]), [float(p["weight"]) for p in kept])
    return (None, value) if late_fusion else (value, None)
