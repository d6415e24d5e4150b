"""One resolver of a run's settings for every program: ``train``, ``tune`` (and the library's callers).

Settings are ``{dotted path: value}`` (``steps``, ``learning_rates.classifier.learning_rate``,
``model.temporal.bof.num_clusters``), gathered from a JSON file (``--config``, nested or dotted),
then flags, then ``--set path=value``, each later source overriding the earlier (:func:`gather`).
:func:`train_config` turns them into the :class:`~tfmusictag.training.config.TrainConfig` of a new
run — sized by the small-catalog recipe when no variant is named — or checks them against the
saved config of a run being resumed; :func:`search_config` into the config every trial of a
KerasTuner search shares (fields a search does not use are refused, not ignored). Every path is
validated by the config's own registry walk (:meth:`TrainConfig.with_overrides`), so a typo is one
:class:`~tfmusictag.errors.ParameterError` naming the closest field.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Mapping, Optional

from tfmusictag.errors import ParameterError
from tfmusictag.registry import flatten
from tfmusictag.training.config import TrainConfig, resume_config

__all__ = ["read_config_file", "gather", "train_config", "search_config", "SEARCH_FIELDS"]

#: The settings a search's trials use (with ``model.*``); the others belong to ``train``.
SEARCH_FIELDS = ("dataset", "data_dir", "manual_dir", "train_split", "eval_split", "steps", "batch_size", "init_from",
                 "learning_rates", "max_seconds", "deterministic")


def read_config_file(path: str) -> Dict[str, Any]:
    """``{dotted path: value}`` of a JSON config file (a ``train_config.json`` or any part of one).

    Raises:
        ParameterError: the file cannot be read or is not a JSON object.
    """
    try:
        with open(path) as f:
            value = json.load(f)
    except OSError as exc:
        raise ParameterError(f"--config={path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ParameterError(f"--config={path} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ParameterError(f"--config={path} holds a JSON {type(value).__name__}; a config is an object")
    return flatten(value)


def gather(config_file: Optional[str] = None, flags: Optional[Mapping[str, Any]] = None,
           sets: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The settings a command gives: its ``config_file``'s, then ``flags`` (``None`` values: not
    given), then ``sets`` (``--set``), each overriding the earlier."""
    given = read_config_file(config_file) if config_file else {}
    given.update({k: v for k, v in (flags or {}).items() if v is not None})
    given.update(sets or {})
    return given


def train_config(given: Mapping[str, Any], *, run=None, resume: bool = False, names: Optional[Mapping[str, str]] = None,
                 log: Optional[Callable[[str], None]] = None) -> TrainConfig:
    """The config of a training run from ``given`` settings.

    Args:
        given: :func:`gather`'s settings.
        run: the run's :class:`~tfmusictag.rundir.RunDir` (needed with ``resume``).
        resume: continue the run in ``run``: its saved config, with ``given`` checked against it
            (only :data:`~tfmusictag.training.config.RESUMABLE` fields may change).
        names: how the user wrote each setting (``{"steps": "--steps"}``), for the messages.
        log: where the recipe says what it chose.

    Raises:
        ParameterError: an unknown or ill-typed setting; a resumed run contradicted.
    """
    given = dict(given)
    if resume and run is not None and run.has_run():
        return resume_config(TrainConfig.from_dict(run.read_train_config()), given, run.read_model_config(), names)
    config = TrainConfig().with_overrides(given).validate()
    if resume:  # nothing to resume: train() says so
        return config
    from tfmusictag.training.recipe import resolve_recipe

    return resolve_recipe(config, given, log=log)  # no variant named: the recipe, sized to the catalog


def search_config(given: Mapping[str, Any]) -> TrainConfig:
    """The settings every trial of a search shares (:data:`SEARCH_FIELDS` and ``model.*``).

    Raises:
        ParameterError: a setting a search does not use (train the chosen model with it instead), or
            an unknown or ill-typed one.
    """
    ignored = sorted(p for p in given if p.split(".")[0] not in SEARCH_FIELDS and not p.startswith("model."))
    if ignored:
        them = "it" if len(ignored) == 1 else "them"
        raise ParameterError(f"{', '.join(ignored)}: a search does not use {them} (its trials use "
                             f"{', '.join(SEARCH_FIELDS)} and model.*); drop {them} or train the chosen model with train")
    return TrainConfig().with_overrides(dict(given)).validate()
