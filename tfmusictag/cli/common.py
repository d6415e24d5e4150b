"""What every command shares: ``--set`` parsing, the config it resolves to, and one-line errors.

``--set path=value`` means the same in every command that takes it (``train``, ``tune``, the
experiments): ``path`` is a dotted path into :class:`~tfmusictag.training.TrainConfig` —
``steps``, ``max_seconds``, ``learning_rates.classifier.learning_rate`` — and ``model.<path>``
changes the model (``model.temporal.bof.num_clusters=64``). ``value`` is JSON (a bare word is a
string).
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any, Dict, Iterable

from absl import app

__all__ = ["parse_set", "flatten_config_dict", "user_errors", "say"]


def parse_set(items: Iterable[str]) -> Dict[str, Any]:
    """``["steps=10", "model.classifier.hidden=64"]`` → ``{"steps": 10, "model.classifier.hidden": 64}``."""
    out = {}
    for item in items:
        path, sep, value = item.partition("=")
        if not sep or not path.strip():
            raise app.UsageError(f"--set {item!r} must look like path=value")
        try:
            out[path.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[path.strip()] = value
    return out


def flatten_config_dict(d: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """A ``--config`` file's fields as ``--set`` paths (``model_overrides`` → ``model.*``)."""
    out = {}
    for key, value in d.items():
        if not prefix and key == "model_overrides" and isinstance(value, dict):
            out.update({f"model.{k}": v for k, v in value.items()})
        elif isinstance(value, dict):
            out.update(flatten_config_dict(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def say(message: str) -> None:
    """A progress line for the user (stderr, so stdout stays the command's result)."""
    print(message, file=sys.stderr, flush=True)


def _user_error_types():
    from tfmusictag.errors import AudioFileError, ParameterError

    types = (ParameterError, AudioFileError, FileNotFoundError, FileExistsError)
    if "tfmusictag.datasets.tagged_catalog.tagged_catalog_dataset_builder" in sys.modules:  # a catalog's problems
        types += (sys.modules["tfmusictag.datasets.tagged_catalog.tagged_catalog_dataset_builder"].CatalogError,)
    return types


def user_errors(main):
    """Turn the package's own errors (a user's mistake or data) into one ``error:`` line and exit 2."""

    @functools.wraps(main)
    def wrapper(argv):
        try:
            return main(argv)
        except Exception as exc:  # noqa: BLE001 - re-raised unless it is the user's
            if not isinstance(exc, _user_error_types()):
                raise
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return wrapper
