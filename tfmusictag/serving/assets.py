"""The SavedModel's assets: what an exported model says of itself (``assets/tags.txt`` and
``assets/tfmusictag.json``), written by the exporter (:mod:`~tfmusictag.serving.export`) and read by
every client (:mod:`~tfmusictag.serving.client`, TF Serving's users) — the one contract between them."""

import json
import os
from typing import Optional, Tuple

from tfmusictag.errors import ParameterError

__all__ = ["ASSET_FIELDS", "write_assets", "read_assets"]


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
