"""Where pretrained weights and converted models live on disk, and how a converted model is kept.

Everything goes under one folder, ``$TFMUSICTAG_HOME`` (default ``~/.cache/tfmusictag``):

* ``downloads/`` — what was fetched (the ``musicnn`` sdist, Choi's HDF5 files), checked against
  the SHA-256 recorded in the source module;
* ``pretrained/<MODEL>/`` — the converted model as a *model directory*, the same layout a
  training run writes (``model.keras``, ``model_config.json``, ``tags.txt``) plus
  ``source.json`` (where the weights came from and their published results). Any command that
  takes a model directory (``predict``, ``export``, ``evaluate``, ``train --init_from``)
  therefore takes a converted pretrained model too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from typing import Any, Dict

__all__ = ["home", "downloads_dir", "model_dir", "sha256", "save_model_dir"]


def home() -> str:
    """The cache root: ``$TFMUSICTAG_HOME`` or ``~/.cache/tfmusictag``."""
    return os.path.abspath(os.path.expanduser(os.environ.get("TFMUSICTAG_HOME", "~/.cache/tfmusictag")))


def downloads_dir() -> str:
    return os.path.join(home(), "downloads")


def model_dir(name: str) -> str:
    """Where the converted model ``name`` is (or would be) kept."""
    return os.path.join(home(), "pretrained", name)


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_model_dir(model, target: str, source: Dict[str, Any]) -> str:
    """Write ``model`` as a model directory at ``target`` atomically (temp dir, then rename)."""
    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(target)}-")
    try:
        model.save(os.path.join(tmp, "model.keras"))
        with open(os.path.join(tmp, "model_config.json"), "w") as f:
            f.write(model.tagger_config.to_json())
        with open(os.path.join(tmp, "tags.txt"), "w") as f:
            f.write("\n".join(model.tags) + "\n")
        with open(os.path.join(tmp, "source.json"), "w") as f:
            json.dump(source, f, indent=2)
        if os.path.exists(target):
            shutil.rmtree(target)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
