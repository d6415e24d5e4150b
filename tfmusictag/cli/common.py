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
import re
import sys
from typing import Any, Dict, Iterable

from absl import app, flags
from absl import logging as absl_logging

from tfmusictag.errors import captured_stderr

#: Exit status of a usage error (a missing or bad flag or argument), as argparse and absl's own
#: ``UsageError`` convention have it; 1 means "some inputs failed", 0 "all done".
USAGE_EXIT = 2

__all__ = ["parse_set", "user_errors", "program", "say", "quiet_start", "run_program", "end_process", "plain_text", "USAGE_EXIT"]


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


def quiet_start(datasets: bool = True) -> None:
    """Start TensorFlow without its start-up chatter, unless ``--verbosity`` asks for it.

    TensorFlow prints CUDA, oneDNN and CPU-instruction lines while it is imported, before its own
    log level applies; they are captured (and shown only if the import fails). Afterwards
    ``TF_CPP_MIN_LOG_LEVEL`` (default 3 here) and absl's WARNING level keep TensorFlow's and TFDS's
    INFO lines out, and TFDS's progress bars appear only on a terminal: a user sees the package's
    progress, results, warnings and errors. ``datasets=False``: a program that reads no TFDS
    dataset (``predict``, ``library``) does not load TFDS to quiet it.
    """
    if verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        printed = ""
        try:
            with captured_stderr() as captured:
                try:
                    import keras  # noqa: F401
                    import tensorflow  # noqa: F401
                except BaseException:
                    captured.seek(0)
                    printed = captured.read().decode("utf-8", "replace")
                    raise
        except BaseException:  # what TensorFlow printed on its way down, shown once standard error is back
            sys.stderr.write(printed)
            raise
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("absl").addFilter(_drop_tfds_notices)
    if datasets and not sys.stderr.isatty():
        try:
            import tensorflow_datasets as tfds
        except ImportError:  # TFDS not installed: no progress bars to quiet
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


_ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|exc|obj|ref|doc):`~?([^`<]*?)(?:\s*<[^>]*>)?`")


def plain_text(doc: str) -> str:
    """A docstring as a terminal shows it: Sphinx roles and ``literals`` as their plain text,
    ``::`` as ``:``."""
    text = _ROLE.sub(lambda m: m.group(1).strip(), doc or "")
    text = re.sub(r"``([^`]*)``", r"\1", text)
    return text.replace("::\n", ":\n")


def _home(value):
    """``~`` or ``~/...`` as the home folder: the shell leaves ``--model_dir=~/runs`` as it is."""
    if isinstance(value, str) and (value == "~" or value.startswith("~/")):
        return os.path.expanduser(value)
    if isinstance(value, list):
        return [_home(v) for v in value]
    return value


_HELP = ("--help", "-help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml")


def _parse_flags(parse):
    """absl's flag parser, but a bad flag is one ``error:`` line and exit status 2, and a path flag
    that starts with ``~`` means the home folder (bash expands ``~`` only at the start of a word)."""

    def parser(args):
        try:
            rest = parse(args)
        except SystemExit as exc:  # absl exits 1 after printing the help a user asked for: that is success
            if exc.code == 1 and any(a.split("=")[0] in _HELP for a in args[1:]):
                sys.exit(0)
            raise
        except flags.Error as exc:
            print(f"error: {exc} (--help lists the flags)", file=sys.stderr)
            sys.exit(USAGE_EXIT)
        for name in flags.FLAGS:
            flag = flags.FLAGS[name]
            if flag.present and _home(flag.value) != flag.value:
                flag.value = _home(flag.value)
        return rest

    return parser


def run_program(main, module_name: str, argv=None, flags_parser=None, exit_at_once: bool = False) -> None:
    """``app.run(main, argv)`` for the program defined in ``module_name``: its ``--help`` shows its
    own summary (the module's docstring as plain text) and its own flags, and a usage error exits
    with :data:`USAGE_EXIT`.

    ``exit_at_once``: once ``main`` has returned, flush the output and end the process with
    :func:`end_process` instead of Python's interpreter teardown.
    """
    name = sys.argv[0]
    for flag in flags.FLAGS.get_flags_for_module(module_name):
        flags.FLAGS.register_key_flag_for_module(name, flag)
    doc = plain_text(sys.modules[module_name].__doc__).strip()
    sys.modules["__main__"].__doc__ = "\n" + doc.replace("%", "%%") + "\n"
    try:
        app.run(main, argv, flags_parser=_parse_flags(flags_parser or (lambda args: flags.FLAGS(args))))
    except SystemExit as exc:
        if not exit_at_once:
            raise
        end_process(exc.code)


def end_process(code=0) -> None:
    """End the process now with exit status ``code`` (``sys.exit``'s meaning: ``None`` is 0, a
    string is printed and is 1), after flushing standard output, standard error and the log.

    Python's own teardown after TensorFlow has run (finalizing thousands of modules and the objects
    holding TensorFlow's graphs and thread pools) takes about a second and does nothing a finished
    program needs: a program whose files are written and closed skips it, as ``os._exit`` does.
    """
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    code = 0 if code is None else int(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing left to say to it
            pass
    os._exit(code)


def user_errors(main):
    """Turn the package's own errors (a user's mistake or data) into one ``error:`` line and exit 2."""

    @functools.wraps(main)
    def wrapper(argv):
        try:
            return main(argv)
        except app.UsageError as exc:
            exc.exitcode = USAGE_EXIT
            raise
        except BrokenPipeError:
            return _stop_on_closed_pipe()
        except Exception as exc:  # noqa: BLE001 - re-raised unless it is the user's
            if not isinstance(exc, _user_error_types()):
                raise
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return wrapper


def program(main=None, *, datasets: bool = True):
    """A command's ``main``: quiet start-up (:func:`quiet_start`), then :func:`user_errors`.
    ``@program(datasets=False)`` for a command that reads no TFDS dataset."""
    if main is None:
        return functools.partial(program, datasets=datasets)
    checked = user_errors(main)

    @functools.wraps(main)
    def wrapper(argv):
        quiet_start(datasets)
        return checked(argv)

    return wrapper
