"""Training configuration: the resolved config of a run, its learning-rate groups, and the rules
for continuing a run (``--resume``).

Thesis Section 4.3.2: Adam with default parameters except the learning rate ``η``, which is
multiplied by ``γ = 0.1`` every ``step`` iterations and never goes below ``1e-6``; each section
of the network has its own ``(η, step)`` (Tables 4.2, 4.5–4.8). Defaults are the thesis's
*target-task* settings: classifier and LSTM ``(1e-3; 3000)`` (Table 4.2, Sec. 4.3.3), CNN layers
1–2 ``(1e-5; 10K)`` and 3–5 ``(1e-4; 10K)`` (Table 4.8). A learning rate of 0 freezes a group, as
does ``freeze`` in the model config.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

from tfmusictag.errors import ParameterError
from tfmusictag.registry import config_from_dict, config_to_dict, get_path, override
from tfmusictag.tagger import TaggerConfig

__all__ = ["GroupSchedule", "LearningRates", "TrainConfig", "RESUMABLE", "resume_config", "CLASS_WEIGHTS"]

#: Values of ``TrainConfig.class_weight``.
CLASS_WEIGHTS = ("none", "balanced")


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


#: Where decision thresholds are fitted (``TrainConfig.thresholds``): ``out_of_fold`` predictions over
#: the training tracks (:mod:`tfmusictag.training.out_of_fold`; models that cache a track embedding),
#: the ``validation`` split (``eval_split``), or ``auto``: out of fold where possible, else validation.
THRESHOLD_SOURCES = ("auto", "out_of_fold", "validation")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; written to ``<model_dir>/train_config.json``.

    ``--set`` paths of every command are paths into this config: ``steps``, ``max_seconds``,
    ``learning_rates.classifier.learning_rate``, and ``model.<path>`` for the model
    (``model.temporal.bof.num_clusters``), kept in ``model_overrides``.

    Beyond the thesis (the small-catalog recipe, :mod:`tfmusictag.training.recipe`):
    ``class_weight='balanced'`` weighs each tag's positives and negatives equally
    (:func:`~tfmusictag.training.trainer.balanced_tag_weights`); ``keep_best`` ends the run with
    the weights that scored best on ``eval_split`` (evaluated every ``eval_every`` steps) and
    ``patience`` stops after that many evaluations without improvement (early stopping). Select
    on the validation split, never on the test split. ``embedding_views`` (where the track
    embedding is cached: a frozen network under statistics pooling) adds that many training
    examples per track, each the embedding of a random half of its segments, drawn once
    (:func:`~tfmusictag.training.trainer.random_halves`). ``thresholds`` says where the decision
    thresholds are fitted at the end of the run (:data:`THRESHOLD_SOURCES`; never the test split).
    """

    dataset: str = "demo_catalog/small"
    data_dir: Optional[str] = None
    manual_dir: Optional[str] = None
    train_split: str = "train"
    eval_split: str = "validation"
    variant: str = "recipe"
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
    class_weight: str = "none"
    keep_best: bool = False
    patience: int = 0
    embedding_views: int = 0
    thresholds: str = "auto"

    def validate(self) -> "TrainConfig":
        for name in ("steps", "batch_size", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ParameterError(f"{name}={getattr(self, name)!r} must be a positive integer")
        if self.class_weight not in CLASS_WEIGHTS:
            raise ParameterError(f"class_weight={self.class_weight!r} must be one of {CLASS_WEIGHTS}")
        if self.embedding_views < 0:
            raise ParameterError(f"embedding_views={self.embedding_views!r} must be >= 0 (0: the whole track only)")
        if self.thresholds not in THRESHOLD_SOURCES:
            raise ParameterError(f"thresholds={self.thresholds!r} must be one of {THRESHOLD_SOURCES}")
        if self.patience < 0:
            raise ParameterError(f"patience={self.patience!r} must be >= 0 (0: never stop early)")
        if (self.keep_best or self.patience) and not self.eval_every:
            raise ParameterError(f"keep_best={self.keep_best} / patience={self.patience} choose among evaluations on "
                                 f"{self.eval_split!r}; set eval_every (e.g. eval_every=100)")
        return self

    def to_dict(self):
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d):
        return config_from_dict(cls, d)

    def get(self, path: str) -> Any:
        """The value at a dotted ``path`` (``'learning_rates.classifier.learning_rate'``)."""
        return get_path(self, path)

    def with_overrides(self, pairs: Dict[str, Any]) -> "TrainConfig":
        """Apply ``{'steps': 10, 'model.temporal.lstm.units': 64, ...}`` (``model.*`` → the model)."""
        config = self
        for path, value in pairs.items():
            if path.startswith("model."):
                config = dataclasses.replace(config, model_overrides={**config.model_overrides, path[6:]: value})
            else:
                config = override(config, path, value)
        return config


#: Fields that may change when a run is continued: they decide how long it runs and how often it
#: saves or evaluates, never what a step computes. ``steps`` may grow (train longer) but not fall
#: below the step the run has reached.
RESUMABLE = ("steps", "checkpoint_every", "eval_every")


def _same(a, b) -> bool:
    norm = lambda v: tuple(norm(x) for x in v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    return norm(a) == norm(b)


def resume_config(saved: TrainConfig, given: Dict[str, Any], model_config: Optional[TaggerConfig] = None,
                  flag_names: Optional[Dict[str, str]] = None) -> TrainConfig:
    """The config to continue a run with: ``saved``, with only :data:`RESUMABLE` fields changed.

    Args:
        saved: the run's own config (``train_config.json``).
        given: ``{dotted path: value}`` the user gave along with ``--resume`` (flags, ``--set``,
            ``--config``). A value equal to the saved one is fine; a different one for a field
            outside :data:`RESUMABLE` is an error that names both values.
        model_config: the run's model config, to check ``model.*`` paths against what the
            model really is (the variant's defaults included).
        flag_names: how to name a path in the error (``{"steps": "--steps"}``).

    Raises:
        ParameterError: a given value contradicts the run.
    """
    flag_names = flag_names or {}
    config, conflicts = saved, []
    for path, value in given.items():
        if path.startswith("model."):
            if model_config is None:
                current = saved.model_overrides.get(path[6:])
            else:
                current = get_path(model_config, path[6:], "model config field")
        else:
            current = saved.get(path)
        if _same(current, value):
            continue
        if path in RESUMABLE:
            config = config.with_overrides({path: value})
        else:
            conflicts.append(f"{flag_names.get(path, path)}={value!r} (the run has {current!r})")
    if conflicts:
        raise ParameterError("--resume continues the run with its own config; these values contradict it: "
                             + "; ".join(conflicts) + f". Only {', '.join(RESUMABLE)} may change; drop the others "
                             "or start a new run in another --model_dir")
    return config.validate()
