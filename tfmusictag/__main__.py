"""``tfmusictag COMMAND [flags]`` (the console script) and ``python -m tfmusictag COMMAND``: the same
programs as ``python -m tfmusictag.<command>``.

Commands: ``train``, ``evaluate``, ``export``, ``predict``, ``predict_beam``, ``tune``,
``experiments``, ``demo``, ``transfer_demo``, ``library``, ``pretrained``.
"""

import importlib
import sys

#: command → the module whose ``run(argv)`` is the program
COMMANDS = {name: f"tfmusictag.cli.{name}" for name in (
    "train", "evaluate", "export", "predict", "predict_beam", "tune", "experiments", "demo", "transfer_demo",
    "library")}
COMMANDS["pretrained"] = "tfmusictag.pretrained.__main__"


USAGE = (f"usage: tfmusictag {{{','.join(COMMANDS)}}} [flags]\n\n"
         "Tag whole music tracks, train and evaluate taggers on your catalog, export and serve them.\n"
         "tfmusictag COMMAND --help lists a command's flags; tfmusictag COMMAND is python -m tfmusictag.COMMAND.\n")


def main(argv=None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) == 2 and argv[1] in ("-h", "--help", "help", "--helpshort"):
        sys.stdout.write(USAGE)
        sys.exit(0)
    if len(argv) < 2 or argv[1] not in COMMANDS:
        given = f"unknown command {argv[1]!r}; " if len(argv) > 1 else "no command given; "
        sys.stderr.write(f"error: {given}{USAGE.splitlines()[0]} (tfmusictag --help)\n")
        sys.exit(2)
    command = argv[1]
    # the module is imported only now: predict must set TensorFlow's options before it loads
    importlib.import_module(COMMANDS[command]).run([f"tfmusictag {command}", *argv[2:]])


if __name__ == "__main__":
    main()
