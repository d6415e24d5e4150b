"""MagnaTagATune (and MSD) taggers of the ``musicnn`` package (Pons & Serra 2019), converted.

The thesis's source task is MagnaTagATune (Sec. 3.2, 4.1.1). Its audio cannot be obtained here,
but the ``musicnn`` 0.1.0 source distribution on PyPI (ISC licence) ships TF1 checkpoints of
two MagnaTagATune taggers (``MTT_musicnn``: ROC-AUC 0.9067, ``MTT_vgg``: 0.9030 on the MTT test
set) and of their Million Song Dataset counterparts. :func:`download` fetches the sdist with pip
(so a user's index, proxy and certificates apply), checks its SHA-256 and unpacks the
checkpoints; :func:`convert` rebuilds each network as a :class:`~tfmusictag.tagger.TrackTagger`
and copies every variable by name.

The converted model reproduces ``musicnn.extractor.extractor(file, model)``: front end
``'musicnn'`` (16 kHz, Hann, FFT 512, hop 256, 96 Slaney mel bands, ``log10(1 + 10000·x)``),
non-overlapping 187-frame (3 s) patches with the incomplete tail dropped, per-patch sigmoid
tags (the *taggram*, :meth:`TrackTagger.analyze`'s ``segment_tags``) and their mean as the
track's tags. Two documented differences, both below 1e-3 in the taggram (see the parity test):
the original rounds the mel power to float16 before the logarithm, and decodes/resamples with
librosa (soxr ``HQ``), where tfmusictag uses libsndfile + soxr ``HQ`` directly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from typing import Dict, Optional

import numpy as np

from tfmusictag.errors import ParameterError
from tfmusictag.pretrained import store

__all__ = ["SDIST", "SDIST_SHA256", "MODELS", "MTT_LABELS", "MSD_LABELS", "download", "weights_dir",
           "tagger_config", "convert"]

SDIST = "musicnn-0.1.0.tar.gz"
SDIST_SHA256 = "674ccc1fb638e6894f99197cfc2794b90d96444292ea28cedee96de0f74c4abd"
PIP_REQUIREMENT = "musicnn==0.1.0"

#: ``musicnn/configuration.py``: the 50 MagnaTagATune tags, in output order.
MTT_LABELS = ("guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
              "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing",
              "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal",
              "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance",
              "male voice", "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal",
              "female voice", "choral")
#: The 50 Million Song Dataset (last.fm) tags, in output order.
MSD_LABELS = ("rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
              "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock",
              "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk",
              "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist", "guitar",
              "Hip-Hop", "70s", "party", "country", "easy listening", "sexy", "catchy", "funk", "electro",
              "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy")

#: name → (architecture, labels)
MODELS: Dict[str, tuple] = {
    "MTT_musicnn": ("musicnn", MTT_LABELS),
    "MTT_vgg": ("vgg", MTT_LABELS),
    "MSD_musicnn": ("musicnn", MSD_LABELS),
    "MSD_vgg": ("vgg", MSD_LABELS),
}
_CHECKPOINT_FILES = (".index", ".data-00000-of-00001", "config.json", "experiment.result", "train_log.tsv")


def _root() -> str:
    return os.path.join(store.home(), "musicnn-0.1.0")


def weights_dir(name: str) -> str:
    """The unpacked checkpoint folder of ``name``; raises if :func:`download` has not run."""
    if name not in MODELS:
        raise ParameterError(f"model={name!r} is not a musicnn model; choose one of {sorted(MODELS)}")
    path = os.path.join(_root(), name)
    if not os.path.exists(os.path.join(path, ".index")):
        raise FileNotFoundError(f"the {name} checkpoint is not in {path}; fetch it once with: "
                                f"python -m tfmusictag.pretrained download musicnn")
    return path


def download(from_path: Optional[str] = None, quiet: bool = False) -> str:
    """Obtain the musicnn 0.1.0 sdist and unpack its checkpoints; returns the unpacked folder.

    Args:
        from_path: an already downloaded ``musicnn-0.1.0.tar.gz`` (checked against
            :data:`SDIST_SHA256`). ``None``: ``pip download --no-deps --no-binary :all:
            musicnn==0.1.0`` into ``$TFMUSICTAG_HOME/downloads`` unless it is already there.
    """
    os.makedirs(store.downloads_dir(), exist_ok=True)
    sdist = os.path.join(store.downloads_dir(), SDIST)
    if from_path:
        if not os.path.isfile(from_path):
            raise FileNotFoundError(f"{from_path}: no such file (expected {SDIST})")
        if os.path.abspath(from_path) != sdist:
            shutil.copyfile(from_path, sdist + ".part")
            os.replace(sdist + ".part", sdist)
    elif not os.path.exists(sdist):
        with tempfile.TemporaryDirectory(dir=store.downloads_dir()) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--no-build-isolation", PIP_REQUIREMENT, "-d", tmp]
            done = subprocess.run(cmd, capture_output=quiet, text=True)
            got = os.path.join(tmp, SDIST)
            if done.returncode or not os.path.exists(got):
                raise RuntimeError(f"pip could not download {PIP_REQUIREMENT} (exit {done.returncode}); "
                                   f"download {SDIST} yourself and pass --from=<file>.\n{done.stderr or ''}")
            os.replace(got, sdist)
    digest = store.sha256(sdist)
    if digest != SDIST_SHA256:
        os.remove(sdist)
        raise ValueError(f"{sdist}: SHA-256 {digest} is not the published {SDIST_SHA256}; removed it, try again")
    root = _root()
    if not all(os.path.exists(os.path.join(root, m, ".index")) for m in MODELS):
        tmp = tempfile.mkdtemp(dir=store.home(), prefix=".musicnn-")
        try:
            with tarfile.open(sdist) as tar:
                for member in tar.getmembers():
                    parts = member.name.split("/")
                    if len(parts) == 4 and parts[2] in MODELS and parts[3] in _CHECKPOINT_FILES and member.isfile():
                        os.makedirs(os.path.join(tmp, parts[2]), exist_ok=True)
                        with tar.extractfile(member) as src, open(os.path.join(tmp, parts[2], parts[3]), "wb") as dst:
                            shutil.copyfileobj(src, dst)
            shutil.rmtree(root, ignore_errors=True)
            os.rename(tmp, root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return root


def tagger_config(name: str):
    """The :class:`~tfmusictag.tagger.TaggerConfig` of musicnn model ``name``."""
    # TensorFlow is loaded only when a model is built: `python -m tfmusictag.pretrained download` needs none
    from tfmusictag.classifier import ClassifierConfig
    from tfmusictag.reduction import ReductionConfig
    from tfmusictag.tagger import SegmentConfig, TaggerConfig
    from tfmusictag.temporal import TemporalConfig

    if name not in MODELS:
        raise ParameterError(f"model={name!r} is not a musicnn model; choose one of {sorted(MODELS)}")
    arch, labels = MODELS[name]
    if arch == "musicnn":  # backend(): BN → dropout .5 → dense 200 ReLU → BN → dropout .5 → dense
        classifier = ClassifierConfig(hidden=200, dropout=0.5, input_norm=True, hidden_norm=True, input_dropout=0.5)
    else:  # vgg(): flatten → dropout .5 → dense
        classifier = ClassifierConfig(hidden=0, input_dropout=0.5)
    return TaggerConfig(tags=labels, front_end="musicnn", segments=SegmentConfig(187, None, "drop"),
                        reduction=ReductionConfig(type=arch), temporal=TemporalConfig(type="tag_mean"),
                        classifier=classifier).validate()


def _bn(reader, scope):
    return [reader.get_tensor(f"{scope}/{v}") for v in ("gamma", "beta", "moving_mean", "moving_variance")]


def _dense(reader, scope):
    return [reader.get_tensor(f"{scope}/kernel"), reader.get_tensor(f"{scope}/bias")]


def _assignments(model, reader, arch):
    """(layer, [arrays]) pairs: TF1 variable scopes → the Keras layers, in creation order."""
    r, c = model.reduction, model.classifier
    bn = lambda i: _bn(reader, "batch_normalization" + (f"_{i}" if i else ""))  # noqa: E731
    conv = lambda i: _dense(reader, "conv2d" + (f"_{i}" if i else ""))  # noqa: E731
    if arch == "musicnn":
        pairs = [(r.input_norm, bn(0))]
        for i, (cv, norm) in enumerate(r.timbral + r.temporal):
            pairs += [(cv, conv(i)), (norm, bn(i + 1))]
        for i, (cv, norm) in enumerate(r.midend):
            kernel, bias = conv(5 + i)
            pairs += [(cv, [kernel[:, :, 0, :], bias]), (norm, bn(6 + i))]
        pairs += [(c.input_bn, bn(9)), (c.hidden_layer, _dense(reader, "dense")), (c.hidden_bn, bn(10)),
                  (c.output_layer, _dense(reader, "dense_1"))]
    else:
        pairs = [(r.input_norm, bn(0))]
        for i in range(5):
            pairs += [(r.convs[i], _dense(reader, f"{i + 1}CNN")), (r.norms[i], bn(i + 1))]
        pairs.append((c.output_layer, _dense(reader, "dense")))
    return pairs


def convert(name: str, checkpoint_dir: Optional[str] = None):
    """Build musicnn model ``name`` as a :class:`~tfmusictag.tagger.TrackTagger` with its weights.

    Every variable of the checkpoint's model is used exactly once (optimizer slots aside); a
    shape mismatch raises :class:`ValueError` naming the variable.
    """
    from tfmusictag.tagger import TrackTagger

    import tensorflow as tf


    folder = checkpoint_dir or weights_dir(name)
    reader = tf.compat.v1.train.NewCheckpointReader(os.path.join(folder, ""))
    model = TrackTagger(tagger_config(name), name=name)
    arch = MODELS[name][0]
    pairs = _assignments(model, reader, arch)
    used = 0
    for layer, arrays in pairs:
        weights = layer.get_weights()
        if [w.shape for w in weights] != [a.shape for a in arrays]:
            raise ValueError(f"{name}: {layer.name} expects {[w.shape for w in weights]}, the checkpoint has "
                             f"{[a.shape for a in arrays]}")
        layer.set_weights([np.asarray(a, np.float32) for a in arrays])
        used += len(arrays)
    total = sum(1 for k in reader.get_variable_to_shape_map() if "Adam" not in k and "_power" not in k)
    if used != total:
        raise ValueError(f"{name}: used {used} of the checkpoint's {total} model variables")
    return model


def source_info(name: str) -> Dict[str, str]:
    folder = weights_dir(name)
    info = {"source": f"PyPI {PIP_REQUIREMENT} ({SDIST}, sha256 {SDIST_SHA256})", "model": name,
            "licence": "ISC (musicnn, Jordi Pons)", "paper": "Pons & Serra, musicnn: pre-trained convolutional "
            "neural networks for music audio tagging, ISMIR LBD 2019"}
    result = os.path.join(folder, "experiment.result")
    if os.path.exists(result):
        with open(result) as f:
            info["published_result"] = " ".join(f.read().split())
    return info
