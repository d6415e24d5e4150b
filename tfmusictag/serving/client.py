"""The model behind ``predict``: :class:`InferenceModel`, one interface over the three forms a
model comes in — an exported SavedModel (nothing but TensorFlow runs it, as in TF Serving), a
training run's directory, or a pretrained name — tagging tracks of any length chunk by chunk."""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from tfmusictag import audio
from tfmusictag.calibration import calibrate
from tfmusictag.errors import CorruptAudioFileError, ParameterError, TruncatedAudioFileError
from tfmusictag.frontend import CHUNK_FRAMES, LogMelSpectrogram, get_front_end, iter_log_mel
from tfmusictag.pretrained import load_model, model_path
from tfmusictag.serving.assets import read_assets
from tfmusictag.tagger import combine_partials
from tfmusictag.temporal import combine_chunks
from tfmusictag.thresholds import decide_tags, describe_decision

__all__ = ["InferenceModel"]


@dataclasses.dataclass(frozen=True)
class Chunking:
    """How a model's outputs over chunks of whole segments combine into a track's (a model that
    tags a track whole, such as the LSTM variants, has none): the rule
    (:data:`tfmusictag.temporal.CHUNK_COMBINES`), whether tags rather than embeddings combine
    (``late_fusion``), the segment length in frames, and whether an incomplete last segment is
    dropped (``tail``)."""

    combine: str
    late_fusion: bool
    segment_frames: int
    tail: str


class _SavedModelForm:
    """An exported SavedModel version folder: its signatures run the model (TensorFlow alone)."""

    def __init__(self, path: str):
        self.tags, info = read_assets(path)
        self.loaded = tf.saved_model.load(path)  # holds the signatures' functions
        self.config = info["model"]
        self.fitted = (info.get("run") or {}).get("thresholds")
        self.segment_seconds = float(info["segment_seconds"])
        self.front_end = get_front_end(self.config["front_end"])
        self._sig = self.loaded.signatures
        self.chunking = None
        if "partial_from_log_mel" in self._sig and info.get("chunk_combine"):
            self.chunking = Chunking(info["chunk_combine"], bool(info["late_fusion"]), int(info["segment_frames"]),
                                     self.config["segments"]["tail"])

    def log_mel(self, waveform):
        return self._sig["front_end"](waveform=tf.constant(waveform))["log_mel"].numpy()

    def tags_of(self, x, n):
        return self._sig["tags_from_log_mel"](log_mel=x, num_frames=n)

    def timeline_of(self, x, n):
        return self._sig["timeline_from_log_mel"](log_mel=x, num_frames=n)

    def partial(self, x, n):
        return self._sig["partial_from_log_mel"](log_mel=x, num_frames=n)

    def from_embedding(self, embedding):
        return self._sig["tags_from_embedding"](embedding=embedding)["probabilities"]


class _KerasForm:
    """A training run's directory or a converted pretrained model: the Keras model, its calls
    traced once for every input length (like the SavedModel's signatures). The model's code uses
    explicit ``tf.cond``/``while_loop``, so autograph's source conversion (seconds) is skipped."""

    def __init__(self, path: str):
        model = self.model = load_model(path)
        self.tags, self.front_end = list(model.tags), model.front_end_config
        self.config = model.tagger_config.to_dict()
        self.fitted = _run_thresholds(path)
        self.seconds_per_frame = self.front_end.hop_length / self.front_end.sample_rate
        self.segment_seconds = model.segmenter.segment_frames * self.seconds_per_frame
        wave = [tf.TensorSpec([None, None], tf.float32)]
        spec = [tf.TensorSpec([None, None, self.front_end.n_mels], tf.float32), tf.TensorSpec([None], tf.int32)]
        self._front = tf.function(model.front_end, input_signature=wave, autograph=False)
        self._probs = tf.function(lambda x, n: model({"log_mel": x, "num_frames": n}, training=False),
                                  input_signature=spec, autograph=False)
        self._analyze = tf.function(lambda x, n: model.analyze({"log_mel": x, "num_frames": n}),
                                    input_signature=spec, autograph=False)
        self._partial = self._from_embedding = self.chunking = None
        if model.chunk_combine:
            self._partial = tf.function(lambda x, n: model.partial({"log_mel": x, "num_frames": n}),
                                        input_signature=spec, autograph=False)
            self._from_embedding = tf.function(
                model.tags_from_embedding, autograph=False,
                input_signature=[tf.TensorSpec([None, model.embedding_dim], tf.float32)])
            self.chunking = Chunking(model.chunk_combine, bool(model.temporal.late_fusion),
                                     int(model.segmenter.segment_frames), model.segmenter.tail)

    def log_mel(self, waveform):
        return self._front(tf.constant(waveform)).numpy()

    def tags_of(self, x, n):
        return {"probabilities": self._probs(x, n)}

    def timeline_of(self, x, n):
        out = self._analyze(x, n)
        starts = self.model.segmenter.start_seconds(tf.shape(out["segment_tags"])[1], self.seconds_per_frame)
        return {"probabilities": out["tags"], "segment_probabilities": out["segment_tags"],
                "segment_start_seconds": starts, "segment_mask": out["segment_mask"],
                "embedding": out["embedding"], "weight": out["weight"]}

    def partial(self, x, n):
        return self._partial(x, n)

    def from_embedding(self, embedding):
        return self._from_embedding(embedding)


