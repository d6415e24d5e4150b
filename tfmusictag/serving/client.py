"""Serving: a trained model as a SavedModel for TF Serving, and the model behind ``predict``.

:func:`export_saved_model` (``python -m tfmusictag.export``) writes a SavedModel; :class:`InferenceModel`
gives ``predict`` one interface over an exported SavedModel (nothing but TensorFlow runs it), a run
directory or a pretrained model.

Written to ``<base_dir>/<name>/<version>/`` (TF Serving's layout), atomically: the model is
saved to a hidden temporary folder beside the target and renamed into place, so a killed
export never leaves a half-written version (TF Serving only loads folders named by an integer).

Signatures (input ``waveform``: float32 ``[batch, samples]``, mono at the model's sample rate,
every row a whole track of any length — usually one track per request):

* ``serving_default`` → ``probabilities`` ``[batch, L]``
* ``top_k`` → ``tags`` (string) and ``scores`` ``[batch, k]`` (``k`` fixed at export, default 10)
* ``timeline`` → ``segment_probabilities`` ``[batch, S, L]``, ``segment_start_seconds`` ``[S]``,
  ``segment_mask`` ``[batch, S]`` (each 29.12 s segment tagged on its own)
* ``decided`` (a model that decides: fitted thresholds, or the expected-F1 rule of a pretrained
  model) → ``decided`` (bool) and ``probabilities`` ``[batch, L]`` (and ``thresholds``, where the
  model has them): the tags the model decides for, as ``predict`` lists them

These answering signatures give *calibrated* probabilities (the model's Platt maps,
:mod:`tfmusictag.calibration`); the building blocks below give the network's own, and
``calibrate`` (input ``probabilities`` ``[batch, L]``) maps a client's combined result:

* ``embedding`` → ``embedding`` ``[batch, Z]`` (the track feature ``f``)
* ``front_end`` → ``log_mel`` ``[batch, frames, n_mels]``; ``tags_from_log_mel`` and
  ``timeline_from_log_mel`` (inputs ``log_mel``, ``num_frames``): the same model in two steps,
  for clients that compute the front end piecewise (hour-long tracks) or cache it
* ``partial_from_log_mel`` → ``embedding``, ``tags``, ``weight`` of a chunk of whole segments, and
  ``tags_from_embedding`` (the classifier): a track of any length tagged chunk by chunk, in
  bounded memory (``tfmusictag.json`` says how chunks combine: ``chunk_combine``, ``late_fusion``);
  ``timeline_from_log_mel`` returns a chunk's ``embedding`` and ``weight`` too, so a client that
  wants the timeline of a long track runs the network once per chunk

Assets: ``tags.txt`` (one tag per line, output order) and ``tfmusictag.json`` (model config,
sample rate, segment length). Loading needs TensorFlow only.

Example::

    python -m tfmusictag.export --model_dir=runs/bof --name=demo_tagger
"""

import dataclasses
import json
import os
import tempfile
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from tfmusictag import audio
from tfmusictag.calibration import calibrate, calibrate_tensor
from tfmusictag.errors import CorruptAudioFileError, ParameterError, TruncatedAudioFileError
from tfmusictag.frontend import CHUNK_FRAMES, LogMelSpectrogram, get_front_end, iter_log_mel
from tfmusictag.pretrained import load_model, model_path
from tfmusictag.tagger import combine_partials
from tfmusictag.temporal import combine_chunks
from tfmusictag.thresholds import decide_expected_f1_tensor, decide_tags, describe_decision

__all__ = ["export_saved_model", "next_version", "InferenceModel"]


def next_version(model_base: str) -> int:
    versions = [int(d) for d in os.listdir(model_base) if d.isdigit()] if os.path.isdir(model_base) else []
    return max(versions, default=0) + 1


#: The SavedModel's description of itself (``assets/tfmusictag.json``), written by
#: :func:`write_assets` and read by :func:`read_assets` alone: the fields every client may rely on.
ASSET_FIELDS = ("model", "name", "sample_rate", "segment_seconds", "segment_frames", "top_k", "chunk_combine",
                "late_fusion", "run")


