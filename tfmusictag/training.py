"""Training: binary cross-entropy, one Adam per layer group, the thesis's step decay, resumable.

Thesis Section 4.3.2: Adam with default parameters except the learning rate ``η``, which is
multiplied by ``γ = 0.1`` every ``step`` iterations and never goes below ``1e-6``; each section
of the network has its own ``(η, step)`` (Tables 4.2, 4.5–4.8). Adam normalises the gradient's
scale away, so per-group learning rates need one optimizer per group, not scaled gradients.

Defaults are the thesis's *target-task* settings: classifier and LSTM ``(1e-3; 3000)``
(Table 4.2, Sec. 4.3.3), CNN layers 1–2 ``(1e-5; 10K)`` and 3–5 ``(1e-4; 10K)`` (Table 4.8).
A learning rate of 0 freezes a group, as does ``freeze`` in the model config.

Order of a run: seed → data → model (variant + overrides, tags from the dataset) →
``init_from`` (transfer) → unsupervised stages fitted on the training split (PCA, then the BoF
codebook) → supervised steps. Checkpoints (model, optimizers, step) every
``checkpoint_every`` steps; the data order is a pure function of (seed, step), so a run killed
at any point resumes with ``resume=True`` and continues exactly, losing at most one interval.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfmusictag import data, metrics
from tfmusictag.errors import ParameterError
from tfmusictag.features import PCAWhitening
from tfmusictag.reduction import FrameReduction
from tfmusictag.registry import config_from_dict, config_to_dict, override
from tfmusictag.tagger import TaggerConfig, TrackTagger
from tfmusictag.temporal import BagOfFrames
from tfmusictag.variants import variant_config

__all__ = ["GroupSchedule", "LearningRates", "TrainConfig", "StepDecay", "train", "evaluate_model",
           "load_trained", "transfer_weights", "fit_unsupervised", "group_optimizers", "make_train_step"]


@dataclasses.dataclass(frozen=True)
class GroupSchedule:
    """``η`` (0 freezes the group), multiplied by ``decay_rate`` every ``decay_steps`` steps."""

    learning_rate: float = 1e-3
    decay_steps: int = 3000
    decay_rate: float = 0.1


@dataclasses.dataclass(frozen=True)
class LearningRates:
    """One schedule per layer group (see :meth:`tfmusictag.tagger.TrackTagger.layer_groups`)."""

    cnn_low: GroupSchedule = GroupSchedule(1e-5, 10000)
    cnn_high: GroupSchedule = GroupSchedule(1e-4, 10000)
    reduction: GroupSchedule = GroupSchedule(1e-3, 3000)
    temporal: GroupSchedule = GroupSchedule(1e-3, 3000)
    classifier: GroupSchedule = GroupSchedule(1e-3, 3000)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; written to ``<model_dir>/train_config.json``."""

    dataset: str = "demo_catalog/small"
    data_dir: Optional[str] = None
    manual_dir: Optional[str] = None
    train_split: str = "train"
    eval_split: str = "validation"
    variant: str = "mfcc_bof"
    model_overrides: Dict[str, Any] = dataclasses.field(default_factory=dict)
    steps: int = 1000
    batch_size: int = 8
    max_seconds: Optional[float] = None
    shuffle_buffer: int = 256
    cache: Optional[str] = ""
    learning_rates: LearningRates = dataclasses.field(default_factory=LearningRates)
    min_learning_rate: float = 1e-6
    checkpoint_every: int = 100
    eval_every: int = 0
    seed: int = 0
    init_from: Optional[str] = None
    deterministic: bool = True

    def validate(self) -> "TrainConfig":
        for name in ("steps", "batch_size", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ParameterError(f"{name}={getattr(self, name)!r} must be a positive integer")
        return self

    def to_dict(self):
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d):
        return config_from_dict(cls, d)

    def with_overrides(self, pairs: Dict[str, Any]) -> "TrainConfig":
        """Apply ``{'steps': 10, 'model.temporal.lstm.units': 64, ...}`` (``model.*`` → the model)."""
        config = self
        for path, value in pairs.items():
            if path.startswith("model."):
                config = dataclasses.replace(config, model_overrides={**config.model_overrides, path[6:]: value})
            else:
                config = override(config, path, value)
        return config


