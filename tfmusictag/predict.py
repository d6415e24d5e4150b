"""``python -m tfmusictag.predict PATH...``: tag audio files, folders or globs.

Prints one result per track (JSON lines, or CSV with ``--format=csv``) as soon as it is tagged.
Files are decoded on all cores inside ``tf.data`` while the model tags the previous ones; only a
few tracks are in memory at once, whatever the size of the catalog. Files longer than
``--stream_above_minutes`` (20) are decoded and turned into features block by block
(:func:`tfmusictag.features.streaming_log_mel`), same result, bounded memory. A file that cannot be read
is reported (stderr, and a line with an ``error`` field) and skipped; the others are tagged.
The exit status is 0 when every file was tagged, 1 when some were skipped.

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

FLAGS = flags.FLAGS


def define_flags():
    """Command-line flags (defined only when run as a program, so importing stays side-effect free)."""
    flags.DEFINE_string("model", None, "SavedModel version folder, a training run's directory, or a pretrained "
                        "model name (MTT_musicnn, MTT_vgg, MSD_musicnn, MSD_vgg, choi2016_cnn, choi2016_crnn).")
    flags.DEFINE_enum("format", "jsonl", ["jsonl", "csv"], "Output format.")
    flags.DEFINE_integer("top_k", 10, "Tags per track (0: all tags).")
    flags.DEFINE_bool("timeline", False, "Also output the tags of every segment (29.12 s; 3 s for musicnn models).")
    flags.DEFINE_string("output", "-", "Output file ('-': stdout).")
    flags.DEFINE_float("stream_above_minutes", 20.0, "Decode longer files block by block (bounded memory).")


class Tagger:
    """Uniform access to an exported SavedModel or a trained Keras model, in two steps:
    ``log_mel(waveform)`` (the model's own front end) and ``tag(log_mel)``."""

    def __init__(self, path: str):
        import tensorflow as tf

        from tfmusictag.features import get_front_end
        from tfmusictag.pretrained import model_path

        path = model_path(path)  # a pretrained model's name → its converted model directory
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            loaded = tf.saved_model.load(path)
            with open(os.path.join(path, "assets", "tfmusictag.json")) as f:
                info = json.load(f)
            with open(os.path.join(path, "assets", "tags.txt")) as f:
                self.tags = [t for t in f.read().splitlines() if t]
            self._loaded = loaded
            self.front_end = get_front_end(info["model"]["front_end"])
            sig = loaded.signatures
            self.log_mel = lambda w: sig["front_end"](waveform=tf.constant(w))["log_mel"].numpy()
            self._tags = lambda x, n: sig["tags_from_log_mel"](log_mel=x, num_frames=n)
            self._timeline = lambda x, n: sig["timeline_from_log_mel"](log_mel=x, num_frames=n)
        else:
            from tfmusictag.training import load_trained

            model = load_trained(path)
            self.tags, self.front_end = list(model.tags), model.front_end.front_end
            seconds = model.segmenter.segment_frames * self.front_end.hop_length / self.front_end.sample_rate
            # One trace for all lengths (like the SavedModel's signatures); the model's code
            # uses explicit tf.cond/while_loop, so autograph's source conversion (seconds) is skipped.
            wave = [tf.TensorSpec([None, None], tf.float32)]
            spec = [tf.TensorSpec([None, None, self.front_end.n_mels], tf.float32), tf.TensorSpec([None], tf.int32)]
            front = tf.function(model.front_end, input_signature=wave, autograph=False)
            probs = tf.function(lambda x, n: model({"log_mel": x, "num_frames": n}, training=False),
                                input_signature=spec, autograph=False)
            analyze = tf.function(lambda x, n: model.analyze({"log_mel": x, "num_frames": n}),
                                  input_signature=spec, autograph=False)

            def timeline(x, n):
                out = analyze(x, n)
                starts = tf.cast(tf.range(tf.shape(out["segment_tags"])[1]), tf.float32) * seconds
                return {"probabilities": out["tags"], "segment_probabilities": out["segment_tags"],
                        "segment_start_seconds": starts, "segment_mask": out["segment_mask"]}

            self.log_mel = lambda w: front(tf.constant(w)).numpy()
            self._tags = lambda x, n: {"probabilities": probs(x, n)}
            self._timeline = timeline
        self.sample_rate = self.front_end.sample_rate

    def streamable(self) -> bool:
        return self.front_end.center and not (self.front_end.compression == "db" and self.front_end.top_db)

    def stream_log_mel(self, path, chunk_frames=4096):
        """Log-mel of a file of any length, decoded and computed piecewise (bounded memory)."""
        from tfmusictag import audio
        from tfmusictag.features import streaming_log_mel

        expected = self.front_end.num_frames(int(audio.info(path).duration * self.sample_rate))
        return streaming_log_mel(audio.stream(path, self.sample_rate), self.log_mel, self.front_end, chunk_frames,
                                 expected_frames=expected)

    def tag(self, log_mel, timeline=False):
        """``(probabilities (L,), timeline dict or None)`` of one track's log-mel ``(frames, n_mels)``
        (a tensor or an array)."""
        import tensorflow as tf

        x = tf.convert_to_tensor(log_mel)[None]
        n = tf.shape(x)[1:2]
        if timeline:
            out = self._timeline(x, n)
            return out["probabilities"][0].numpy(), out
        return self._tags(x, n)["probabilities"][0].numpy(), None


def _top(tags, probs, k):
    order = probs.argsort()[::-1][: (k or len(tags))]
    return {tags[i]: round(float(probs[i]), 4) for i in order}


def predict_files(paths, model_path, out, fmt="jsonl", top_k=10, timeline=False, err=sys.stderr,
                  stream_above_minutes=20.0):
    """Tag every audio file under ``paths``; write results to ``out``. Returns (tagged, failed).

    Files up to ``stream_above_minutes`` are decoded whole, several at once on all cores, ahead of
    the model; longer ones are decoded and turned into features block by block, so memory stays
    bounded whatever the length (the output is the same either way).
    """
    import tensorflow as tf

    from tfmusictag import audio
    from tfmusictag.errors import AudioFileError

    tagger = Tagger(model_path)
    files = list(audio.iter_audio_files(paths))
    stream = {}
    for f in files:
        try:
            stream[f] = tagger.streamable() and audio.info(f).duration > 60 * stream_above_minutes
        except AudioFileError:
            stream[f] = False  # the decoder reports the error in order
    writer = csv.writer(out) if fmt == "csv" else None
    if writer:
        writer.writerow(["path", "duration_seconds", "tags", "error"])
    whole = iter(audio.audio_dataset([f for f in files if not stream[f]], tagger.sample_rate)
                 .prefetch(1).as_numpy_iterator())
    ok = failed = 0
    for path in files:
        try:
            if stream[path]:
                log_mel = tagger.stream_log_mel(path)
            else:
                item = next(whole)
                audio.raise_for_error(item["error"])
                log_mel = tagger.log_mel(item["audio"][None])[0]
        except AudioFileError as exc:
            failed += 1
            error = f"{type(exc).__name__}: {exc}"
            print(f"skipped {error}", file=err)
            if writer:
                writer.writerow([path, "", "", error])
            else:
                out.write(json.dumps({"path": path, "error": error}) + "\n")
            out.flush()
            continue
        duration = (log_mel.shape[0] - 1) * tagger.front_end.hop_length / tagger.sample_rate
        log_mel = tf.convert_to_tensor(log_mel)  # the array is freed: one copy of the features at a time
        probs, tl = tagger.tag(log_mel, timeline)
        result = {"path": path, "duration_seconds": round(duration, 2), "tags": _top(tagger.tags, probs, top_k)}
        if timeline:
            seg, mask = tl["segment_probabilities"][0].numpy(), tl["segment_mask"][0].numpy()
            starts = tl["segment_start_seconds"].numpy()
            result["timeline"] = [{"start_seconds": round(float(starts[s]), 2), "tags": _top(tagger.tags, seg[s], top_k)}
                                  for s in range(len(mask)) if mask[s]]
        ok += 1
        if writer:
            writer.writerow([path, result["duration_seconds"],
                             ";".join(f"{t}:{p:.3f}" for t, p in result["tags"].items()), ""])
        else:
            out.write(json.dumps(result) + "\n")
        out.flush()
    return ok, failed


def main(argv):
    paths = argv[1:]
    if not paths:
        raise app.UsageError("give at least one audio file, folder or glob")
    if not FLAGS.model:
        raise app.UsageError("--model is required")
    out = sys.stdout if FLAGS.output == "-" else open(FLAGS.output, "w", newline="")
    from tfmusictag.errors import ParameterError

    try:
        ok, failed = predict_files(paths, FLAGS.model, out, FLAGS.format, FLAGS.top_k, FLAGS.timeline,
                                   stream_above_minutes=FLAGS.stream_above_minutes)
    except (ParameterError, FileNotFoundError) as exc:  # the model cannot be loaded; files are reported one by one
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"tagged {ok} tracks, skipped {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
