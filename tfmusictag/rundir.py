"""The run directory: one folder that *is* a training run (or a converted pretrained model).

Every file a run consists of is named, written and read here, and nowhere else:

==========================  ====================================================================
``train_config.json``       the resolved :class:`~tfmusictag.training.TrainConfig` (how to continue)
``model_config.json``       the :class:`~tfmusictag.tagger.TaggerConfig` (what the model is)
``tags.txt``                the vocabulary, one tag per line, in output order
``checkpoints/``            model, optimizers and step every ``checkpoint_every`` steps
``logs/``                   TensorBoard events
``model.keras``             the final model (written last, atomically)
``metrics.json``            the final evaluation, the step, and the steps it was resumed at
``thresholds.json``         how the calibration and decision thresholds (in ``model.keras``'s config)
                            were chosen
``decision_data.npz``       the labels and uncalibrated probabilities they were fitted on (to refit)
``source.json``             pretrained models only: where the weights came from
==========================  ====================================================================

Writes are atomic (a temporary file renamed into place), so a run killed at any moment —
even inside the final ``model.save`` — leaves either the old file or the new one, never half a
file, and ``train --resume`` completes it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from tfmusictag.errors import ParameterError
from tfmusictag.tagger import TaggerConfig, TrackTagger

__all__ = ["RunDir", "load_model", "write_model_dir", "atomic_write"]

TRAIN_CONFIG, MODEL_CONFIG, TAGS = "train_config.json", "model_config.json", "tags.txt"
MODEL, METRICS, SOURCE, THRESHOLDS = "model.keras", "metrics.json", "source.json", "thresholds.json"
BEST, DECISION_DATA = "best.json", "decision_data.npz"
CHECKPOINTS, LOGS = "checkpoints", "logs"


def atomic_write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class RunDir:
    """The files of one run directory (see the module docstring).

    Args:
        path: the folder (created by the first write).
    """

    def __init__(self, path: str):
        self.path = os.fspath(path)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def checkpoints(self) -> str:
        return self.file(CHECKPOINTS)

    @property
    def logs(self) -> str:
        return self.file(LOGS)

    # -- state --------------------------------------------------------------------------------

    def has_run(self) -> bool:
        """True when a training run was started here (its config is written before anything else)."""
        return os.path.exists(self.file(TRAIN_CONFIG)) or self.latest_checkpoint() is not None

    def latest_checkpoint(self) -> Optional[str]:
        return tf.train.latest_checkpoint(self.checkpoints) if os.path.isdir(self.checkpoints) else None

    def remove_partial_writes(self) -> list:
        """Delete what a write killed half-way left behind (hidden ``.model-*.keras``/``.*.tmp``
        files); returns their names. The files the run consists of are never partial."""
        if not os.path.isdir(self.path):
            return []
        partial = [f for f in os.listdir(self.path)
                   if f.startswith(".") and (f.endswith(".tmp") or (f.startswith(".model-") and f.endswith(".keras")))]
        for f in partial:
            os.remove(self.file(f))
        return partial

    def is_model(self) -> bool:
        """True when a model can be loaded from here (final model, or config and a checkpoint)."""
        return os.path.exists(self.file(MODEL)) or (
            os.path.exists(self.file(MODEL_CONFIG)) and self.latest_checkpoint() is not None)

    # -- configs ------------------------------------------------------------------------------

    def write_configs(self, train_config: Optional[Dict[str, Any]], model_config: TaggerConfig) -> None:
        """Write the run's identity: the training config (if any), the model config and the tags."""
        os.makedirs(self.path, exist_ok=True)
        atomic_write(self.file(MODEL_CONFIG), model_config.to_json())
        atomic_write(self.file(TAGS), "\n".join(model_config.tags) + "\n")
        if train_config is not None:  # last: its presence marks a started run
            atomic_write(self.file(TRAIN_CONFIG), json.dumps(train_config, indent=2))

    def read_train_config(self) -> Dict[str, Any]:
        """The saved training config as a dict (``TrainConfig.from_dict`` turns it into the config)."""
        return self._read_json(TRAIN_CONFIG, "training run (train_config.json)")

    def read_model_config(self) -> TaggerConfig:
        return TaggerConfig.from_dict(self._read_json(MODEL_CONFIG, "model (model_config.json)"))

    def _read_json(self, name: str, what: str) -> Dict[str, Any]:
        path = self.file(name)
        if not os.path.exists(path):
            raise ParameterError(f"{self.path} holds no {what}")
        try:
            with open(path) as f:
                return json.load(f)
        except ValueError as exc:
            raise ParameterError(f"{path} is not valid JSON: {exc}") from None

    # -- results ------------------------------------------------------------------------------

    def write_metrics(self, metrics: Dict[str, Any]) -> None:
        atomic_write(self.file(METRICS), json.dumps(metrics, indent=2))

    def read_metrics(self) -> Dict[str, Any]:
        return self._read_json(METRICS, "metrics (metrics.json)")

    def write_thresholds(self, fitted: Dict[str, Any]) -> None:
        """How the model's decision thresholds were chosen (:func:`tfmusictag.thresholds.fit_thresholds`'s
        result and the split): the thresholds themselves are in ``model.keras``'s config."""
        atomic_write(self.file(THRESHOLDS), json.dumps(fitted, indent=2))

    def read_thresholds(self) -> Dict[str, Any]:
        return self._read_json(THRESHOLDS, "thresholds (thresholds.json)")

    def write_decision_data(self, labels, scores) -> None:
        """The labels and uncalibrated probabilities ``(tracks, tags)`` that the calibration and the
        thresholds were fitted on (out-of-fold predictions or the validation split): what
        :func:`tfmusictag.decisions.fit_decisions` needs to refit them without training again."""
        os.makedirs(self.path, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".decision_data-", suffix=".npz")
        os.close(fd)
        try:
            np.savez(tmp, labels=np.asarray(labels, np.float32), scores=np.asarray(scores, np.float32))
            os.replace(tmp, self.file(DECISION_DATA))
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def read_decision_data(self):
        """``(labels, scores)`` written by :meth:`write_decision_data`."""
        if not os.path.exists(self.file(DECISION_DATA)):
            raise ParameterError(f"{self.path} has no {DECISION_DATA}: the run ended before its decisions were fitted")
        with np.load(self.file(DECISION_DATA)) as d:
            return d["labels"], d["scores"]

    @property
    def best_checkpoints(self) -> str:
        """Where ``keep_best``/``patience`` keep the weights of the best evaluation so far."""
        return os.path.join(self.checkpoints, "best")

    def write_best(self, step: int, report: Dict[str, Any]) -> None:
        """The step and report of the best evaluation so far (``best.json``)."""
        atomic_write(self.file(BEST), json.dumps({"step": step, "report": report}, indent=2))

    def read_best(self) -> Dict[str, Any]:
        """``{"step", "report"}`` of the best evaluation so far; ``{}`` before the first one."""
        return self._read_json(BEST, "best evaluation (best.json)") if os.path.exists(self.file(BEST)) else {}

    def eval_dir(self, split: str) -> str:
        """The folder of an evaluation on ``split`` (``eval_<split>/``)."""
        return self.file(f"eval_{split}")

    def read_eval_report(self, split: str) -> Optional[Dict[str, Any]]:
        """The report of an evaluation on ``split``, ``None`` if there is none yet."""
        name = os.path.join(f"eval_{split}", "report.json")
        return self._read_json(name, f"evaluation report ({name})") if os.path.exists(self.file(name)) else None

    def summary(self) -> Optional[Dict[str, Any]]:
        """What a run says of its model, for the SavedModel's assets: ``train_config``, ``metrics``
        (the final evaluation's summary) and ``thresholds`` (where they were fitted); ``None`` for
        a folder that is not a training run."""
        if not self.has_run():
            return None
        out: Dict[str, Any] = {"train_config": self.read_train_config()}
        if os.path.exists(self.file(METRICS)):
            out["metrics"] = {k: v for k, v in self.read_metrics().items() if not isinstance(v, dict)}
        if os.path.exists(self.file(THRESHOLDS)):
            fitted = self.read_thresholds()
            out["thresholds"] = {k: fitted.get(k) for k in ("dataset", "split", "method", "criterion", "rule",
                                                            "tracks", "fallback")}
            if "calibration" in fitted:
                out["thresholds"]["calibration"] = fitted["calibration"].get("method")
        return out

    def write_source(self, source: Dict[str, Any]) -> None:
        atomic_write(self.file(SOURCE), json.dumps(source, indent=2))

    def read_source(self) -> Dict[str, Any]:
        return self._read_json(SOURCE, "source (source.json)")

    def save_model(self, model: TrackTagger) -> str:
        """Save the final model atomically (a kill mid-save leaves no ``model.keras`` at all)."""
        os.makedirs(self.path, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".model-", suffix=".keras")
        os.close(fd)
        try:
            model.save(tmp)
            os.replace(tmp, self.file(MODEL))
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return self.file(MODEL)

    def load_model(self) -> TrackTagger:
        """The final model, or — for a run still in progress — the model at its latest checkpoint."""
        if os.path.exists(self.file(MODEL)):
            return _folded(keras.saving.load_model(self.file(MODEL)))
        ckpt = self.latest_checkpoint()
        if os.path.exists(self.file(MODEL_CONFIG)) and ckpt:
            model = TrackTagger(self.read_model_config())
            restore_checkpoint(model.checkpoint(), ckpt, partial=True)
            return _folded(model)
        raise ParameterError(f"{self.path} holds neither {MODEL} nor {MODEL_CONFIG} with {CHECKPOINTS}/")