@keras.saving.register_keras_serializable(package="tfmusictag")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``max(η · γ^floor(step / decay_steps), minimum)`` — the thesis's step decay (Sec. 4.3.2)."""

    def __init__(self, learning_rate, decay_steps, decay_rate=0.1, minimum=1e-6):
        if decay_steps <= 0:
            raise ParameterError(f"decay_steps={decay_steps!r} must be a positive integer")
        self.learning_rate, self.decay_steps = float(learning_rate), int(decay_steps)
        self.decay_rate, self.minimum = float(decay_rate), float(minimum)

    def __call__(self, step):
        k = tf.floor(tf.cast(step, tf.float32) / self.decay_steps)
        return tf.maximum(self.learning_rate * tf.pow(self.decay_rate, k), self.minimum)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "minimum": self.minimum}


# --------------------------------------------------------------------------------------------

def load_trained(path: str) -> TrackTagger:
    """A trained model from a model directory (``model.keras`` or its latest checkpoint), a
    ``.keras`` file, or the name of a pretrained model (:mod:`tfmusictag.pretrained`)."""
    from tfmusictag.pretrained import model_path

    path = model_path(path)
    if os.path.isdir(path):
        keras_file = os.path.join(path, "model.keras")
        if os.path.exists(keras_file):
            return keras.saving.load_model(keras_file)
        cfg_file = os.path.join(path, "model_config.json")
        ckpt = tf.train.latest_checkpoint(os.path.join(path, "checkpoints"))
        if os.path.exists(cfg_file) and ckpt:
            with open(cfg_file) as f:
                model = TrackTagger(json.load(f))
            tf.train.Checkpoint(model=model).restore(ckpt).expect_partial()
            return model
        raise ParameterError(f"{path} holds neither model.keras nor model_config.json with checkpoints/")
    if path.endswith(".keras") and os.path.exists(path):
        return keras.saving.load_model(path)
    from tfmusictag.pretrained import names

    raise ParameterError(f"{path!r} is not a trained model: expected a model directory, a .keras file or a "
                         f"pretrained model name ({', '.join(names())})")


#: Reductions that turn a segment into one vector with a CNN: interchangeable as the "CNN" of the
#: thesis's variants (its own Alg. 20 CNN, or the pretrained musicnn / VGG source models).
SEGMENT_CNNS = ("cnn", "crnn", "musicnn", "vgg")


def transfer_config(target: TaggerConfig, source: TaggerConfig) -> TaggerConfig:
    """The target model's config when it starts from ``source`` (Sec. 3.2, Fig. 3.2).

    The transferred stages only make sense on the input they were trained on, so the target
    takes the source's front end, segmentation and reduction (type and sizes); its temporal
    stage, classifier (new vocabulary) and frozen groups stay those of the chosen variant. A
    variant whose reduction is "the CNN" accepts any segment CNN (the thesis's, musicnn's, VGG);
    otherwise the reduction types must match.
    """
    t, s = target.reduction.type, source.reduction.type
    if t != s and not (t in SEGMENT_CNNS and s in SEGMENT_CNNS):
        raise ParameterError(f"the variant's reduction is {t!r} but the source model's is {s!r}; choose a variant "
                             f"with the source's reduction (a CNN variant for a CNN source)")
    return dataclasses.replace(target, front_end=source.front_end, segments=source.segments,
                               reduction=source.reduction).validate()


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
            if stage == "temporal" and not src:
                if "temporal" in target.tagger_config.freeze:
                    raise ParameterError(f"the variant freezes the temporal stage (black-box LSTM) but the source "
                                         f"model {source.name!r} has no temporal weights to transfer; choose a "
                                         f"variant that trains it (e.g. blackbox_cnn_finetuned_lstm)")
                copied[stage] = 0
                continue
            raise ParameterError(f"cannot transfer {stage}: source variables {shapes_src} differ from target "
                                 f"{shapes_dst}; use the source model's variant and sizes")
        for s, d in zip(src, dst):
            d.assign(s)
        copied[stage] = len(dst)
    return copied


