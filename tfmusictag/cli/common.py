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
import logging
import os
import sys
from typing import Any, Dict, Iterable

from absl import app, flags
from absl import logging as absl_logging

from tfmusictag.errors import captured_stderr

__all__ = ["parse_set", "user_errors", "program", "say", "quiet_start"]


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


def say(message: str) -> None:
    """A progress line for the user (stderr, so stdout stays the command's result)."""
    print(message, file=sys.stderr, flush=True)


def verbose() -> bool:
    """True when the user asked for more than the package's own messages (absl's ``--verbosity``/``-v``)."""
    return flags.FLAGS.is_parsed() and flags.FLAGS["verbosity"].present and flags.FLAGS.verbosity >= 0


def _drop_tfds_notices(record) -> bool:
    """False for TFDS's warning about the folder it is about to prepare (a dataset being built the
    first time is announced in one line by :func:`tfmusictag.data.load_split`)."""
    return "has no dataset_info.json" not in record.getMessage()


def quiet_start() -> None:
    """Start TensorFlow without its start-up chatter, unless ``--verbosity`` asks for it.

    TensorFlow prints CUDA, oneDNN and CPU-instruction lines while it is imported, before its own
    log level applies; they are captured (and shown only if the import fails). Afterwards
    ``TF_CPP_MIN_LOG_LEVEL`` (default 3 here) and absl's WARNING level keep TensorFlow's and TFDS's
    INFO lines out, and TFDS's progress bars appear only on a terminal: a user sees the package's
    progress, results, warnings and errors.
    """
    if verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        with captured_stderr() as captured:
            try:
                import keras  # noqa: F401
                import tensorflow  # noqa: F401
            except BaseException:
                captured.seek(0)
                sys.stderr.write(captured.read().decode("utf-8", "replace"))
                raise
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("absl").addFilter(_drop_tfds_notices)
    if not sys.stderr.isatty():
        try:
            import tensorflow_datasets as tfds
        except ImportError:  # a program that reads no dataset and keeps pandas out (predict)
            return
        tfds.disable_progress_bar()


def _user_error_types():
    from tfmusictag.errors import AudioFileError, ParameterError

    types = (ParameterError, AudioFileError, FileNotFoundError, FileExistsError)
    if "tfmusictag.datasets.tagged_catalog.tagged_catalog_dataset_builder" in sys.modules:  # a catalog's problems
        types += (sys.modules["tfmusictag.datasets.tagged_catalog.tagged_catalog_dataset_builder"].CatalogError,)
    return types


def _stop_on_closed_pipe() -> int:
    """``predict ... | head -2``: the reader has gone; stop quietly, as Unix tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    except OSError:
        pass
    return 141  # 128 + SIGPIPE: what a Unix tool killed by the closed pipe reports


def user_errors(main):
    """Turn the package's own errors (a user's mistake or data) into one ``error:`` line and exit 2."""

    @functools.wraps(main)
    def wrapper(argv):
        try:
            return main(argv)
        except BrokenPipeError:
            return _stop_on_closed_pipe()
        except Exception as exc:  # noqa: BLE001 - re-raised unless it is the user's
            if not isinstance(exc, _user_error_types()):
                raise
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return wrapper


def program(main):
    """A command's ``main``: quiet start-up (:func:`quiet_start`), then :func:`user_errors`."""
    checked = user_errors(main)

    @functools.wraps(main)
    def wrapper(argv):
        quiet_start()
        return checked(argv)

    return wrapper
