"""``python -m tfmusictag.predict PATH...``: tag audio files, folders or globs.

Prints one result per track (JSON lines, or CSV with ``--format=csv``) as soon as it is tagged.
Files are decoded on all cores inside ``tf.data`` while the model tags the previous ones; only a
few tracks are in memory at once, whatever the size of the catalog. Files longer than
``--stream_above_minutes`` (10) are decoded and turned into features block by block
(:func:`tfmusictag.frontend.iter_log_mel`) and tagged chunk by chunk, same result, bounded memory. A file that cannot be read
is reported (stderr, and a line with an ``error`` field) and skipped; the others are tagged. A
damaged file (truncated, or corrupt part-way) is tagged from the audio that can be decoded, its
line carrying a ``warning`` (``--damaged=skip`` skips it instead). Exit status: 0 when every file
was tagged, 1 when some files were skipped or some arguments matched no audio file (the others are
still tagged), 2 when no argument matched an audio file or the model cannot be loaded; reading stops quietly when the output pipe closes (``| head``).

The model is a SavedModel version folder (``saved_models/<name>/<version>``, as exported) — then
nothing but TensorFlow runs the model — or a training run's directory.

Examples::

    python -m tfmusictag.predict ~/Music --model=saved_models/demo_tagger/1 --top_k=5
    python -m tfmusictag.predict "album/*.flac" --model=runs/bof --timeline --format=jsonl
"""

import csv
import json
import os
import sys

from absl import app, flags

from tfmusictag.cli.common import program, say

FLAGS = flags.FLAGS

#: ``--damaged`` choices. The default, ``tag``, is what someone tagging a large personal library
#: wants: a file cut short by an interrupted copy, or with a damaged stretch, still gets tags from
#: the audio that survives, and the output says exactly what was wrong (nothing is hidden, as a
#: decoder that silently returns the readable part would); ``skip`` refuses such files. Training
#: stays strict: a damaged track never becomes a silently shorter training example.
DAMAGED = ("tag", "skip")


def define_flags():
    """Command-line flags (defined only when run as a program, so importing stays side-effect free)."""
    flags.DEFINE_string("model", None, "SavedModel version folder, a training run's directory, or a pretrained "
                        "model name (MTT_musicnn, MTT_vgg, MSD_musicnn, MSD_vgg, choi2016_cnn, choi2016_crnn).")
    flags.DEFINE_enum("format", "jsonl", ["jsonl", "csv"], "Output format.")
    flags.DEFINE_integer("top_k", 10, "Tags per track (0: all tags).")
    flags.DEFINE_bool("timeline", False, "Also output the tags of every segment (29.12 s; 3 s for musicnn models).")
    flags.DEFINE_string("output", "-", "Output file ('-': stdout).")
    flags.DEFINE_float("stream_above_minutes", 10.0, "Decode longer files block by block as they are tagged "
                       "(shorter ones are decoded whole, ahead of the model, on all cores).")
    flags.DEFINE_bool("onednn", False, "Run convolutions with oneDNN: about 1.8x faster CNN models (musicnn) for "
                      "about 300 MB more memory.")
    flags.DEFINE_enum("damaged", "tag", list(DAMAGED), "A truncated or part-corrupt file: tag the audio that can be "
                      "decoded, with a warning in its output line (tag), or skip it (skip).")


def _top(tags, probs, k):
    order = probs.argsort()[::-1][: (k or len(tags))]
    return {tags[i]: round(float(probs[i]), 4) for i in order}


def _files(paths):
    """Every audio file under ``paths``, in order, and the arguments that matched none.

    Returns ``(files, unmatched)``: ``unmatched`` holds ``(position, arg, message)`` per argument
    that matched no audio file, ``position`` being where its files would be in ``files`` (its
    error line is written there, in the order of the arguments).

    Raises:
        ParameterError: when no argument matches any audio file (nothing to do).
    """
    from tfmusictag import audio
    from tfmusictag.errors import ParameterError

    files, unmatched = [], []
    for arg in paths:
        found = list(audio.iter_audio_files([arg]))
        if not found:
            kind = "folder" if os.path.isdir(arg) else "pattern" if any(c in arg for c in "*?[") else "path"
            unmatched.append((len(files), arg, f"the {kind} {arg!r} matched no audio file (extensions: "
                                               f"{', '.join(audio.AUDIO_EXTENSIONS)})"))
        files += found
    if not files:
        raise ParameterError(unmatched[0][2] if len(unmatched) == 1 else
                             "no argument matched an audio file: " + "; ".join(m for _, _, m in unmatched))
    return files, unmatched


