"""A whole training run, resumable: :func:`train`, the package's one way to train a model.

:func:`train` is a whole run (thesis Sec. 4.3): seed → data → model (variant + overrides, tags
from the dataset) → ``init_from`` (transfer, :mod:`~tfmusictag.training.transfer`) → the
unsupervised stages fitted on the training split (:meth:`TrackTagger.fit_unsupervised`: PCA,
then the BoF codebook) → supervised steps → decision rule → final model and metrics, everything
kept in one :class:`~tfmusictag.rundir.RunDir`. Each step is one function, in that order:
``_open_run``, ``_build_model``, ``_training_data``, ``_initialise`` (transfer and the
unsupervised stages, or the checkpoint a continued run starts from), ``_supervised_steps``,
``_fit_decision_rule``. Checkpoints (model, optimizers, step) every
``checkpoint_every`` steps; the data order is a pure function of (seed, step), so a run killed at
any point continues exactly with ``resume=True``, losing at most one interval.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any, Callable, Dict, Optional

import tensorflow as tf
from absl import logging

from tfmusictag import data
from tfmusictag.errors import ParameterError
from tfmusictag.evaluation import evaluate_model
from tfmusictag.registry import flatten
from tfmusictag.rundir import RunDir, restore_checkpoint
from tfmusictag.tagger import TrackTagger
from tfmusictag.decisions import fit_decisions
from tfmusictag.training import distribute
from tfmusictag.training.config import TrainConfig, resume_config
from tfmusictag.training.out_of_fold import FOLDS as OOF_FOLDS
from tfmusictag.training.out_of_fold import out_of_fold_scores
from tfmusictag.training.progress import Progress
from tfmusictag.training.recipe import resolve_recipe
from tfmusictag.training.determinism import seeded
from tfmusictag.training.steps import Trainer, balanced_tag_weights
from tfmusictag.training.transfer import load_source, transfer_config, transfer_weights
from tfmusictag.variants import variant_config

__all__ = ["train", "train_model", "frozen_segment_reduction", "frozen_embedding", "frozen_outputs", "random_halves",
           "segment_features", "batch_segments"]


def frozen_segment_reduction(model: TrackTagger) -> bool:
    """True when the reduction gives segment vectors and none of its weights train (black-box CNN):
    its output can then be computed once per track and cached."""
    return model.reduction.level == "segment" and not model.reduction.trainable_weights


def frozen_embedding(model: TrackTagger) -> bool:
    """True when, besides a frozen segment reduction, the temporal stage has no weights at all and
    pools features, not tags (mean, max, mean + std: the small-catalog recipe): the track embedding
    itself can then be cached — one vector per track in place of one per segment (kilobytes per
    track instead of megabytes of patch vectors), and a step is the classifier alone."""
    return (frozen_segment_reduction(model) and not model.temporal.weights and not model.temporal.late_fusion
            and not model.temporal.needs_fitting())


def frozen_outputs(model: TrackTagger, x) -> Dict[str, tf.Tensor]:
    """What training caches of a batch ``x`` (``log_mel``, ``num_frames``) for a model with a frozen
    segment reduction: ``{"embedding"}`` where :func:`frozen_embedding`, else ``{"segments",
    "segment_mask"}`` — both input forms of :class:`~tfmusictag.tagger.TrackTagger`."""
    v, m = model.reduce(x["log_mel"], x["num_frames"], training=False)
    if frozen_embedding(model):
        return {"embedding": model.temporal(v, m, training=False)}
    return {"segments": v, "segment_mask": m}


def random_halves(mask: tf.Tensor, views: int, seed: tf.Tensor) -> tf.Tensor:
    """``views`` random halves of the valid segments of one track, ``mask`` (1, S) → (views, S).

    Each keeps ``max(min(n, 2), round(n / 2))`` of the track's ``n`` valid segments, chosen by a
    stateless draw from ``seed`` (shape (2,)), so a track's views are the same in every run and
    every epoch."""
    mask = tf.repeat(mask, views, axis=0)
    n = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1, keepdims=True)
    keep = tf.maximum(tf.minimum(n, 2), tf.cast(tf.round(tf.cast(n, tf.float32) / 2), tf.int32))
    scores = tf.where(mask, tf.random.stateless_uniform(tf.shape(mask), seed), -1.0)
    rank = tf.argsort(tf.argsort(scores, axis=1, direction="DESCENDING"), axis=1)
    return mask & (rank < keep)


def segment_features(model: TrackTagger, features: tf.data.Dataset, views: int = 0, seed: int = 0) -> tf.data.Dataset:
    """Unbatched ``(frozen_outputs, labels)`` per track: the frozen reduction's output, or the track
    embedding (:func:`frozen_outputs`), cached.

    With ``views`` > 0 and a cached embedding, each track gives ``1 + views`` examples: its
    embedding and that of ``views`` random halves of its segments (:func:`random_halves`, seeded by
    ``seed`` and the track id) — augmentation that costs no extra pass of the network (the
    small-catalog recipe: ``benchmarks/small_catalog_ablations.py``, ``views_augmented``)."""
    def reduce(x, y):
        out = frozen_outputs(model, {"log_mel": x["log_mel"][None], "num_frames": x["num_frames"][None]})
        return {k: v[0] for k, v in out.items()}, y

    def reduce_views(x, y):
        v, m = model.reduce(x["log_mel"][None], x["num_frames"][None], training=False)
        track = tf.strings.to_hash_bucket_fast(x["track_id"], 2 ** 31 - 1)
        halves = random_halves(m, views, tf.stack([tf.constant(seed, tf.int64), track]))
        embedding = model.temporal(tf.repeat(v, views + 1, axis=0), tf.concat([m, halves], 0), training=False)
        return {"embedding": embedding}, tf.repeat(y[None], views + 1, axis=0)

    if views and frozen_embedding(model):
        return features.map(reduce_views).cache().unbatch()
    return features.map(reduce).cache()


def batch_segments(ds: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """Pad unbatched :func:`segment_features` into batches (padding masked out)."""
    if "embedding" in ds.element_spec[0]:
        return ds.batch(batch_size)
    dim, n_tags = ds.element_spec[0]["segments"].shape[-1], ds.element_spec[1].shape[0]
    return ds.padded_batch(batch_size, padded_shapes=({"segments": [None, dim], "segment_mask": [None]}, [n_tags]))


def _check_same_run(config: TrainConfig, saved: TrainConfig) -> TrainConfig:
    """``config`` if it continues ``saved`` (only resumable fields differ), else a ParameterError."""
    new, old = flatten(config), flatten(saved)
    given = {k: v for k, v in new.items() if v != old.get(k)}
    given.update({path: None for path in old if path.startswith("model.") and path not in new})
    return resume_config(saved, given)


def train(config: TrainConfig, model_dir: str, resume: bool = False, progress: bool = True,
          strategy: Optional[tf.distribute.Strategy] = None,
          log: Callable[[str], None] = logging.info, splits: Optional[data.Splits] = None) -> Dict[str, Any]:
    """Run (or continue) a training run in ``model_dir``; returns the final evaluation report.

    Args:
        config: the run's config; its default variant, ``recipe``, is the small-catalog recipe
            sized to the training split (:func:`~tfmusictag.training.recipe.resolve_recipe`,
            the same as ``python -m tfmusictag.train`` without ``--variant``). With ``resume``, it must be the run's own config
            (``train_config.json``) up to the fields of :data:`~tfmusictag.training.config.RESUMABLE`
            (use :func:`~tfmusictag.training.config.resume_config` to derive it).
        model_dir: the run directory (:class:`~tfmusictag.rundir.RunDir`).
        resume: continue the run found in ``model_dir`` (from its latest checkpoint; from the
            start, with its own config, if it was killed before the first one).
        progress: report progress on stderr (:class:`~tfmusictag.training.progress.Progress`).
        strategy: a ``tf.distribute.Strategy`` (default: one device; see
            :func:`~tfmusictag.training.distribute.make_strategy`). In a cluster
            (``multi_worker``) every process calls ``train`` with the same arguments; the chief
            alone writes ``model_dir`` (which every process must see: a shared filesystem), and a
            restarted job continues from the chief's latest checkpoint without ``resume``
            (``tf.keras.callbacks.BackupAndRestore``'s semantics: the restarted job is the same
            run, so its config must agree with the saved one, as with ``resume``). Only the chief
            returns the report; the others return ``{}``.
        log: where progress messages go (default: absl's INFO log).
        splits: the dataset's splits already opened (:class:`~tfmusictag.data.Splits`, for
            ``config.dataset``), shared with other runs: a search's trials read the data once.
            Default: opened for this run.

    Raises:
        ParameterError: ``model_dir`` holds a run and ``resume`` is false, or holds none and
            ``resume`` is true, or ``config`` contradicts the run being resumed, or ``splits``
            is another dataset's.
    """
    return train_model(config, model_dir, resume, progress, strategy, log, splits)[1]


def train_model(config: TrainConfig, model_dir: str, resume: bool = False, progress: bool = True,
                strategy: Optional[tf.distribute.Strategy] = None, log: Callable[[str], None] = logging.info,
                splits: Optional[data.Splits] = None):
    """:func:`train`, returning ``(model, report)``: the trained model (with its decision rule), as
    it is saved in ``model_dir``, and the final evaluation report (a KerasTuner trial hands the
    model to the tuner's callbacks)."""
    with contextlib.ExitStack() as scope:
        return _train(config, model_dir, resume, progress, strategy, log, scope, splits)


@dataclasses.dataclass
class _Run:
    """One training run as its steps hand it on (:func:`_train`)."""

    config: TrainConfig
    run: RunDir
    splits: data.Splits
    strategy: Any
    chief: bool
    resuming: bool
    log: Callable[[str], None]
    model: Optional[TrackTagger] = None
    source: Any = None
    trainer: Optional[Trainer] = None
    manager: Any = None
    features: Any = None  # the training split: tracks (log-mel) or, for a frozen CNN, cached segment vectors
    batch: Any = None  # features → batches of the trainer's inputs
    take: tuple = ()  # the input fields the trainer's step reads
    cached_segments: bool = False
    resumed_at: Optional[int] = None
    eval_ds: Any = None  # the evaluation split's batches, built at the first evaluation


def _train(config, model_dir, resume, progress, strategy, log, scope, splits):
    """:func:`train_model`'s body, the thesis's training procedure step by step (Sec. 4.3): the run
    and its seed, the model, the training data, the unsupervised stages (or the checkpoint to
    continue from), the supervised steps, the decision rule, the saved model. ``scope`` holds what
    must be undone when it ends (the run's seeds)."""
    r = _open_run(config, model_dir, resume, strategy, log, splits)
    scope.enter_context(seeded(r.config.seed, r.config.deterministic))  # for this run only
    _build_model(r)
    _training_data(r)
    start = _initialise(r)
    report, evaluated, stopped_early, best, step_seconds = _supervised_steps(r, start, progress)
    if not r.chief:
        log(f"{' '.join(map(str, distribute.worker(r.strategy)))} done at step {int(r.trainer.step.numpy())}; "
            f"the chief writes {model_dir}")
        return r.model, {}
    selected = None
    if r.config.keep_best and best is not None and best.step is not None:
        report, selected = best.restore(), best.step
        evaluated = None
        log(f"kept the weights of step {selected} (best {r.config.eval_split} weighted ROC-AUC "
            f"{report['weighted_roc_auc']:.4f})")
    r.model.fold()  # the trained weights' dead filters, for the evaluation below (loading folds too)
    if evaluated is None or evaluated[0] != int(r.trainer.step.numpy()):  # the final weights, not evaluated yet
        r.eval_ds = r.eval_ds or _eval_dataset(r.config, r.model, r.splits)
        report, eval_y, eval_p, _ = evaluate_model(r.model, r.eval_ds, r.model.tags)
    else:
        _, eval_y, eval_p = evaluated
    _fit_decision_rule(r, eval_y, eval_p)
    r.run.save_model(r.model)
    # throughput after the first step (which traces the step function), in training tracks per second
    speed = (round(r.config.batch_size * (len(step_seconds) - 1) / sum(step_seconds[1:]), 3)
             if len(step_seconds) > 1 else None)
    extra = {"selected_step": selected, "stopped_early_at_step": stopped_early} if best is not None else {}
    r.run.write_metrics({"split": r.config.eval_split, "step": int(r.trainer.step.numpy()),
                         "resumed_at_step": r.resumed_at, "train_tracks_per_second": speed, **extra, **report})
    return r.model, report


def _open_run(config, model_dir, resume, strategy, log, splits) -> _Run:
    """The run: its config resolved (the recipe sized to the catalog) and checked against the run
    directory (a new run, or the run being continued), and the dataset's splits."""
    config = resolve_recipe(config.validate(), log=log)
    if splits is None:
        splits = data.Splits(config.dataset, config.data_dir, config.manual_dir)
    elif (splits.dataset, splits.data_dir) != (config.dataset, config.data_dir):
        raise ParameterError(f"the splits given are {splits.dataset!r} in {splits.data_dir!r}, the config's dataset "
                             f"{config.dataset!r} in {config.data_dir!r}")
    run = RunDir(model_dir)
    strategy = strategy or tf.distribute.get_strategy()
    chief = distribute.is_chief(strategy)
    if distribute.is_cluster(strategy):  # a restarted job continues (BackupAndRestore semantics)
        resume = resume or run.has_run()
        if config.keep_best or config.patience:
            raise ParameterError("keep_best and patience choose by the chief's evaluations and are not supported "
                                 "with --strategy=multi_worker; train with a fixed number of steps")
    if run.has_run() and not resume:
        raise ParameterError(f"{model_dir} already holds a training run; pass resume=True (--resume) to continue "
                             "it, or choose another model_dir")
    if resume and not run.has_run():
        raise ParameterError(f"{model_dir} holds no training run to resume (no train_config.json)")
    resuming = run.has_run()
    if resuming:
        config = _check_same_run(config, TrainConfig.from_dict(run.read_train_config()))
        if chief:
            run.remove_partial_writes()
    return _Run(config, run, splits, strategy, chief, resuming, log)


def _build_model(r: _Run) -> None:
    """The model: the variant with its overrides and the dataset's tags (Table 4.4), the source's
    architecture where it transfers (``init_from``), or the run's own model when it continues;
    its config is written before anything else can be killed."""
    config, run = r.config, r.run
    if not r.resuming and not config.init_from:  # the variant and model.* overrides, typed, before any data is read
        variant_config(config.variant, ("tag",), {"temporal.bof.seed": config.seed, **config.model_overrides})
    train_ds, dataset_tags = r.splits.split(config.train_split)
    # The source is loaded whenever its weights are needed (no checkpoint yet), and always before the
    # target model is built: building draws from the seeded global RNG, so the order must not vary.
    r.source = load_source(config.init_from) if config.init_from and run.latest_checkpoint() is None else None
    if r.resuming:
        model_config = run.read_model_config()  # the run's model, whatever the variant's defaults are now
    else:
        # the run's seed also seeds the BoF codebook (k-means++), unless the model config sets its own
        model_config = variant_config(config.variant, dataset_tags,
                                      {"temporal.bof.seed": config.seed, **config.model_overrides})
        if r.source is not None:
            model_config = transfer_config(model_config, r.source)
    with r.strategy.scope():
        r.model = TrackTagger(model_config, name=config.variant)
    r.cached_segments = frozen_segment_reduction(r.model)
    if config.thresholds == "out_of_fold" and not (r.cached_segments and frozen_embedding(r.model)):
        raise ParameterError(f"thresholds='out_of_fold' refits the heads on cached track embeddings, which "
                             f"{config.variant} does not have (it needs frozen networks under feature pooling); "
                             "use thresholds='validation'")
    if r.chief:
        run.write_configs(config.to_dict(), model_config)  # before anything can be killed: the run exists
    tag_weights = None
    if config.class_weight == "balanced":
        tag_weights = balanced_tag_weights(data.split_labels(train_ds, dataset_tags, r.model.tags))
    r.trainer = Trainer(r.model, config.learning_rates, config.min_learning_rate, r.strategy, tag_weights)


def _training_data(r: _Run) -> None:
    """The training split as the trainer reads it: tracks' log-mel spectrograms, or, for a frozen
    (black-box) CNN, its segment vectors (or the track embedding) computed once per track and
    cached in place of the log-mel (filled on first use, after the weights are transferred or
    restored)."""
    config, model = r.config, r.model
    fe = model.front_end_config
    pipe = data.PipelineConfig(batch_size=config.batch_size, shuffle_buffer=config.shuffle_buffer,
                               cache=config.cache, max_seconds=config.max_seconds, seed=config.seed)
    if config.embedding_views and not frozen_embedding(model):
        r.log(f"note: embedding_views={config.embedding_views} unused: {config.variant} does not cache a track "
              f"embedding (it needs frozen networks under feature pooling: mean, max, mean_std, mean_std_max)")
    if r.cached_segments:
        r.features = segment_features(model, r.splits.features(config.train_split, model.tags, fe,
                                                               dataclasses.replace(pipe, cache=None)),
                                      config.embedding_views, config.seed)
        r.batch = lambda ds: batch_segments(ds, config.batch_size)
        r.take = tuple(r.features.element_spec[0])
    else:
        r.features = r.splits.features(config.train_split, model.tags, fe, pipe)
        r.batch = lambda ds: data.batch_tracks(ds, fe, pipe)
        r.take = ("log_mel", "num_frames")


def _initialise(r: _Run) -> int:
    """Where the supervised steps start: the latest checkpoint of a run that continues; otherwise
    the source's weights transferred (``init_from``) and the unsupervised stages fitted on the
    training split (PCA, then the BoF codebook: :meth:`TrackTagger.fit_unsupervised`), kept as
    checkpoint 0. Returns the step to start from."""
    config, run, model, trainer = r.config, r.run, r.model, r.trainer
    # every process saves (saving may need the collectives); the chief's are the run's, the others'
    # go to a temporary folder. Every process restores the chief's.
    r.manager = tf.train.CheckpointManager(trainer.checkpoint(), distribute.write_dir(r.strategy, run.checkpoints),
                                           max_to_keep=2)
    latest = run.latest_checkpoint()
    if latest:
        restore_checkpoint(trainer.checkpoint(), latest)
        r.resumed_at = int(trainer.step.numpy())
        r.log(f"resumed {run.path} at step {r.resumed_at}")
    elif r.source is not None:
        r.log(f"initialised from {config.init_from}: {transfer_weights(r.source, model)}")
    if not model.reduction.trainable_weights:  # a frozen network: its dead filters stay dead
        model.fold()
    if not latest:
        fitted = model.fit_unsupervised(r.batch(r.features))
        r.log(f"fitted unsupervised stages: {fitted or 'none'}")
        r.manager.save(checkpoint_number=0)
    start = int(trainer.step.numpy())
    if start > config.steps:
        raise ParameterError(f"steps={config.steps} is below the step the run has reached ({start}); give --steps "
                             f">= {start}")
    return start


def _epochs(r: _Run, start: int):
    """The training batches from step ``start`` on, epoch after epoch, distributed: epoch ``e`` is
    shuffled with seed + e, so the data order is a function of (seed, step) alone and a run that
    continues at step ``start`` reads what it would have read. Only a run that continues counts
    the batches of an epoch (one pass) to find where it is."""
    config = r.config

    def epoch(e):
        ds = (r.features.shuffle(config.shuffle_buffer, seed=config.seed + e, reshuffle_each_iteration=False)
              if config.shuffle_buffer else r.features)
        return r.batch(ds)

    e, skip = 0, 0
    if start:
        n_batches = int(r.batch(r.features).reduce(0, lambda n, _: n + 1).numpy())
        if n_batches == 0:
            raise ParameterError(f"the {config.train_split!r} split of {config.dataset} has no readable track")
        e, skip = divmod(start, n_batches)
    while True:
        ds = epoch(e).skip(skip).map(lambda x, y: ({k: x[k] for k in r.take}, y)).prefetch(2)
        read = 0
        for item in r.trainer.distribute(ds):
            read += 1
            yield item
        if read == 0 and skip == 0:
            raise ParameterError(f"the {config.train_split!r} split of {config.dataset} has no readable track")
        e, skip = e + 1, 0


def _supervised_steps(r: _Run, start: int, progress: bool):
    """The supervised steps (Adam, the step-decayed rates of Tables 4.5–4.8) up to ``config.steps``:
    checkpoints every ``checkpoint_every``, evaluations every ``eval_every`` (and at the end) with
    ``keep_best``/``patience``. Returns ``(report, evaluated, stopped_early, best, step_seconds)``:
    ``evaluated`` is ``(step, labels, scores)`` of the last evaluation (``None``: none)."""
    config, run, trainer = r.config, r.run, r.trainer
    writer = tf.summary.create_file_writer(run.logs) if r.chief else tf.summary.create_noop_writer()
    bar = Progress(config.steps) if progress and r.chief else None
    report, evaluated = {}, None
    best = _Best(run, r.model, config.eval_every) if config.keep_best or config.patience else None
    stopped_early = None
    step_seconds = []  # supervised steps alone (input waits included; evaluation and checkpoints not)
    with writer.as_default():
        tick = time.perf_counter()
        s = start  # counted here: reading the step variable would wait for the device every step
        for inputs, labels in (_epochs(r, start) if start < config.steps else ()):
            loss = trainer.train_step(inputs, labels)
            step_seconds.append(time.perf_counter() - tick)
            s += 1
            tf.summary.scalar("loss", loss, step=s)
            for g, opt, _ in trainer.optimizers:
                tf.summary.scalar(f"learning_rate/{g}", opt.learning_rate, step=s)
            if bar:
                bar.update(s, loss)
            if s % config.checkpoint_every == 0 or s == config.steps:
                r.manager.save(checkpoint_number=s)
            if r.chief and ((config.eval_every and s % config.eval_every == 0) or s == config.steps):
                r.eval_ds = r.eval_ds or _eval_dataset(config, r.model, r.splits)
                report, eval_y, eval_p, _ = evaluate_model(r.model, r.eval_ds, r.model.tags)
                evaluated = (s, eval_y, eval_p)
                tf.summary.scalar("eval/weighted_roc_auc", report["weighted_roc_auc"], step=s)
                r.log(f"step {s}: weighted ROC-AUC {report['weighted_roc_auc']:.4f}")
                if best is not None and best.update(s, report) >= config.patience > 0 and s < config.steps:
                    r.manager.save(checkpoint_number=s)
                    stopped_early = s
                    r.log(f"step {s}: no better {config.eval_split} score in {config.patience} evaluations since "
                          f"step {best.step}; stopping early")
                    break
            if s >= config.steps:
                break
            tick = time.perf_counter()
    writer.flush()
    distribute.remove_write_dir(r.strategy, r.manager.directory)
    return report, evaluated, stopped_early, best, step_seconds


def _fit_decision_rule(r: _Run, eval_y, eval_p) -> None:
    """The calibration and one decision threshold per tag (:func:`tfmusictag.decisions.fit_decisions`),
    fitted out of fold over the training tracks where the heads can be refitted on cached
    embeddings, else on the evaluation split (never the test split); kept in the model's config and
    the run (``thresholds.json``, ``decision_data.npz``)."""
    config, model = r.config, r.model
    out_of_fold = config.thresholds == "out_of_fold" or (
        config.thresholds == "auto" and r.cached_segments and frozen_embedding(model)
        and not distribute.is_cluster(r.strategy))
    if out_of_fold:
        views = config.embedding_views if frozen_embedding(model) else 0
        fit_y, fit_p = out_of_fold_scores(model, r.features, config, views)
        where = {"split": config.train_split, "method": f"out of fold ({min(OOF_FOLDS, len(fit_y))} folds)"}
    else:
        fit_y, fit_p = eval_y, eval_p
        where = {"split": config.eval_split, "method": "held-out split"}
    r.run.write_decision_data(fit_y, fit_p)
    fitted = fit_decisions(fit_y, fit_p, model.tags)
    model.tagger_config = dataclasses.replace(
        model.tagger_config, decision="thresholds", thresholds=tuple(fitted["thresholds"][t] for t in model.tags),
        calibration=tuple(tuple(fitted["calibration"]["maps"][t]) for t in model.tags)).validate()
    r.run.write_thresholds({**fitted, "dataset": config.dataset, **where})
    r.log(f"calibration ({fitted['calibration']['method']}) and decision thresholds fitted on {where['split']}, "
          f"{where['method']} ({fitted['tracks']} tracks, rule {fitted['rule']} chosen on its folds; "
          f"{len(fitted['fallback'])} tags with fewer than {fitted['min_positives']} positives take their prior); "
          f"calibration error {fitted['reliability_before']['ece']:.3f} → "
          f"{fitted['reliability_after']['ece']:.3f} on that data")


class _Best:
    """The best evaluation of a run so far (``keep_best`` / ``patience``): its weights in the run's
    ``checkpoints/best`` and its report in ``best.json``, so a resumed run keeps choosing among all
    its evaluations."""

    def __init__(self, run: RunDir, model: TrackTagger, every: int):
        self.run, self.every = run, every
        self.checkpoint = model.checkpoint()
        self.manager = tf.train.CheckpointManager(self.checkpoint, run.best_checkpoints, max_to_keep=1)
        saved = run.read_best()
        self.step, self.report = saved.get("step"), saved.get("report")

    def update(self, step: int, report: Dict[str, Any]) -> int:
        """Record an evaluation; returns how many evaluations ago the best one was (0: this one)."""
        if self.report is None or report["weighted_roc_auc"] > self.report["weighted_roc_auc"]:
            self.manager.save(checkpoint_number=step)
            self.step, self.report = step, dict(report)
        self.run.write_best(self.step, self.report)
        return (step - self.step) // self.every

    def restore(self) -> Dict[str, Any]:
        """Load the best weights into the model; returns their report."""
        self.checkpoint.restore(self.manager.latest_checkpoint).expect_partial()
        return dict(self.report)


def _eval_dataset(config: TrainConfig, model: TrackTagger, splits: Optional[data.Splits] = None):
    """Batches of ``config.eval_split`` for ``model`` (from ``splits``; default: opened here)."""
    splits = splits or data.Splits(config.dataset, config.data_dir, config.manual_dir)
    pipe = data.PipelineConfig(batch_size=config.batch_size, shuffle_buffer=0, cache="", max_seconds=config.max_seconds)
    return splits.pipeline(config.eval_split, model.tags, model.front_end_config, pipe)
