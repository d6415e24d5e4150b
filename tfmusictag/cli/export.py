"""``python -m tfmusictag.export``: a trained model as a SavedModel for TF Serving.

Written to ``<base_dir>/<name>/<version>/`` (TF Serving's layout), atomically; see
:func:`tfmusictag.serving.export_saved_model` for the signatures.

Example::

    python -m tfmusictag.export --model_dir=runs/bof --name=demo_tagger
"""

import os

from absl import app, flags

from tfmusictag.cli.common import program, run_program

FLAGS = flags.FLAGS


def define_flags():
    """Command-line flags (defined only when run as a program, so importing stays side-effect free)."""
    flags.DEFINE_string("model_dir", None, "A training run's directory, a .keras file or a pretrained model name.")
    flags.DEFINE_string("name", None, "Model name: the folder under --base_dir.")
    flags.DEFINE_string("base_dir", "saved_models", "TF Serving's model base directory.")
    flags.DEFINE_integer("version", None, "Version number (default: one above the highest present).")
    flags.DEFINE_integer("top_k", 10, "k of the top_k signature.")


@program
def main(argv):
    del argv
    if not FLAGS.model_dir or not FLAGS.name:
        raise app.UsageError("--model_dir and --name are required")
    from tfmusictag.pretrained import load_model
    from tfmusictag.rundir import RunDir
    from tfmusictag.serving import export_saved_model

    run = RunDir(FLAGS.model_dir).summary() if os.path.isdir(FLAGS.model_dir) else None
    print(export_saved_model(load_model(FLAGS.model_dir), FLAGS.base_dir, FLAGS.name, FLAGS.version, FLAGS.top_k,
                             run=run))
    return 0


def run(argv=None):
    define_flags()
    run_program(main, __name__, argv)


if __name__ == "__main__":
    run()