def frozen_segment_reduction(model: TrackTagger) -> bool:
    """True when the reduction gives segment vectors and none of its weights train (black-box CNN):
    its output can then be computed once per track and cached."""
    return model.reduction.level == "segment" and not model.reduction.trainable_weights


def segment_features(model: TrackTagger, features: tf.data.Dataset) -> tf.data.Dataset:
    """Unbatched ``({"segments", "segment_mask"}, labels)`` per track: the frozen reduction's output."""
    def reduce(x, y):
        v, m = model.reduce(x["log_mel"][None], x["num_frames"][None], training=False)
        return {"segments": v[0], "segment_mask": m[0]}, y

    return features.map(reduce).cache()


def batch_segments(ds: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """Pad unbatched :func:`segment_features` into batches (padding masked out)."""
    dim, n_tags = ds.element_spec[0]["segments"].shape[-1], ds.element_spec[1].shape[0]
    return ds.padded_batch(batch_size, padded_shapes=({"segments": [None, dim], "segment_mask": [None]}, [n_tags]))


def fit_unsupervised(model: TrackTagger, features: tf.data.Dataset) -> Dict[str, Any]:
    """Fit PCA (Alg. 2) and then the BoF codebook (Alg. 8) on a dataset of batched inputs
    (log-mel batches, or the segment batches of :func:`batch_segments`)."""
    done = {}
    if "segments" in features.element_spec[0]:
        if isinstance(model.temporal, BagOfFrames) and float(model.temporal.fitted.numpy()) == 0:
            model.temporal.adapt(features.map(lambda x, y: (x["segments"], x["segment_mask"])))
            done["bof"] = model.temporal.num_clusters
        return done
    seg = features.map(lambda x, y: model.segmenter(x["log_mel"], x["num_frames"]))
    red = model.reduction
    if isinstance(red, FrameReduction) and isinstance(red.frame_layer, PCAWhitening):
        if float(red.frame_layer.adapted.numpy()) == 0:
            red.frame_layer.adapt(seg)
            done["pca"] = int(red.frame_layer.components.shape[1])
    if isinstance(model.temporal, BagOfFrames) and float(model.temporal.fitted.numpy()) == 0:
        model.temporal.adapt(seg.map(lambda s, m: red(s, m, training=False)))
        done["bof"] = model.temporal.num_clusters
    return done


def evaluate_model(model: TrackTagger, ds: tf.data.Dataset, tags) -> Tuple[Dict, np.ndarray, np.ndarray, list]:
    """Predict every track of a batched dataset; returns (report, labels, scores, track ids)."""
    spec = {"log_mel": tf.TensorSpec([None, None, model.front_end.front_end.n_mels], tf.float32),
            "num_frames": tf.TensorSpec([None], tf.int32)}
    predict = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    ys, ps, ids = [], [], []
    for inputs, labels in ds:
        ps.append(predict({"log_mel": inputs["log_mel"], "num_frames": inputs["num_frames"]}).numpy())
        ys.append(labels.numpy())
        ids += [t.decode() for t in inputs["track_id"].numpy()]
    y, p = np.concatenate(ys), np.concatenate(ps)
    return metrics.tag_report(y, p, tags), y, p, ids


def group_optimizers(model: TrackTagger, learning_rates: LearningRates, min_learning_rate: float = 1e-6):
    """One Adam with its own step-decay schedule per layer group that has trainable variables.

    Returns ``[(group, optimizer, variables)]``; groups with η = 0 are left out (frozen).
    """
    out = []
    for group, variables in model.group_variables().items():
        schedule: GroupSchedule = getattr(learning_rates, group)
        if not variables or schedule.learning_rate == 0:
            continue
        opt = keras.optimizers.Adam(StepDecay(schedule.learning_rate, schedule.decay_steps, schedule.decay_rate,
                                              min_learning_rate), name=f"adam_{group}")
        opt.build(variables)
        out.append((group, opt, variables))
    return out


def make_train_step(model: TrackTagger, optimizers, segments: bool = False):
    """A compiled step: BCE on a batch of log-mel inputs (``segments``: of precomputed segment
    features, see :func:`segment_features`), each group's gradients to its optimizer."""
    loss_fn = keras.losses.BinaryCrossentropy()
    variables = [v for _, _, vs in optimizers for v in vs]
    if not variables:
        return lambda inputs, labels: tf.constant(float("nan"))
    n_mels = model.front_end.front_end.n_mels
    if segments:
        dim = model.reduction.output_dim(n_mels, model.segmenter.segment_frames)
        spec = {"segments": tf.TensorSpec([None, None, dim], tf.float32),
                "segment_mask": tf.TensorSpec([None, None], tf.bool)}
    else:
        spec = {"log_mel": tf.TensorSpec([None, None, n_mels], tf.float32),
                "num_frames": tf.TensorSpec([None], tf.int32)}

    @tf.function(input_signature=[spec, tf.TensorSpec([None, len(model.tags)], tf.float32)])
    def train_step(inputs, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(inputs, training=True))
        grads = tape.gradient(loss, variables)
        i = 0
        for _, opt, vs in optimizers:
            opt.apply_gradients(zip(grads[i:i + len(vs)], vs))
            i += len(vs)
        return loss

    return train_step


def train(config: TrainConfig, model_dir: str, resume: bool = False, progress: bool = True) -> Dict[str, Any]:
    """Run (or resume) a training run into ``model_dir``; returns the final evaluation report."""
    config = config.validate()
    os.makedirs(model_dir, exist_ok=True)
    ckpt_dir = os.path.join(model_dir, "checkpoints")
    has_run = tf.train.latest_checkpoint(ckpt_dir) is not None
    if has_run and not resume:
        raise ParameterError(f"{model_dir} already holds a training run; pass resume=True (--resume) to "
                             "continue it, or choose another model_dir")
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()

    train_ds, dataset_tags = data.load_split(config.dataset, config.train_split, config.data_dir,
                                             manual_dir=config.manual_dir)
    model_config = variant_config(config.variant, dataset_tags, config.model_overrides)
    source = load_trained(config.init_from) if config.init_from else None
    if source is not None:
        model_config = transfer_config(model_config, source.tagger_config)
    model = TrackTagger(model_config, name=config.variant)
    fe = model.front_end.front_end
    pipe = data.PipelineConfig(batch_size=config.batch_size, shuffle_buffer=config.shuffle_buffer,
                               cache=config.cache, max_seconds=config.max_seconds, seed=config.seed)
    cached_segments = frozen_segment_reduction(model)
    if cached_segments:  # black-box CNN: its output is cached once per track (filled on first use, after
        # the weights are transferred or restored below) in place of the log-mel, which is then not kept
        features = segment_features(model, data.track_features(train_ds, dataset_tags, model.tags, fe,
                                                               dataclasses.replace(pipe, cache=None)))
        batch = lambda ds: batch_segments(ds, config.batch_size)  # noqa: E731
    else:
        features = data.track_features(train_ds, dataset_tags, model.tags, fe, pipe)
        batch = lambda ds: data.batch_tracks(ds, fe, pipe)  # noqa: E731
    with open(os.path.join(model_dir, "train_config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=2)
    with open(os.path.join(model_dir, "model_config.json"), "w") as f:
        f.write(model_config.to_json())
    with open(os.path.join(model_dir, "tags.txt"), "w") as f:
        f.write("\n".join(model.tags) + "\n")

    step = tf.Variable(0, dtype=tf.int64, name="step")
    optimizers = group_optimizers(model, config.learning_rates, config.min_learning_rate)
    checkpoint = tf.train.Checkpoint(model=model, step=step, **{f"opt_{g}": o for g, o, _ in optimizers})
    manager = tf.train.CheckpointManager(checkpoint, ckpt_dir, max_to_keep=2)
    if has_run:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        logging.info("resumed %s at step %d", manager.latest_checkpoint, int(step.numpy()))
    else:
        if source is not None:
            copied = transfer_weights(source, model)
            logging.info("initialised from %s: %s", config.init_from, copied)
        fitted = fit_unsupervised(model, batch(features))
        logging.info("fitted unsupervised stages: %s", fitted or "none")
        manager.save(checkpoint_number=0)

    # Epoch e is shuffled with seed + e: the data order depends on (seed, step) alone.
    n_batches = int(batch(features).reduce(0, lambda n, _: n + 1).numpy())
    if n_batches == 0:
        raise ParameterError(f"the {config.train_split!r} split of {config.dataset} has no readable track")
    start = int(step.numpy())

    def batches():
        e, skip = divmod(start, n_batches)
        while True:
            ds = features.shuffle(config.shuffle_buffer, seed=config.seed + e) if config.shuffle_buffer else features
            yield from batch(ds).skip(skip).prefetch(2)
            e, skip = e + 1, 0

    train_step = make_train_step(model, optimizers, segments=cached_segments)
    take = ("segments", "segment_mask") if cached_segments else ("log_mel", "num_frames")

    writer = tf.summary.create_file_writer(os.path.join(model_dir, "logs"))
    bar = keras.utils.Progbar(config.steps, stateful_metrics=["loss"]) if progress else None
    eval_ds = None
    report = {}
    with writer.as_default():
        for inputs, labels in batches():
            if int(step.numpy()) >= config.steps:
                break
            loss = float(train_step({k: inputs[k] for k in take}, labels))
            step.assign_add(1)
            s = int(step.numpy())
            tf.summary.scalar("loss", loss, step=s)
            for g, opt, _ in optimizers:
                tf.summary.scalar(f"learning_rate/{g}", opt.learning_rate, step=s)
            if bar:
                bar.update(s, [("loss", loss)])
            if s % config.checkpoint_every == 0 or s == config.steps:
                manager.save(checkpoint_number=s)
            if (config.eval_every and s % config.eval_every == 0) or s == config.steps:
                if eval_ds is None:
                    eval_ds = _eval_dataset(config, model, fe)
                report = evaluate_model(model, eval_ds, model.tags)[0]
                tf.summary.scalar("eval/weighted_roc_auc", report["weighted_roc_auc"], step=s)
                logging.info("step %d: weighted ROC-AUC %.4f", s, report["weighted_roc_auc"])
    writer.flush()
    model.save(os.path.join(model_dir, "model.keras"))
    if not report:
        report = evaluate_model(model, _eval_dataset(config, model, fe), model.tags)[0]
    with open(os.path.join(model_dir, "metrics.json"), "w") as f:
        json.dump({"split": config.eval_split, "step": int(step.numpy()), **report}, f, indent=2)
    return report


def _eval_dataset(config: TrainConfig, model: TrackTagger, fe):
    ds, tags = data.load_split(config.dataset, config.eval_split, config.data_dir, manual_dir=config.manual_dir)
    pipe = data.PipelineConfig(batch_size=config.batch_size, shuffle_buffer=0, cache="", max_seconds=config.max_seconds)
    return data.track_pipeline(ds, tags, model.tags, fe, pipe)
