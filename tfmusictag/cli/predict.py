"""``python -m tfmusictag.predict PATH...``: tag audio files, folders or globs.

Prints one result per track (JSON lines, or CSV with ``--format=csv``) as soon as it is tagged:
the tags the model decides for (``decided``, by the model's rule, which ``decided_by`` names;
``--threshold`` sets one cut for all) beside the ``--top_k`` calibrated probabilities;
``--plot=DIR`` draws each track's taggram (its tags over time, :mod:`tfmusictag.taggram`).
Two tracks are decoded and tagged at once (:func:`tfmusictag.tagging.tag_files`); only a
few tracks are in memory at once, whatever the size of the catalog. Files longer than
``--stream_above_minutes`` (10) are decoded and turned into features block by block
(:func:`tfmusictag.frontend.iter_log_mel`) and tagged chunk by chunk, same result, bounded memory. A file that cannot be read
is reported (stderr, and a line with an ``error`` field) and skipped; the others are tagged. A
damaged file (truncated, or corrupt part-way) is tagged from the audio that can be decoded, its
line carrying a ``warning`` (``--damaged=skip`` skips it instead). Exit status: 0 when every file
was tagged, 1 when some files were skipped or some arguments matched no audio file (the others are
still tagged), 2 for a usage error (no ``--model``, no paths, a bad flag), when no argument matched an
audio file or when the model cannot be loaded; reading stops quietly when the output pipe closes (``| head``).

The model is a SavedModel version folder (``saved_models/<name>/<version>``, as exported) — then
nothing but TensorFlow runs the model — a training run's directory or a pretrained name. The
tagging itself is :func:`tfmusictag.tagging.tag_files`; this program writes its records.

Examples::

    python -m tfmusictag.predict ~/Music --model=saved_models/demo_tagger/1 --top_k=5
    python -m tfmusictag.predict "album/*.flac" --model=runs/bof --timeline --format=jsonl
    python -m tfmusictag.predict song.mp3 --model=MTT_musicnn --plot=taggrams
"""

import csv
import json
import sys

from absl import app, flags

from tfmusictag.cli.common import program, say, run_program
from tfmusictag.tagging import DAMAGED  # loads no TensorFlow: low_memory_process still comes first

FLAGS = flags.FLAGS


def define_flags():
    """Command-line flags (defined only when run as a program, so importing stays side-effect free)."""
    flags.DEFINE_string("model", None, "SavedModel version folder, a training run's directory, or a pretrained "
                        "model name (MTT_musicnn, MTT_vgg, MSD_musicnn, MSD_vgg, choi2016_cnn, choi2016_crnn).")
    flags.DEFINE_enum("format", "jsonl", ["jsonl", "csv"], "Output format.")
    flags.DEFINE_integer("top_k", 10, "Tag probabilities per track, best first (0: all tags).")
    flags.DEFINE_float("threshold", None, "Decide every tag at this (calibrated) probability, in place of the "
                       "model's own rule (thresholds fitted when it was trained; a pretrained model: the "
                       "tags of highest expected F1).")
    flags.DEFINE_bool("timeline", False, "Also output the tags of every segment (29.12 s; 3 s for musicnn models).")
    flags.DEFINE_string("plot", None, "Draw every track's taggram (its tags over time) into this folder, "
                        "as <file name>.png; the output line's `taggram` names it.")
    flags.DEFINE_enum("plot_format", "png", ["png", "svg"], "Taggram file format (--plot).")
    flags.DEFINE_string("output", "-", "Output file ('-': stdout).")
    flags.DEFINE_float("stream_above_minutes", 10.0, "Decode longer files block by block as they are tagged "
                       "(shorter ones are decoded whole, two tracks at a time).")
    flags.DEFINE_enum("kernels", "auto", ["auto", "onednn", "tensorflow"], "TensorFlow's CPU kernels: oneDNN's or "
                      "its own; auto: by the CPU's features (oneDNN where it has VNNI, BF16 or AMX instructions).")
    flags.DEFINE_bool("onednn", False, "The same as --kernels=onednn.")
    flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16"], "bfloat16: the network's products in "
                      "bfloat16 through oneDNN (CPUs with AVX512_BF16 or AMX only; tags differ slightly).")
    flags.DEFINE_enum("damaged", "tag", list(DAMAGED), "A truncated or part-corrupt file: tag the audio that can be "
                      "decoded, with a warning in its output line (tag), or skip it (skip).")