def write_assets(folder: str, model, top_k: int, run: Optional[dict] = None) -> Tuple[str, str]:
    """Write ``tags.txt`` and ``tfmusictag.json`` into ``folder``; returns their paths.

    ``tfmusictag.json`` holds the model's config (its decision thresholds included), its name,
    sample rate, segment length, the ``k`` of ``top_k``, how chunks of whole segments combine
    (``chunk_combine``: :data:`tfmusictag.temporal.CHUNK_COMBINES`; ``late_fusion``: whether the
    tags or the embedding combine) and, for a trained model, ``run``: its training config, final
    metrics and where its thresholds came from (:meth:`tfmusictag.rundir.RunDir.summary`).
    """
    seg = model.segmenter
    seconds_per_frame = model.front_end_config.hop_length / model.sample_rate
    info = {"model": model.tagger_config.to_dict(), "name": model.name, "sample_rate": model.sample_rate,
            "segment_seconds": seg.segment_frames * seconds_per_frame, "segment_frames": seg.segment_frames,
            "top_k": int(top_k), "chunk_combine": model.chunk_combine, "late_fusion": bool(model.temporal.late_fusion),
            "run": run or None}
    tags_file, info_file = os.path.join(folder, "tags.txt"), os.path.join(folder, "tfmusictag.json")
    with open(tags_file, "w") as f:
        f.write("\n".join(model.tags) + "\n")
    with open(info_file, "w") as f:
        json.dump(info, f, indent=2)
    return tags_file, info_file


def read_assets(path: str) -> Tuple[list, dict]:
    """``(tags, info)`` of an exported SavedModel version folder (see :func:`write_assets`)."""
    assets = os.path.join(path, "assets")
    try:
        with open(os.path.join(assets, "tags.txt")) as f:
            tags = [t for t in f.read().splitlines() if t]
        with open(os.path.join(assets, "tfmusictag.json")) as f:
            info = json.load(f)
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{path} is not a tfmusictag SavedModel (its assets: {exc})") from None
    missing = [k for k in ASSET_FIELDS if k not in info and k != "run"]
    if missing:
        raise ParameterError(f"{path}: assets/tfmusictag.json lacks {missing}; export the model again")
    return tags, info


