"""A trained model as a SavedModel for TF Serving: :func:`export_saved_model` (``python -m tfmusictag.export``).

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

import os
import tempfile
from typing import Optional

import tensorflow as tf

from tfmusictag.calibration import calibrate_tensor
from tfmusictag.serving.assets import write_assets
from tfmusictag.thresholds import decide_expected_f1_tensor

__all__ = ["export_saved_model", "next_version"]


def next_version(model_base: str) -> int:
    versions = [int(d) for d in os.listdir(model_base) if d.isdigit()] if os.path.isdir(model_base) else []
    return max(versions, default=0) + 1


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