def predict_files(paths, model_path, out, fmt="jsonl", top_k=10, timeline=False, err=sys.stderr,
                  stream_above_minutes=10.0, damaged="tag", threshold=None, plot=None, plot_format="png"):
    """Write :func:`tfmusictag.tagging.tag_files`'s records to ``out`` (JSON lines or CSV) as they
    come, and one line on ``err`` per input that gave no tags or a warning. Returns ``(tagged,
    skipped)``: an argument that matched no audio file counts among the skipped. A model without
    decision rule, when no ``threshold`` is given, is said once on ``err``."""
    from tfmusictag.serving import InferenceModel
    from tfmusictag.tagging import UNMATCHED, expand_paths, tag_files

    expand_paths(paths)  # nothing to tag: one error before the model is loaded
    tagger = InferenceModel(model_path)
    if not tagger.decides and threshold is None:
        print(f"note: {model_path} has no decision thresholds: probabilities only; "
              "--threshold=P decides every tag at P", file=err)
    writer = csv.writer(out) if fmt == "csv" else None
    if writer:
        writer.writerow(["path", "duration_seconds", "decided", "tags", "error", "warning", "decided_by", "taggram"])
    ok = failed = 0
    for record in tag_files(paths, tagger, top_k=top_k, timeline=timeline, stream_above_minutes=stream_above_minutes,
                            damaged=damaged, threshold=threshold, plot=plot, plot_format=plot_format):
        if "error" in record:
            failed += 1
            error = record["error"]
            print(f"error: {error[len(UNMATCHED):]}" if error.startswith(UNMATCHED) else f"skipped {error}", file=err)
        else:
            ok += 1
            if "warning" in record:
                print(f"warning: {record['warning']}", file=err)
        if writer:
            tags = ";".join(f"{t}:{p:.3f}" for t, p in record.get("tags", {}).items())
            writer.writerow([record["path"], record.get("duration_seconds", ""), ";".join(record.get("decided") or []),
                             tags, record.get("error", ""), record.get("warning", ""), record.get("decided_by", ""),
                             record.get("taggram", "")])
        else:
            out.write(json.dumps(record) + "\n")
        out.flush()
    return ok, failed


@program(datasets=False)
def main(argv):
    paths = argv[1:]
    if not paths:
        raise app.UsageError("give at least one audio file, folder or glob")
    if not FLAGS.model:
        raise app.UsageError("--model is required")
    from tfmusictag import kernels
    from tfmusictag.training.distribute import describe_devices

    kernels.check_precision(FLAGS.precision)
    kernels.enable_precision(FLAGS.precision)
    say(f"devices: {describe_devices()}; CPU kernels: {KERNELS_CHOSEN[0] or 'TensorFlow default'}"
        + (f"; precision {FLAGS.precision}" if FLAGS.precision != "float32" else ""))
    out = sys.stdout if FLAGS.output == "-" else open(FLAGS.output, "w", newline="")
    try:  # a model that cannot be loaded is one error line (user_errors); files are reported one by one
        ok, failed = predict_files(paths, FLAGS.model, out, FLAGS.format, FLAGS.top_k, FLAGS.timeline,
                                   stream_above_minutes=FLAGS.stream_above_minutes, damaged=FLAGS.damaged,
                                   threshold=FLAGS.threshold, plot=FLAGS.plot, plot_format=FLAGS.plot_format)
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"tagged {ok} tracks, skipped {failed}", file=sys.stderr)
    return 1 if failed else 0


#: Modules Keras imports at start-up only if they are installed (its scikit-learn wrapper, pandas
#: inputs, image-gallery plots): tagging uses none of them, and in an environment that has them
#: (the test extras) they cost memory and start-up time before the first track.
OPTIONAL_IMPORTS = ("sklearn", "pandas", "matplotlib")
#: The CPU kernels :func:`low_memory_process` chose (``None``: TensorFlow's default).
KERNELS_CHOSEN = [None]


def low_memory_process(argv) -> None:
    """Settings for tagging fast in bounded memory; called before TensorFlow is imported.

    * The CPU kernels of ``--kernels`` (``auto``: by the CPU, :func:`tfmusictag.kernels.choose_kernels`;
      ``--onednn`` is ``--kernels=onednn``), set in ``TF_ENABLE_ONEDNN_OPTS`` here because
      TensorFlow reads the variable when it loads, before flags are parsed.
    * Keras's :data:`OPTIONAL_IMPORTS` are marked absent (``sys.modules[name] = None``: Keras
      then takes the branch it takes where they are not installed) — Matplotlib not when
      ``--plot`` asks for taggrams.
    """
    from tfmusictag import kernels

    args = [str(a) for a in argv]
    chosen = next((a.split("=", 1)[1] if "=" in a else (args[i + 1] if i + 1 < len(args) else "")
                   for i, a in enumerate(args) if a.split("=")[0] == "--kernels"), "auto")
    if any(a in ("--onednn", "--onednn=true", "--onednn=1") for a in argv):
        chosen = "onednn"
    KERNELS_CHOSEN[0] = kernels.apply(chosen if chosen in kernels.KERNELS else "auto")  # a bad value: the flag says
    plots = any(str(a).split("=")[0] == "--plot" for a in argv)
    for name in OPTIONAL_IMPORTS:
        if not (plots and name == "matplotlib"):
            sys.modules.setdefault(name, None)


def run(argv=None, exit_at_once: bool = True):
    """The program: ``argv`` as ``sys.argv``. With ``exit_at_once`` (the default) the process
    ends as soon as the records are written (:func:`tfmusictag.cli.common.end_process`);
    ``False`` raises ``SystemExit`` as other programs do, for a caller that goes on."""
    low_memory_process(sys.argv if argv is None else argv)
    define_flags()
    run_program(main, __name__, argv, exit_at_once=exit_at_once)


if __name__ == "__main__":
    run()
