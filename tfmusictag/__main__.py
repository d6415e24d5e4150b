"""``tfmusictag COMMAND [flags]`` (the console script) and ``python -m tfmusictag COMMAND``: the same
programs as ``python -m tfmusictag.<command>``.

Commands: ``train``, ``evaluate``, ``export``, ``predict``, ``predict_beam``, ``tune``,
``experiments``, ``demo``, ``transfer_demo``, ``pretrained``.
"""

import importlib
import sys

#: command → the module whose ``run(argv)`` is the program
COMMANDS = {name: f"tfmusictag.cli.{name}" for name in (
    "train", "evaluate", "export", "predict", "predict_beam", "tune", "experiments", "demo", "transfer_demo")}
COMMANDS["pretrained"] = "tfmusictag.pretrained.__main__"


def main(argv=None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] not in COMMANDS:
        given = f"unknown command {argv[1]!r}; " if len(argv) > 1 and not argv[1].startswith("-") else ""
        sys.stderr.write(f"error: {given}usage: tfmusictag {{{','.join(COMMANDS)}}} [flags] "
                         "(tfmusictag COMMAND --help for its flags)\n")
        sys.exit(2)
    command = argv[1]
    # the module is imported only now: predict must set TensorFlow's options before it loads
    importlib.import_module(COMMANDS[command]).run([f"tfmusictag {command}", *argv[2:]])


if __name__ == "__main__":
    main()
