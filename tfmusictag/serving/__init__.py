"""Serving: a trained model as a SavedModel for TF Serving, and the model behind ``predict``.

* :mod:`~tfmusictag.serving.export` — :func:`export_saved_model` (``python -m tfmusictag.export``):
  the SavedModel, its signatures, written atomically in TF Serving's layout;
* :mod:`~tfmusictag.serving.client` — :class:`InferenceModel`: ``predict``'s one interface over an
  exported SavedModel (nothing but TensorFlow runs it), a run directory or a pretrained model;
* :mod:`~tfmusictag.serving.assets` — what an exported model says of itself (its tags, config,
  sample rate, segment length): the contract between the two, so they change apart.

Example::

    python -m tfmusictag.export --model_dir=runs/bof --name=demo_tagger
"""

from tfmusictag.serving.assets import ASSET_FIELDS, read_assets, write_assets
from tfmusictag.serving.client import InferenceModel
from tfmusictag.serving.export import export_saved_model, next_version

__all__ = ["export_saved_model", "next_version", "InferenceModel", "ASSET_FIELDS", "read_assets", "write_assets"]
