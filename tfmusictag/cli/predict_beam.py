"""``python -m tfmusictag.predict_beam``: tag a catalog as an Apache Beam pipeline.

The same tagging as ``python -m tfmusictag.predict`` (same fields, same values), run by any Beam
runner: files are read (local, ``gs://``, ``s3://``...) and decoded on the workers, the SavedModel
is loaded once per worker, results go to JSON lines or Parquet and the files that could not be
tagged to ``<output>-errors-*.jsonl`` with the reason. Results are in no particular order.
Flags this program does not know are Beam's pipeline options (:mod:`tfmusictag.beam`).

Examples::

    # this machine, two worker processes
    python -m tfmusictag.predict_beam --model=saved_models/demo_tagger/1 --input=~/Music \\
        --output=out/tags --direct_num_workers=2 --direct_running_mode=multi_processing
    # Dataflow (not tested here)
    python -m tfmusictag.predict_beam --model=gs://bucket/saved_models/tagger/1 \\
        --input='gs://bucket/catalog/**.mp3' --output=gs://bucket/tags/run1 --format=parquet \\
        --runner=DataflowRunner --project=my-project --region=europe-west1 \\
        --temp_location=gs://bucket/tmp --requirements_file=requirements.txt

Exit status: 0 when every file was tagged, 1 when some were skipped or an input matched no file (the
others are still tagged), 2 on a usage error or when no input matched any file.
"""
import sys

from absl import app, flags

from tfmusictag.cli.common import program, say, run_program

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("model", None, "SavedModel version folder (local or on the runner's filesystem), a training "
                        "run's directory, or a pretrained model name.")
    flags.DEFINE_multi_string("input", [], "A folder, a file or a glob (local, gs://, s3://...); repeatable.")
    flags.DEFINE_string("output", None, "Output prefix: <output>-SSSSS-of-NNNNN.jsonl|.parquet, and "
                        "<output>-errors-...jsonl for files that could not be tagged.")
    flags.DEFINE_enum("format", "jsonl", ["jsonl", "parquet"], "Output format.")
    flags.DEFINE_integer("top_k", 10, "Tags per track (0: all tags).")
    flags.DEFINE_bool("timeline", False, "Also output the tags of every segment.")
    flags.DEFINE_enum("damaged", "tag", ["tag", "skip"], "A truncated or part-corrupt file: tag what can be "
                      "decoded (with a warning) or skip it.")


@program
def main(argv):
    beam_args = argv[1:]
    if not FLAGS.input:
        raise app.UsageError("--input is required (a folder, a file or a glob)")
    if not FLAGS.model or not FLAGS.output:
        raise app.UsageError("--model and --output are required")
    import logging
    import os

    from tfmusictag.cli.common import verbose

    if not verbose():  # the runner's and its workers' chatter, as predict keeps TensorFlow's
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # inherited by worker processes
        root = logging.getLogger()
        level, root.level = root.level, logging.ERROR
        import apache_beam  # noqa: F401  (warns that Google Cloud's optional clients are missing)

        root.setLevel(level)
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
        if not any(a.startswith("--default_sdk_harness_log_level") for a in beam_args):
            beam_args = [*beam_args, "--default_sdk_harness_log_level=ERROR"]
    from tfmusictag import beam
    from tfmusictag.serving import InferenceModel

    InferenceModel(FLAGS.model)  # a model that cannot be loaded: one error here, not one per worker
    say(f"tagging {', '.join(FLAGS.input)} with Apache Beam ({' '.join(beam_args)})")
    result = beam.run(FLAGS.input, FLAGS.model, FLAGS.output, FLAGS.format, FLAGS.top_k, FLAGS.timeline,
                      FLAGS.damaged, beam_args)
    n = beam.counts(result)
    say(f"tagged {n['tagged']} tracks, skipped {n['skipped']} (see {FLAGS.output}-errors-*.jsonl); "
        f"results in {FLAGS.output}-*.{FLAGS.format}")
    return 1 if n["skipped"] else 0


def run(argv=None):
    define_flags()
    # flags this program does not define are Beam's pipeline options
    run_program(main, __name__, argv, flags_parser=_parse_known_flags)


def _parse_known_flags(args):
    try:
        return FLAGS(args, known_only=True)
    except flags.Error as exc:  # one line, as absl's own parser gives for the other commands
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    run()
