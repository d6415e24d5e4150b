"""Training (thesis Sec. 4.3): configs, the step decay per layer group, transfer, and the trainer.

* :mod:`~tfmusictag.training.config` — :class:`TrainConfig`, the learning-rate groups, and the
  rules for continuing a run (:func:`resume_config`);
* :mod:`~tfmusictag.training.schedules` — :class:`StepDecay` and one Adam per layer group;
* :mod:`~tfmusictag.training.transfer` — a source-task model's stages into a target model;
* :mod:`~tfmusictag.training.trainer` — :class:`Trainer` over a ``tf.distribute.Strategy`` and
  :func:`train`, a whole resumable run in a :class:`~tfmusictag.rundir.RunDir` (a KerasTuner
  trial is one too: :mod:`tfmusictag.tuning.hypermodels`);
* :mod:`~tfmusictag.training.distribute` — the strategies (one device, ``mirrored``,
  ``multi_worker`` from ``TF_CONFIG``), which process writes the run, and the devices in use;
* :mod:`~tfmusictag.training.recipe` — the small-catalog recipe ``train`` uses without ``--variant``.
"""

from tfmusictag.training.config import RESUMABLE, GroupSchedule, LearningRates, TrainConfig, resume_config
from tfmusictag.training.schedules import StepDecay, group_optimizers
from tfmusictag.training.steps import Trainer
from tfmusictag.training.trainer import train, train_model
from tfmusictag.training.transfer import SEGMENT_CNNS, transfer_config, transfer_weights

__all__ = ["TrainConfig", "GroupSchedule", "LearningRates", "RESUMABLE", "resume_config", "StepDecay",
           "group_optimizers", "Trainer", "train", "train_model", "SEGMENT_CNNS", "transfer_config", "transfer_weights"]
