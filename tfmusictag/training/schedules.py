"""The thesis's step decay and one Adam per layer group (Sec. 4.3.2; Tables 4.2, 4.5–4.8).

Adam normalises the gradient's scale away, so per-group learning rates need one optimizer per
group, not scaled gradients.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfmusictag.errors import ParameterError
from tfmusictag.tagger import TrackTagger
from tfmusictag.training.config import GroupSchedule, LearningRates

__all__ = ["StepDecay", "group_optimizers"]


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