def export_saved_model(model, base_dir: str, name: str, version: int = None, top_k: int = 10,
                       run: Optional[dict] = None) -> str:
    """Export a :class:`~tfmusictag.tagger.TrackTagger`; returns the version directory.

    ``run``: what the model's training run says of it (:meth:`tfmusictag.rundir.RunDir.summary`:
    its config, metrics and thresholds' origin), kept in the assets.
    """
    model_base = os.path.join(base_dir, name)
    os.makedirs(model_base, exist_ok=True)
    chosen = None if version is None else int(version)
    version = next_version(model_base) if chosen is None else chosen
    target = os.path.join(model_base, str(version))
    if os.path.exists(target):
        raise FileExistsError(f"{target} already exists; choose another --version")
    tags = list(model.tags)
    k = max(1, min(int(top_k), len(tags)))
    seconds_per_frame = model.front_end_config.hop_length / model.sample_rate
    wave = tf.TensorSpec([None, None], tf.float32, name="waveform")

    with tempfile.TemporaryDirectory(dir=model_base, prefix=f".tmp-{version}-") as tmp:
        tags_file, info_file = write_assets(tmp, model, k, run)

        module = tf.Module()
        module.model = model
        module.tags_asset = tf.saved_model.Asset(tags_file)
        module.info_asset = tf.saved_model.Asset(info_file)
        module.tag_names = tf.constant(tags)

        log_mel = tf.TensorSpec([None, None, model.front_end_config.n_mels], tf.float32, name="log_mel")
        num_frames = tf.TensorSpec([None], tf.int32, name="num_frames")

        # Four core functions hold the network; every signature calls them, so the SavedModel keeps
        # one copy of each graph instead of one per signature (a copy per signature multiplies the
        # memory a loaded model takes).
        @tf.function(input_signature=[wave])
        def front(waveform):
            return model.front_end(waveform)

        @tf.function(input_signature=[log_mel, num_frames])
        def tags_core(log_mel, num_frames):
            return model({"log_mel": log_mel, "num_frames": num_frames}, training=False)

        @tf.function(input_signature=[log_mel, num_frames])
        def analyze_core(log_mel, num_frames):
            return model.analyze({"log_mel": log_mel, "num_frames": num_frames})

        @tf.function(input_signature=[log_mel, num_frames])
        def partial_core(log_mel, num_frames):
            return model.partial({"log_mel": log_mel, "num_frames": num_frames})

        def whole(waveform):
            x = front(waveform)
            return x, tf.fill([tf.shape(x)[0]], tf.shape(x)[1])

        def starts_of(segment_tags):
            return model.segmenter.start_seconds(tf.shape(segment_tags)[1], seconds_per_frame)

        maps = model.tagger_config.calibration

        def answer(probabilities):  # the calibrated probabilities every answering signature gives
            return calibrate_tensor(probabilities, maps)

        @tf.function(input_signature=[wave])
        def serving_default(waveform):
            return {"probabilities": answer(tags_core(*whole(waveform)))}

        @tf.function(input_signature=[wave])
        def top(waveform):
            scores, idx = tf.math.top_k(answer(tags_core(*whole(waveform))), k=k)
            return {"tags": tf.gather(module.tag_names, idx), "scores": scores}

        @tf.function(input_signature=[wave])
        def timeline(waveform):
            out = analyze_core(*whole(waveform))
            return {"segment_probabilities": answer(out["segment_tags"]),
                    "segment_start_seconds": starts_of(out["segment_tags"]), "segment_mask": out["segment_mask"]}

        @tf.function(input_signature=[tf.TensorSpec([None, len(tags)], tf.float32, name="probabilities")])
        def calibrate_signature(probabilities):
            return {"probabilities": answer(probabilities)}

        @tf.function(input_signature=[wave])
        def embedding(waveform):
            return {"embedding": partial_core(*whole(waveform))["embedding"]}

        # The same model in two steps, for clients that compute the front end in pieces (hour-long
        # tracks: tfmusictag.frontend.iter_log_mel) or cache it.
        @tf.function(input_signature=[wave])
        def front_end(waveform):
            return {"log_mel": front(waveform)}

        @tf.function(input_signature=[log_mel, num_frames])
        def tags_from_log_mel(log_mel, num_frames):
            return {"probabilities": tags_core(log_mel, num_frames)}

        @tf.function(input_signature=[log_mel, num_frames])
        def timeline_from_log_mel(log_mel, num_frames):
            out = analyze_core(log_mel, num_frames)
            # embedding and weight as partial_from_log_mel gives them: a chunk's timeline and its
            # contribution to the whole track's tags come from one pass of the network
            return {"probabilities": out["tags"], "segment_probabilities": out["segment_tags"],
                    "segment_start_seconds": starts_of(out["segment_tags"]), "segment_mask": out["segment_mask"],
                    "embedding": out["embedding"], "weight": out["weight"]}

        # Hour-long tracks in bounded memory: the partial outputs of chunks of whole segments, and the
        # classifier for their combined embedding (see TrackTagger.partial).
        @tf.function(input_signature=[log_mel, num_frames])
        def partial_from_log_mel(log_mel, num_frames):
            return partial_core(log_mel, num_frames)

        @tf.function(input_signature=[tf.TensorSpec([None, model.embedding_dim], tf.float32, name="embedding")])
        def tags_from_embedding(embedding):
            return {"probabilities": model.tags_from_embedding(embedding)}

        extra = {}
        config = model.tagger_config
        if config.decision == "expected_f1":  # per track, the set with the highest expected F1

            @tf.function(input_signature=[wave])
            def decided(waveform):
                probabilities = answer(tags_core(*whole(waveform)))
                return {"decided": decide_expected_f1_tensor(probabilities), "probabilities": probabilities}

            extra["decided"] = decided
        elif config.thresholds:  # the decided tags, at the thresholds fitted in training
            cut = tf.constant(config.thresholds, tf.float32)

            @tf.function(input_signature=[wave])
            def decided(waveform):
                probabilities = answer(tags_core(*whole(waveform)))
                return {"decided": probabilities >= cut, "probabilities": probabilities,
                        "thresholds": tf.broadcast_to(cut, tf.shape(probabilities))}

            extra["decided"] = decided
        signatures = {**extra, "serving_default": serving_default, "top_k": top, "timeline": timeline,
                      "calibrate": calibrate_signature, "embedding": embedding,
                      "front_end": front_end, "tags_from_log_mel": tags_from_log_mel,
                      "timeline_from_log_mel": timeline_from_log_mel, "partial_from_log_mel": partial_from_log_mel,
                      "tags_from_embedding": tags_from_embedding}
        for key, fn in signatures.items():
            setattr(module, key, fn)
        staging = os.path.join(tmp, "model")
        tf.saved_model.save(module, staging, signatures=signatures)
        while True:  # atomic on one file system: the version appears whole or not at all
            try:
                os.rename(staging, target)
                break
            except OSError:  # another export took this version in the meantime
                if chosen is not None or not os.path.isdir(target):
                    raise FileExistsError(f"{target} already exists; choose another --version") from None
                version = next_version(model_base)
                target = os.path.join(model_base, str(version))
    return target