def track_result(tagger, path, probs, timeline, frames, damage=(), top_k=10) -> dict:
    """The output line of one tagged track (what ``predict`` and ``predict_beam`` write).

    ``probs``, ``timeline`` and ``frames`` are :meth:`~tfmusictag.serving.Tagger.tag_chunks`'s
    result; ``damage``: the error of a damaged file tagged from its decodable part (a ``warning``).
    """
    import numpy as np

    duration = (frames - 1) * tagger.front_end.hop_length / tagger.sample_rate
    result = {"path": path, "duration_seconds": round(duration, 2), "tags": _top(tagger.tags, probs, top_k)}
    if damage:
        result["warning"] = f"{type(damage[0]).__name__}: {damage[0]}; tagged the {duration:.2f} s that could be decoded"
    if timeline:
        seg, mask = np.asarray(timeline["segment_probabilities"][0]), np.asarray(timeline["segment_mask"][0])
        starts = np.asarray(timeline["segment_start_seconds"])
        result["timeline"] = [{"start_seconds": round(float(starts[s]), 2), "tags": _top(tagger.tags, seg[s], top_k)}
                              for s in range(len(mask)) if mask[s]]
    return result


def predict_files(paths, model_path, out, fmt="jsonl", top_k=10, timeline=False, err=sys.stderr,
                  stream_above_minutes=10.0, damaged="tag"):
    """Tag every audio file under ``paths``; write results to ``out``. Returns ``(tagged, skipped)``.

    Results are written in the order of ``paths`` (folders sorted), one line per file. An argument
    that matches no audio file (an empty folder, a glob that matches nothing) does not stop the
    others: it is reported on ``err`` and as an ``error`` line at its place, and counted among the
    skipped; only when no argument matches anything is it a :class:`ParameterError`, before any
    model is loaded. Files up to
    ``stream_above_minutes`` are decoded whole, several at once on all cores, ahead of the model;
    longer ones are decoded and turned into features block by block, so memory stays bounded
    whatever the length (the output is the same either way).

    ``damaged``: a file that is truncated or corrupt part-way is ``'tag'``-ged from the audio that
    can be decoded — its line carries a ``warning`` saying how much was decoded of what its header
    declares — or ``'skip'``-ped like an unreadable one. A file with nothing decodable is skipped.
    """

    from tfmusictag import audio
    from tfmusictag.audio import tfdata
    from tfmusictag.errors import AudioFileError, ParameterError
    from tfmusictag.serving import Tagger

    if damaged not in DAMAGED:
        raise ParameterError(f"damaged={damaged!r} must be one of {DAMAGED}")
    files, unmatched = _files(paths)
    tagger = Tagger(model_path)
    stream = {}
    for f in files:
        try:
            stream[f] = tagger.streamable() and audio.info(f).duration > 60 * stream_above_minutes
        except AudioFileError:
            stream[f] = False  # the decoder reports the error in order
    writer = csv.writer(out) if fmt == "csv" else None
    if writer:
        writer.writerow(["path", "duration_seconds", "tags", "error", "warning"])
    keep = "keep" if damaged == "tag" else "raise"
    # One file decoded ahead while the model tags the current one: the decoder and the model each
    # keep a core busy, and at most two decoded tracks are in memory (MTT_musicnn, four 6-9 min
    # tracks: 1005 -> 982 MB peak with two decoding at once and one more prefetched).
    whole = iter(tfdata.audio_dataset([f for f in files if not stream[f]], tagger.sample_rate, damaged=keep,
                                      num_parallel_calls=1).prefetch(1).as_numpy_iterator())
    ok = failed = 0

    def report(path, error, line):
        """One input that gives no tags: ``line`` on ``err``, an ``error`` line in the output."""
        nonlocal failed
        failed += 1
        print(line, file=err)
        if writer:
            writer.writerow([path, "", "", error, ""])
        else:
            out.write(json.dumps({"path": path, "error": error}) + "\n")
        out.flush()

    def report_unmatched(upto):
        while unmatched and unmatched[0][0] <= upto:
            _, arg, message = unmatched.pop(0)
            report(arg, f"ParameterError: {message}", f"error: {message}")

    for i, path in enumerate(files):
        report_unmatched(i)
        damage = []
        try:
            if stream[path]:  # decoded block by block as the model goes
                keep = damage if damaged == "tag" else None
                blocks = lambda: tagger.stream_blocks(path, damage=keep)  # noqa: E731
            else:
                item = next(whole)
                problem = tfdata.error_from(item["path"], item["error_type"], item["error_reason"])
                if problem is not None and not len(item["audio"]):
                    raise problem
                if problem is not None:
                    damage.append(problem)
                blocks = lambda: [item["audio"]]  # noqa: E731
            # the front end and the model run chunk by chunk (bounded memory for any length)
            probs, tl, frames = tagger.tag_chunks(tagger.log_mel_chunks(blocks), timeline)
        except AudioFileError as exc:
            error = f"{type(exc).__name__}: {exc}"
            report(path, error, f"skipped {error}")
            continue
        result = track_result(tagger, path, probs, tl, frames, damage, top_k)
        if damage:
            print(f"warning: {result['warning']}", file=err)
        ok += 1
        if writer:
            writer.writerow([path, result["duration_seconds"],
                             ";".join(f"{t}:{p:.3f}" for t, p in result["tags"].items()), "",
                             result.get("warning", "")])
        else:
            out.write(json.dumps(result) + "\n")
        out.flush()
    report_unmatched(len(files))
    return ok, failed


