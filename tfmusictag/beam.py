"""Tagging a catalog with Apache Beam: ``predict``'s tagging as a pipeline any Beam runner executes.

:class:`TagAudioFiles` is a ``PTransform`` from file patterns (local globs or folders, ``gs://``,
``s3://``... — whatever Beam's ``FileSystems`` read) to two outputs: ``tags``, one dict per tagged
track — the same fields and values as ``python -m tfmusictag.predict`` writes — and ``errors``,
one ``{"path", "error"}`` per file that could not be tagged. Files are read and decoded on the
workers; the SavedModel is loaded once per worker (``DoFn.setup``) by
:class:`~tfmusictag.serving.InferenceModel`, which runs long tracks chunk by chunk and combines them as
the model defines (Beam's ``RunInference`` runs one model call per element; a whole track of any
length is several calls whose results must be combined, hence a ``DoFn`` of our own).

:func:`run` builds and runs the whole pipeline (``python -m tfmusictag.predict_beam``): JSON lines
or Parquet out, errors to a separate JSON-lines output. Nothing here schedules work: the runner
(DirectRunner, Flink, Spark, Dataflow) does.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from tfmusictag.audio import AUDIO_EXTENSIONS
from tfmusictag.errors import AudioFileNotFoundError, ParameterError

__all__ = ["TagAudioFiles", "TagFile", "expand_inputs", "run", "counts", "parquet_schema"]

ERRORS = "errors"


def expand_inputs(inputs: Sequence[str]) -> Tuple[List[str], List[Tuple[str, str]]]:
    """File patterns for ``inputs``, and the inputs that matched nothing.

    A folder becomes one pattern per audio extension (recursive, as ``predict`` reads folders); a
    glob or a file stays as it is. Each input is matched at once: one that matches no file is
    returned in ``unmatched`` as ``(input, message)`` — reported like an unreadable file, while the
    others are tagged.

    Raises:
        ParameterError: when no input matches any file (nothing to do).
    """
    patterns, unmatched = [], []
    for item in inputs:
        if os.path.isdir(item):
            new = [os.path.join(item, "**", f"*{ext}") for ext in AUDIO_EXTENSIONS]
            new += [os.path.join(item, f"*{ext}") for ext in AUDIO_EXTENSIONS]
        else:
            new = [item]
        found = [m for r in FileSystems.match(new) for m in r.metadata_list]
        if not found:
            unmatched.append((item, f"--input {item!r} matched no file"))
            continue
        patterns += new
    if not patterns:
        raise ParameterError("; ".join(m for _, m in unmatched))
    return patterns, unmatched


class _Unmatched(beam.DoFn):
    """An input that matched no file → its error record, counted as skipped."""

    def __init__(self):
        self.skipped = beam.metrics.Metrics.counter("tfmusictag", "skipped")

    def process(self, item):
        self.skipped.inc()
        yield {"path": item[0], "decided": None, "tags": {}, "error": f"ParameterError: {item[1]}"}


class TagFile(beam.DoFn):
    """Tags one file per element (its path); the model is loaded once per worker.

    Outputs the track's result dict, or to :data:`ERRORS` ``{"path", "error"}``. A damaged file
    (truncated, or corrupt part-way) is tagged from its decodable audio with a ``warning``, unless
    ``damaged='skip'``, as in ``predict``.
    """

    def __init__(self, model: str, top_k: int = 10, timeline: bool = False, damaged: str = "tag"):
        if damaged not in ("tag", "skip"):
            raise ParameterError(f"damaged={damaged!r} must be 'tag' or 'skip'")
        self.model, self.top_k, self.timeline, self.damaged = model, top_k, timeline, damaged
        self.tagger = None
        self.tagged = beam.metrics.Metrics.counter("tfmusictag", "tagged")
        self.skipped = beam.metrics.Metrics.counter("tfmusictag", "skipped")

    def setup(self):
        import sys

        if "tensorflow" not in sys.modules and os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") >= "1":
            from tfmusictag.errors import captured_stderr

            with captured_stderr():  # TensorFlow's start-up lines, printed before its log level applies
                import tensorflow  # noqa: F401
        from tfmusictag.serving import InferenceModel

        self.tagger = InferenceModel(self.model)

    def process(self, path: str):
        from tfmusictag import audio
        from tfmusictag.tagging import error_record, track_record

        tagger = self.tagger
        try:
            with audio.decoder_notes() as notes:
                try:
                    with FileSystems.open(path) as f:
                        data = f.read()
                except (OSError, IOError) as exc:
                    raise AudioFileNotFoundError(path, f"cannot be read: {exc}") from None
                y, damage = audio.decode(data, path, tagger.sample_rate, damaged="keep")
                del data
                if damage is not None and self.damaged == "skip":
                    raise damage
                probs, tl, frames = tagger.tag_chunks(tagger.log_mel_chunks(lambda: [y]), self.timeline)
        except Exception as exc:  # noqa: BLE001 - one file's failure, whatever it is, is its error record
            self.skipped.inc()
            yield beam.pvalue.TaggedOutput(ERRORS, error_record(path, exc))
            return
        self.tagged.inc()
        yield track_record(tagger, path, probs, tl, frames, [damage] if damage is not None else [], self.top_k,
                           notes=notes)


class TagAudioFiles(beam.PTransform):
    """File patterns → ``{"tags": results, "errors": failures}`` (see the module docstring).

    Example::

        with beam.Pipeline() as p:
            out = p | beam.Create(["music/*.mp3"]) | TagAudioFiles("saved_models/demo_tagger/1")
            out.tags | beam.Map(print)
    """

    def __init__(self, model: str, top_k: int = 10, timeline: bool = False, damaged: str = "tag"):
        super().__init__()
        self.fn = TagFile(model, top_k, timeline, damaged)

    def expand(self, patterns):
        paths = (patterns
                 | "Match" >> fileio.MatchAll()
                 | "Path" >> beam.Map(lambda m: m.path)
                 | "Audio" >> beam.Filter(lambda p: p.lower().endswith(AUDIO_EXTENSIONS))
                 | "Distinct" >> beam.Distinct()  # a file matched by two patterns is tagged once
                 | "Spread" >> beam.Reshuffle())  # tracks go to any worker, not the one that listed them
        return paths | "Tag" >> beam.ParDo(self.fn).with_outputs(ERRORS, main="tags")


def parquet_schema(timeline: bool = False):
    """The Parquet columns of a result: ``path``, ``duration_seconds``, ``decided`` (the decided tags,
    null for a model that decides nothing), ``tags`` (a list of
    ``{tag, probability}``, best first), ``warning``, and ``timeline_json`` with ``timeline``."""
    import pyarrow as pa

    fields = [("path", pa.string()), ("duration_seconds", pa.float64()), ("decided", pa.list_(pa.string())),
              ("tags", pa.list_(pa.struct([("tag", pa.string()), ("probability", pa.float64())]))),
              ("warning", pa.string())]
    if timeline:
        fields.append(("timeline_json", pa.string()))
    return pa.schema(fields)


def _parquet_row(result: dict) -> dict:
    row = {"path": result["path"], "duration_seconds": result["duration_seconds"], "decided": result.get("decided"),
           "tags": [{"tag": t, "probability": p} for t, p in result["tags"].items()],
           "warning": result.get("warning")}
    if "timeline" in result:
        row["timeline_json"] = json.dumps(result["timeline"])
    return row


def run(inputs: Sequence[str], model: str, output: str, fmt: str = "jsonl", top_k: int = 10,
        timeline: bool = False, damaged: str = "tag", beam_args: Optional[Iterable[str]] = None, err=sys.stderr):
    """Tag every audio file of ``inputs`` with ``model``; returns the pipeline's result.

    Writes ``<output>-SSSSS-of-NNNNN.jsonl`` (or ``.parquet``), and ``<output>-errors-...jsonl``
    for the files that could not be tagged and the inputs that matched no file (each also an
    ``error:`` line on ``err``; the other inputs are tagged). ``beam_args``: Beam's pipeline
    options (``--runner=FlinkRunner``, ``--direct_num_workers=2``...).

    Raises:
        ParameterError: a bad ``fmt``, or no input matches any file.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    if fmt not in ("jsonl", "parquet"):
        raise ParameterError(f"format={fmt!r} must be 'jsonl' or 'parquet'")
    patterns, unmatched = expand_inputs(inputs)
    for _, message in unmatched:
        print(f"error: {message}", file=err)
    options = PipelineOptions(list(beam_args or []))
    pipeline = beam.Pipeline(options=options)
    out = (pipeline
           | "Inputs" >> beam.Create(patterns)
           | "TagAudioFiles" >> TagAudioFiles(model, top_k, timeline, damaged))
    if fmt == "jsonl":
        _ = out.tags | "Json" >> beam.Map(json.dumps) | "Write" >> beam.io.WriteToText(output, file_name_suffix=".jsonl")
    else:
        _ = (out.tags | "Rows" >> beam.Map(_parquet_row)
             | "Write" >> beam.io.WriteToParquet(output, parquet_schema(timeline), file_name_suffix=".parquet"))
    unmatched_errors = pipeline | "Unmatched" >> beam.Create(unmatched) | "UnmatchedErrors" >> beam.ParDo(_Unmatched())
    _ = ((out[ERRORS], unmatched_errors) | "AllErrors" >> beam.Flatten() | "ErrorJson" >> beam.Map(json.dumps)
         | "WriteErrors" >> beam.io.WriteToText(f"{output}-errors", file_name_suffix=".jsonl"))
    result = pipeline.run()
    result.wait_until_finish()
    return result


def counts(result) -> dict:
    """``{"tagged": n, "skipped": m}`` of a finished :func:`run`, from Beam's metrics (a counter
    never incremented is not reported: 0)."""
    out = {}
    for name in ("tagged", "skipped"):
        found = result.metrics().query(beam.metrics.MetricsFilter().with_name(name))["counters"]
        out[name] = sum(c.committed or 0 for c in found)
    return out
