"""``python -m tfmusictag.predict PATH...``: tag audio files, folders or globs.

Prints one result per track (JSON lines, or CSV with ``--format=csv``) as soon as it is tagged.
Files are decoded on all cores inside ``tf.data`` while the model tags the previous ones; only a
few tracks are in memory at once, whatever the size of the catalog. A file that cannot be read
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
    flags.DEFINE_string("model", None, "SavedModel version folder, or a training run's directory.")
    flags.DEFINE_enum("format", "jsonl", ["jsonl", "csv"], "Output format.")
    flags.DEFINE_integer("top_k", 10, "Tags per track (0: all tags).")
    flags.DEFINE_bool("timeline", False, "Also output the tags of every 29.12 s segment.")
    flags.DEFINE_string("output", "-", "Output file ('-': stdout).")


class Tagger:
    """Uniform access to an exported SavedModel or a trained Keras model."""

    def __init__(self, path: str):
        import tensorflow as tf

        if os.path.exists(os.path.join(path, "saved_model.pb")):
            loaded = tf.saved_model.load(path)
            with open(os.path.join(path, "assets", "tfmusictag.json")) as f:
                info = json.load(f)
            with open(os.path.join(path, "assets", "tags.txt")) as f:
                self.tags = [t for t in f.read().splitlines() if t]
            self.sample_rate = int(info["sample_rate"])
            self._loaded = loaded
            self._probs = lambda w: loaded.signatures["serving_default"](waveform=w)["probabilities"]
            self._timeline = lambda w: loaded.signatures["timeline"](waveform=w)
        else:
            from tfmusictag.training import load_trained

            model = load_trained(path)
            self.tags, self.sample_rate = list(model.tags), model.sample_rate
            seconds = model.segmenter.segment_frames * model.front_end.front_end.hop_length / model.sample_rate
            probs = tf.function(lambda w: model(w, training=False), reduce_retracing=True)
            analyze = tf.function(model.analyze, reduce_retracing=True)

            def timeline(w):
                out = analyze(w)
                starts = tf.cast(tf.range(tf.shape(out["segment_tags"])[1]), tf.float32) * seconds
                return {"segment_probabilities": out["segment_tags"], "segment_start_seconds": starts,
                        "segment_mask": out["segment_mask"]}

            self._probs, self._timeline = probs, timeline

    def tag(self, waveform, timeline=False):
        w = waveform[None]
        if timeline:
            out = self._timeline(w)
            return None, out
        return self._probs(w)[0].numpy(), None


def _top(tags, probs, k):
    order = probs.argsort()[::-1][: (k or len(tags))]
    return {tags[i]: round(float(probs[i]), 4) for i in order}


def predict_files(paths, model_path, out, fmt="jsonl", top_k=10, timeline=False, err=sys.stderr):
    """Tag every audio file under ``paths``; write results to ``out``. Returns (tagged, failed)."""
    from tfmusictag import audio

    tagger = Tagger(model_path)
    files = list(audio.iter_audio_files(paths))
    writer = csv.writer(out) if fmt == "csv" else None
    if writer:
        writer.writerow(["path", "duration_seconds", "tags", "error"])
    ok = failed = 0
    ds = audio.audio_dataset(files, tagger.sample_rate).prefetch(1)
    for item in ds.as_numpy_iterator():
        path, error = item["path"].decode(), item["error"].decode()
        if error:
            failed += 1
            print(f"skipped {error}", file=err)
            row = {"path": path, "error": error}
            if writer:
                writer.writerow([path, "", "", error])
            else:
                out.write(json.dumps(row) + "\n")
            out.flush()
            continue
        y = item["audio"]
        result = {"path": path, "duration_seconds": round(len(y) / tagger.sample_rate, 2)}
        if timeline:
            _, tl = tagger.tag(y, timeline=True)
            seg = tl["segment_probabilities"][0].numpy()
            mask = tl["segment_mask"][0].numpy()
            starts = tl["segment_start_seconds"].numpy()
            # the whole-track tags come from the same model; compute them too
            probs, _ = tagger.tag(y)
            result["tags"] = _top(tagger.tags, probs, top_k)
            result["timeline"] = [{"start_seconds": round(float(starts[s]), 2), "tags": _top(tagger.tags, seg[s], top_k)}
                                  for s in range(len(mask)) if mask[s]]
        else:
            probs, _ = tagger.tag(y)
            result["tags"] = _top(tagger.tags, probs, top_k)
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
    try:
        ok, failed = predict_files(paths, FLAGS.model, out, FLAGS.format, FLAGS.top_k, FLAGS.timeline)
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"tagged {ok} tracks, skipped {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