@program
def main(argv):
    paths = argv[1:]
    if not paths:
        raise app.UsageError("give at least one audio file, folder or glob")
    if not FLAGS.model:
        raise app.UsageError("--model is required")
    from tfmusictag.training.distribute import describe_devices

    say(f"devices: {describe_devices()}")
    out = sys.stdout if FLAGS.output == "-" else open(FLAGS.output, "w", newline="")
    try:  # a model that cannot be loaded is one error line (user_errors); files are reported one by one
        ok, failed = predict_files(paths, FLAGS.model, out, FLAGS.format, FLAGS.top_k, FLAGS.timeline,
                                   stream_above_minutes=FLAGS.stream_above_minutes, damaged=FLAGS.damaged)
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"tagged {ok} tracks, skipped {failed}", file=sys.stderr)
    return 1 if failed else 0


#: Modules Keras imports at start-up only if they are installed (its scikit-learn wrapper, pandas
#: inputs, image-gallery plots): tagging uses none of them, and in an environment that has them
#: (the test extras) they cost 180 MB and 0.9 s before the first track.
OPTIONAL_IMPORTS = ("sklearn", "pandas", "matplotlib")


def low_memory_process(argv) -> None:
    """Settings for tagging fast in bounded memory; called before TensorFlow is imported.

    * oneDNN off, unless ``--onednn`` (or ``TF_ENABLE_ONEDNN_OPTS=1``): with the inference front
      end of :class:`~tfmusictag.reduction.musicnn.MusicnnCNN` (folded filters, temporal filters as
      matrix products) TensorFlow's own kernels are the faster ones on the CPU, and oneDNN's
      allocator keeps a pool of its own (``benchmarks/bench_musicnn.py``). The switch is read here
      because TensorFlow reads the variable when it loads, before flags are parsed.
    * Keras's :data:`OPTIONAL_IMPORTS` are marked absent (``sys.modules[name] = None``: Keras
      then takes the branch it takes where they are not installed).
    """
    if any(a in ("--onednn", "--onednn=true", "--onednn=1") for a in argv):
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    for name in OPTIONAL_IMPORTS:
        sys.modules.setdefault(name, None)


def run(argv=None):
    low_memory_process(sys.argv if argv is None else argv)
    define_flags()
    app.run(main, argv)


if __name__ == "__main__":
    run()