class InferenceModel:
    """A model loaded for tagging — an exported SavedModel (TensorFlow alone runs it), a training
    run's directory or a pretrained name — behind one interface, in two steps: ``log_mel(waveform)``
    (the model's own front end) and ``tag(log_mel)``. (:class:`~tfmusictag.tagger.TrackTagger` is
    the Keras model itself; this wraps whichever form was given.)"""

    def __init__(self, path: str):
        path = model_path(path)  # a pretrained model's name → its converted model directory
        #: the model's folder (a SavedModel version folder, a run directory or a converted pretrained model)
        self.path = path
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            self.tags, info = read_assets(path)
            loaded = tf.saved_model.load(path)
            config = info["model"]
            fitted = (info.get("run") or {}).get("thresholds")
            segment_seconds = float(info["segment_seconds"])
            self._loaded = loaded
            self.front_end = get_front_end(info["model"]["front_end"])
            sig = loaded.signatures
            self.log_mel = lambda w: sig["front_end"](waveform=tf.constant(w))["log_mel"].numpy()
            self._tags = lambda x, n: sig["tags_from_log_mel"](log_mel=x, num_frames=n)
            self._timeline = lambda x, n: sig["timeline_from_log_mel"](log_mel=x, num_frames=n)
            if "partial_from_log_mel" in sig and info.get("chunk_combine"):  # a model whose chunks combine
                self._chunking(info["chunk_combine"], info["late_fusion"], info["segment_frames"],
                               info["model"]["segments"]["tail"],
                               lambda x, n: sig["partial_from_log_mel"](log_mel=x, num_frames=n),
                               lambda e: sig["tags_from_embedding"](embedding=e)["probabilities"])
        else:
            model = load_model(path)
            self.tags, self.front_end = list(model.tags), model.front_end_config
            config = model.tagger_config.to_dict()
            fitted = _run_thresholds(path)
            seconds_per_frame = self.front_end.hop_length / self.front_end.sample_rate
            segment_seconds = model.segmenter.segment_frames * seconds_per_frame
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
                starts = model.segmenter.start_seconds(tf.shape(out["segment_tags"])[1], seconds_per_frame)
                return {"probabilities": out["tags"], "segment_probabilities": out["segment_tags"],
                        "segment_start_seconds": starts, "segment_mask": out["segment_mask"],
                        "embedding": out["embedding"], "weight": out["weight"]}

            self.log_mel = lambda w: front(tf.constant(w)).numpy()
            self._tags = lambda x, n: {"probabilities": probs(x, n)}
            self._timeline = timeline
            if model.chunk_combine:
                partial = tf.function(lambda x, n: model.partial({"log_mel": x, "num_frames": n}),
                                      input_signature=spec, autograph=False)
                from_embedding = tf.function(model.tags_from_embedding, autograph=False,
                                             input_signature=[tf.TensorSpec([None, model.embedding_dim], tf.float32)])
                self._chunking(model.chunk_combine, model.temporal.late_fusion, model.segmenter.segment_frames,
                               model.segmenter.tail, partial, from_embedding)
        self.sample_rate = self.front_end.sample_rate
        #: a segment's length in seconds (29.12 for the thesis's models, 3 for musicnn's)
        self.segment_seconds = segment_seconds
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

    #: Frames per chunk aimed at when a track is tagged chunk by chunk (rounded down to whole
    #: segments, at least one): :data:`tfmusictag.frontend.CHUNK_FRAMES`.
    CHUNK_FRAMES = CHUNK_FRAMES
    chunk_frames = None  # None: the model needs the whole track at once (a sequence model)

    def _chunking(self, combine, late_fusion, segment_frames, tail, partial, from_embedding):
        self.chunk_combine, self.late_fusion = combine, bool(late_fusion)
        self.segment_frames, self.drop_tail = int(segment_frames), tail == "drop"
        self.chunk_frames = max(1, self.CHUNK_FRAMES // segment_frames) * segment_frames
        self._partial, self._from_embedding = partial, from_embedding

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
            if self.drop_tail and frames and len(chunk) < self.segment_frames:
                frames += len(chunk)  # an incomplete tail the whole track drops too (a short track keeps it)
                continue
            x = tf.convert_to_tensor(chunk)[None]
            n = tf.shape(x)[1:2]
            if timeline:  # one pass gives the chunk's timeline and its partial
                out = self._timeline(x, n)
                parts.append((out["segment_probabilities"][0].numpy(), out["segment_mask"][0].numpy(),
                              out["segment_start_seconds"].numpy() + frames * seconds_per_frame))
                partial = ({"embedding": out["embedding"], "tags": out["probabilities"], "weight": out["weight"]}
                           if "weight" in out else self._partial(x, n))  # a SavedModel without them: two passes
            else:
                partial = self._partial(x, n)
            partials.append({k: v[0].numpy() for k, v in partial.items()})
            frames += len(chunk)
        combined, probs = combine_partials(partials, self.chunk_combine, self.late_fusion)
        if probs is None:
            probs = np.asarray(self._from_embedding(tf.constant(combined[None], tf.float32)))[0]
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
            combined = combine_chunks(self.chunk_combine, np.stack([p["embedding"] for p in kept]),
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
            out = {k: v.numpy() for k, v in self._timeline(x, n).items()}
            return self._calibrated(out["probabilities"][0], out)
        return self._calibrated(self._tags(x, n)["probabilities"][0].numpy())


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