def restore_checkpoint(checkpoint: tf.train.Checkpoint, path: str, partial: bool = False) -> None:
    """Restore ``checkpoint`` (:meth:`TrackTagger.checkpoint`, a trainer's) from ``path``; every object
    it tracks must be in the file — ``partial`` allows the file to hold more (a model alone, read
    from a trainer's checkpoint with its optimizers).

    Raises:
        ParameterError: the file lacks some of them (another model's checkpoint, or one that
            does not track layers held in lists such as CNN blocks): restoring it silently would
            leave those weights at their initial, random values.
    """
    status = checkpoint.restore(path)
    if partial:
        status.expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError:  # TensorFlow's message lists every unmatched variable with its value
        raise ParameterError(f"{path} does not hold every weight of the model (it is another model's checkpoint, "
                             f"or lacks layers held in lists such as CNN blocks); train again in a new --model_dir"
                             ) from None


def _folded(model):
    """A loaded model ready for inference: its dead units folded (:meth:`TrackTagger.fold`)."""
    if isinstance(model, TrackTagger):
        model.fold()
    return model


def load_model(path: str) -> TrackTagger:
    """A trained model from a run directory (:meth:`RunDir.load_model`) or a ``.keras`` file.

    For pretrained names as well, use :func:`tfmusictag.pretrained.load_model`.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return RunDir(path).load_model()
    if path.endswith(".keras") and os.path.exists(path):
        return _folded(keras.saving.load_model(path))
    raise ParameterError(f"{path!r} is not a trained model: expected a model directory or a .keras file")


def write_model_dir(model: TrackTagger, target: str, source: Optional[Dict[str, Any]] = None) -> str:
    """Write ``model`` as a complete model directory at ``target`` atomically (temporary folder,
    then rename); replaces an existing one. Used for converted pretrained models."""
    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(target)}-")
    try:
        run = RunDir(tmp)
        run.save_model(model)
        run.write_configs(None, model.tagger_config)
        if source is not None:
            run.write_source(source)
        if os.path.exists(target):
            shutil.rmtree(target)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
