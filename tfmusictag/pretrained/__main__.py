"""Fetch, convert and export the pretrained taggers.

Usage::

    python -m tfmusictag.pretrained list
    python -m tfmusictag.pretrained download musicnn [--from=musicnn-0.1.0.tar.gz]
    python -m tfmusictag.pretrained download choi2016 [--from=<folder with Choi's .h5 files>]
    python -m tfmusictag.pretrained convert MTT_musicnn [--force]
    python -m tfmusictag.pretrained export MTT_musicnn [--base=saved_models] [--name=mtt_musicnn]

``download`` is the only step that touches the network; converted models are kept in
``$TFMUSICTAG_HOME/pretrained/<name>`` (default ``~/.cache/tfmusictag``).
"""

from __future__ import annotations

import sys

from absl import app, flags

from tfmusictag.cli.common import program, run_program

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("from", None, "download: a local copy of the weights instead of fetching them.")
    flags.DEFINE_bool("force", False, "convert: convert again even if a converted model exists.")
    flags.DEFINE_string("base", "saved_models", "export: folder of exported models.")
    flags.DEFINE_string("name", None, "export: model name under --base (default: the lower-cased model name).")
    flags.DEFINE_integer("version", None, "export: version number (default: next free).")


@program
def main(argv):
    from tfmusictag import pretrained

    if len(argv) < 2 or argv[1] not in ("list", "download", "convert", "export"):
        raise app.UsageError("usage: python -m tfmusictag.pretrained list|download SOURCE|convert NAME|export NAME")
    command, args = argv[1], argv[2:]
    if command == "list":
        from tfmusictag.rundir import RunDir

        for source, module in pretrained.SOURCES.items():
            for name in module.MODELS:
                ready = RunDir(pretrained.store.model_dir(name)).is_model()
                print(f"{name:16s} source={source:9s} {'converted' if ready else ''}")
        return 0
    if len(args) != 1:
        raise app.UsageError(f"{command} takes exactly one name")
    try:
        _run(command, args[0])
    except (OSError, ValueError, RuntimeError) as exc:  # ParameterError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _run(command, name):
    from tfmusictag import pretrained

    if command == "download":
        print(pretrained.download(name, getattr(FLAGS, "from")))
    elif command == "convert":
        from tfmusictag.rundir import RunDir

        path = pretrained.convert(name, force=FLAGS.force)
        for layer, what in RunDir(path).read_source().get("folded", {}).items():
            print(f"folded {layer}: {what}", file=sys.stderr)
        print(path)
    else:
        from tfmusictag.serving import export_saved_model

        print(export_saved_model(pretrained.load_model(name), FLAGS.base, FLAGS.name or name.lower(), FLAGS.version))


def run(argv=None):
    define_flags()
    run_program(main, __name__, argv)


if __name__ == "__main__":
    run()
