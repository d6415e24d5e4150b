"""Where pretrained weights and converted models live on disk, and how a converted model is kept.

Everything goes under one folder, ``$TFMUSICTAG_HOME`` (default ``~/.cache/tfmusictag``):

* ``downloads/`` — what was fetched (the ``musicnn`` sdist, Choi's HDF5 files), checked against
  the SHA-256 recorded in the source module;
* ``pretrained/<MODEL>/`` — the converted model as a *model directory*
  (:mod:`tfmusictag.rundir`: ``model.keras``, ``model_config.json``, ``tags.txt``) plus
  ``source.json`` (where the weights came from and their published results). Any command that
  takes a model directory (``predict``, ``export``, ``evaluate``, ``train --init_from``)
  therefore takes a converted pretrained model too.
"""

from __future__ import annotations

import hashlib
import os

__all__ = ["home", "downloads_dir", "model_dir", "sha256"]


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