class InferenceModel:
    """A model loaded for tagging — an exported SavedModel (TensorFlow alone runs it), a training
    run's directory or a pretrained name — behind one interface, in two steps: ``log_mel(waveform)``
    (the model's own front end) and ``tag(log_mel)``. (:class:`~tfmusictag.tagger.TrackTagger` is
    the Keras model itself; this wraps whichever form was given.)"""

    #: Frames per chunk aimed at when a track is tagged chunk by chunk (rounded down to whole
    #: segments, at least one): :data:`tfmusictag.frontend.CHUNK_FRAMES`.
    CHUNK_FRAMES = CHUNK_FRAMES

    def __init__(self, path: str):
        path = model_path(path)  # a pretrained model's name → its converted model directory
        #: the model's folder (a SavedModel version folder, a run directory or a converted pretrained model)
        self.path = path
        saved = os.path.exists(os.path.join(path, "saved_model.pb"))
        self._form = form = _SavedModelForm(path) if saved else _KerasForm(path)
        #: the model's tags, in output order
        self.tags = form.tags
        #: its front end (:class:`~tfmusictag.frontend.FrontEndConfig`)
        self.front_end = form.front_end
        self.sample_rate = self.front_end.sample_rate
        #: a segment's length in seconds (29.12 for the thesis's models, 3 for musicnn's)
        self.segment_seconds = form.segment_seconds
        chunking = form.chunking
        #: how the chunks' outputs combine (:class:`Chunking`), or ``None``: the model tags a track whole
        self.chunking = chunking
        #: frames per chunk of :meth:`tag_chunks` (whole segments), or ``None``: the whole track at once
        self.chunk_frames = (None if chunking is None
                             else max(1, self.CHUNK_FRAMES // chunking.segment_frames) * chunking.segment_frames)
        config, fitted = form.config, form.fitted
        thresholds = config.get("thresholds") or None
        #: the model's decision threshold per tag (:mod:`tfmusictag.thresholds`), on the calibrated
        #: probabilities, or ``None``
        self.thresholds = None if thresholds is None else np.asarray(thresholds, np.float64)
        #: the Platt map ``[a, b]`` of every tag (:mod:`tfmusictag.calibration`), or ``None``
        self.calibration = np.asarray(config["calibration"], np.float64) if config.get("calibration") else None
        #: how the model decides its tags (:data:`tfmusictag.tagger.DECISIONS`)
        self.decision = config.get("decision", "thresholds")
        #: one line saying how the tags are decided (:func:`tfmusictag.thresholds.describe_decision`)
        self.decided_by = describe_decision(self.decision, thresholds, fitted)
        #: whether the model decides tags by its own rule (else: probabilities only)
        self.decides = self.decision == "expected_f1" or self.thresholds is not None

    def log_mel(self, waveform):
        """The model's front end: log-mel ``(batch, frames, n_mels)`` of ``waveform`` ``(batch, samples)``."""
        return self._form.log_mel(waveform)

    def decide(self, probabilities, threshold=None):
        """The decided tags (bool ``(..., L)``) of calibrated ``probabilities`` by the model's rule,
        or by one ``threshold`` for every tag; ``None`` for a model that decides nothing."""
        return decide_tags(probabilities, self.decision, self.thresholds, threshold)

    def _calibrated(self, probabilities, tl=None):
        """``probabilities`` (and a timeline's segment probabilities) mapped by the model's calibration."""
        if self.calibration is None:
            return probabilities, tl
        probs = calibrate(probabilities, self.calibration).astype(np.float32)
        if tl is not None:
            tl = {**tl, "probabilities": probs[None],
                  "segment_probabilities": calibrate(np.asarray(tl["segment_probabilities"]),
                                                     self.calibration).astype(np.float32)}
        return probs, tl

    def tag_chunks(self, chunks, timeline=False, embedding=False):
        """Tag one track given as consecutive log-mel chunks (:func:`tfmusictag.frontend.iter_log_mel`
        with ``chunk_frames=self.chunk_frames``). Returns ``(probabilities (L,), timeline dict or
        None, frames)``; the result equals :meth:`tag` on the whole spectrogram. With ``embedding``
        a fourth item: the track's embedding (its chunks' embeddings combined by the model's rule,
        for late-fusion models too), or ``None`` for a model that tags the track whole.

        With a model whose chunks combine (:attr:`chunk_frames` set), only one chunk's features and
        activations are in memory at a time, whatever the track's length; otherwise the chunks are
        joined and the track is tagged whole.
        """
        if not self.chunk_frames:
            log_mel = np.concatenate(list(chunks))
            probs, tl = self.tag(log_mel, timeline)  # calibrated
            return (probs, tl, len(log_mel)) + ((None,) if embedding else ())
        partials, parts, frames = [], [], 0
        seconds_per_frame = self.front_end.hop_length / self.sample_rate
        for chunk in chunks:
            if self.chunking.tail == "drop" and frames and len(chunk) < self.chunking.segment_frames:
                frames += len(chunk)  # an incomplete tail the whole track drops too (a short track keeps it)
                continue
            x = tf.convert_to_tensor(chunk)[None]
            n = tf.shape(x)[1:2]
            if timeline:  # one pass gives the chunk's timeline and its partial
                out = self._form.timeline_of(x, n)
                parts.append((out["segment_probabilities"][0].numpy(), out["segment_mask"][0].numpy(),
                              out["segment_start_seconds"].numpy() + frames * seconds_per_frame))
                partial = ({"embedding": out["embedding"], "tags": out["probabilities"], "weight": out["weight"]}
                           if "weight" in out else self._form.partial(x, n))  # a SavedModel without them: two passes
            else:
                partial = self._form.partial(x, n)
            partials.append({k: v[0].numpy() for k, v in partial.items()})
            frames += len(chunk)
        combined, probs = combine_partials(partials, self.chunking.combine, self.chunking.late_fusion)
        if probs is None:
            probs = np.asarray(self._form.from_embedding(tf.constant(combined[None], tf.float32)))[0]
        tl = None
        if timeline:
            tl = {"probabilities": probs[None], "segment_probabilities": np.concatenate([p[0] for p in parts])[None],
                  "segment_mask": np.concatenate([p[1] for p in parts])[None],
                  "segment_start_seconds": np.concatenate([p[2] for p in parts])}
        probs, tl = self._calibrated(np.asarray(probs), tl)
        if not embedding:
            return probs, tl, frames
        if combined is None:  # a late-fusion model combined its chunks' tags: combine their embeddings too
            kept = [p for p in partials if float(p["weight"]) > 0] or partials
            combined = combine_chunks(self.chunking.combine, np.stack([p["embedding"] for p in kept]),
                                      [float(p["weight"]) for p in kept])
        return probs, tl, frames, np.asarray(combined, np.float32)

    def log_mel_chunks(self, make_blocks):
        """Log-mel chunks of a track, sized for :meth:`tag_chunks`.

        ``make_blocks``: a callable returning the track's waveform blocks (a list, or a fresh
        :meth:`stream_blocks`). The front end runs on windows of ``CHUNK_FRAMES`` frames, so its activations stay
        small, and the model gets chunks of :attr:`chunk_frames`. A dB front end with ``top_db``
        (Choi's) keeps each track's values within ``top_db`` of *its* loudest frame: a first pass
        finds that peak, a second computes the clipped chunks — the same values as one call on the
        whole track, in bounded memory.
        """
        fe = self.front_end
        if not fe.center:  # frames that cannot be computed piecewise: the whole track in one call
            whole = np.concatenate([np.asarray(b, np.float32) for b in make_blocks()])
            frames = iter([self.log_mel(whole[None])[0]])
        elif fe.compression == "db" and fe.top_db is not None:
            frames = self._db_chunks(make_blocks)
        else:
            frames = iter_log_mel(make_blocks(), self.log_mel, fe, CHUNK_FRAMES)
        return _rechunk(frames, self.chunk_frames) if self.chunk_frames else frames

    def _db_chunks(self, make_blocks):
        fe = self.front_end
        layer = LogMelSpectrogram(dataclasses.replace(fe, top_db=None))  # the same dB values, unclipped
        unclipped = lambda w: layer(tf.constant(w)).numpy()  # noqa: E731
        peak = -np.inf
        for chunk in iter_log_mel(make_blocks(), unclipped, layer.config, CHUNK_FRAMES):
            peak = max(peak, float(chunk.max()))
        for chunk in iter_log_mel(make_blocks(), unclipped, layer.config, CHUNK_FRAMES):
            yield np.maximum(chunk, peak - fe.top_db)

    def streamable(self) -> bool:
        """Whether a long file can be decoded block by block (centred frames: any tfmusictag front end)."""
        return self.front_end.center

    def stream_blocks(self, path, damage=None):
        """Waveform blocks of a file at the model's rate, decoded as they are consumed.

        ``damage``: a list to keep a damaged file's error in, so that the audio decoded up to the
        damage is tagged; without it the error is raised."""
        blocks = audio.stream(path, self.sample_rate)
        return blocks if damage is None else _until_damage(blocks, damage)

    def warm_up(self, timeline=False) -> None:
        """Run the front end and the model once on a second of silence, so that TensorFlow's
        one-off work — tracing the model's functions, Grappler's graph rewrites, the kernels'
        set-up, about a second in all — is done before the first track. :func:`tfmusictag.tagging.tag_files`
        runs it in a thread while the first tracks are being decoded (decoding needs no
        TensorFlow, so the two overlap). Any error is left for the first real track to raise."""
        try:
            silence = np.zeros((1, self.sample_rate), np.float32)
            chunks = self.log_mel_chunks(lambda: [silence[0]])
            if self.chunk_frames:
                self.tag_chunks(chunks, timeline)
            else:
                self.tag(next(iter(chunks)), timeline)
        except Exception:  # noqa: BLE001 - the first track reports it, in its place
            pass

    def tag(self, log_mel, timeline=False):
        """``(probabilities (L,), timeline dict or None)`` of one track's log-mel ``(frames, n_mels)``
        (a tensor or an array); the probabilities (and the timeline's) are calibrated."""
        x = tf.convert_to_tensor(log_mel)[None]
        n = tf.shape(x)[1:2]
        if timeline:
            out = {k: v.numpy() for k, v in self._form.timeline_of(x, n).items()}
            return self._calibrated(out["probabilities"][0], out)
        return self._calibrated(self._form.tags_of(x, n)["probabilities"][0].numpy())


def _run_thresholds(path: str):
    """Where a run directory's thresholds were fitted (its ``thresholds.json``), or ``None``."""
    from tfmusictag.rundir import RunDir

    run = RunDir(path)
    try:
        return run.read_thresholds() if os.path.exists(run.file("thresholds.json")) else None
    except ParameterError:
        return None


def _until_damage(blocks, damage: list):
    """``blocks`` until a damaged file's error, which is appended to ``damage`` instead of raised."""
    try:
        yield from blocks
    except (TruncatedAudioFileError, CorruptAudioFileError) as exc:
        damage.append(exc)


def _rechunk(chunks, size: int):
    """Consecutive arrays regrouped into arrays of ``size`` rows (the last may be shorter)."""
    pending, have = [], 0
    for chunk in chunks:
        pending.append(chunk)
        have += len(chunk)
        while have >= size:
            joined = np.concatenate(pending)
            yield joined[:size]
            rest = joined[size:]
            pending, have = ([rest] if len(rest) else []), len(rest)
    if have:
        yield np.concatenate(pending)
