"""Choi, Fazekas & Sandler (2016) Million Song Dataset taggers: the thesis's CNN and the CRNN.

The thesis's reduction network (Algorithm 20) is Choi et al.'s 5-layer 2D CNN; its released
weights (``music_tagger_cnn_weights_tensorflow.h5``, MIT licence, upstream
``github.com/keunwoochoi/music-auto_tagging-keras``) and those of the CRNN are converted here
into :class:`~tfmusictag.tagger.TrackTagger` models with Choi's front end (``'choi2016'``: 12
kHz, Hann, FFT 512, hop 256, 96 Slaney mel bands, dB of the squared mel power, 80 dB range) and
29.12 s segments (1366 frames). Choi tags the middle 29.12 s of a clip; for a whole track the
converted models tag every 29.12 s segment and average the tags (temporal ``'tag_mean'``).

What the conversion had to settle (see ``tests/test_choi2016.py`` for the evidence):

* kernels are stored Theano-style ``(out, in, rows, cols)``; the "tensorflow" files hold them
  already flipped for TensorFlow's cross-correlation, so they are only transposed to
  ``(rows, cols, in, out)`` — flipping them as well takes the CRNN away from the published tags;
* Keras 1's batch norm stored the moving *variance* under the name ``running_std`` and used
  epsilon 1e-6; the converted layers use both as such;
* Keras 1's GRU gates use ``hard_sigmoid = clip(0.2·x + 0.5, 0, 1)`` (Keras 3's slope is 1/6),
  and apply the reset gate before the recurrent product (``reset_after=False``);
* the first batch norm of both networks normalises each *time step* (1366 values, 1440 after
  the CRNN's padding), not each mel band as the thesis's text says.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from typing import Dict, Optional

import numpy as np

from tfmusictag.errors import ParameterError
from tfmusictag.pretrained import store
from tfmusictag.pretrained.musicnn import MSD_LABELS

__all__ = ["MODELS", "FILES", "download", "weights_file", "tagger_config", "convert"]

UPSTREAM = "https://github.com/keunwoochoi/music-auto_tagging-keras/raw/master/data/"
#: file → SHA-256 of the released weights
FILES = {
    "music_tagger_cnn_weights_tensorflow.h5": "8b61b73a8065cb084a9b56e8b5421ee876f38a1aca109ec2ad336e3a17c7c421",
    "music_tagger_crnn_weights_tensorflow.h5": "df63638de9f3113780768181670c554f122fbd1297c63c065836d70a251115a8",
}
#: name → weights file
MODELS: Dict[str, str] = {
    "choi2016_cnn": "music_tagger_cnn_weights_tensorflow.h5",
    "choi2016_crnn": "music_tagger_crnn_weights_tensorflow.h5",
}
KERAS1_BN_EPSILON = 1e-6


def _folder() -> str:
    return os.path.join(store.downloads_dir(), "choi2016")


def weights_file(name: str) -> str:
    if name not in MODELS:
        raise ParameterError(f"model={name!r} is not a Choi 2016 model; choose one of {sorted(MODELS)}")
    path = os.path.join(_folder(), MODELS[name])
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing; fetch it once with: python -m tfmusictag.pretrained download "
                                f"choi2016 (or --from=<folder holding {MODELS[name]}>)")
    return path


def download(from_path: Optional[str] = None, quiet: bool = False) -> str:
    """Copy Choi's weight files from ``from_path`` (a folder) or fetch them from upstream; each is
    checked against :data:`FILES`. Returns the folder holding them."""
    os.makedirs(_folder(), exist_ok=True)
    for fname, digest in FILES.items():
        target = os.path.join(_folder(), fname)
        if os.path.exists(target) and store.sha256(target) == digest:
            continue
        if from_path:
            src = os.path.join(from_path, fname)
            if not os.path.isfile(src):
                raise FileNotFoundError(f"{src}: no such file (expected Choi's {fname} in {from_path})")
            shutil.copyfile(src, target + ".part")
        else:
            if not quiet:
                print(f"fetching {UPSTREAM + fname}")
            try:
                with urllib.request.urlopen(UPSTREAM + fname, timeout=60) as r, open(target + ".part", "wb") as f:
                    shutil.copyfileobj(r, f)
            except OSError as exc:
                raise RuntimeError(f"could not fetch {UPSTREAM + fname} ({exc}); download it yourself and pass "
                                   f"--from=<folder holding {fname}>") from None
        got = store.sha256(target + ".part")
        if got != digest:
            os.remove(target + ".part")
            raise ValueError(f"{fname}: SHA-256 {got} is not the released {digest}")
        os.replace(target + ".part", target)
    return _folder()


def tagger_config(name: str):
    # TensorFlow is loaded only when a model is built: `python -m tfmusictag.pretrained download` needs none
    from tfmusictag.classifier import ClassifierConfig
    from tfmusictag.reduction import CNNConfig, CRNNConfig, ReductionConfig
    from tfmusictag.tagger import SegmentConfig, TaggerConfig
    from tfmusictag.temporal import TemporalConfig

    if name not in MODELS:
        raise ParameterError(f"model={name!r} is not a Choi 2016 model; choose one of {sorted(MODELS)}")
    if name == "choi2016_cnn":
        reduction = ReductionConfig(type="cnn", cnn=CNNConfig(input_norm_axis="time", dropout=0.5,
                                                              bn_epsilon=KERAS1_BN_EPSILON))
        classifier = ClassifierConfig(hidden=0)
    else:
        reduction = ReductionConfig(type="crnn", crnn=CRNNConfig(bn_epsilon=KERAS1_BN_EPSILON))
        classifier = ClassifierConfig(hidden=0, input_dropout=0.3)
    return TaggerConfig(tags=MSD_LABELS, front_end="choi2016", segments=SegmentConfig(1366, None, "drop"),
                        reduction=reduction, temporal=TemporalConfig(type="tag_mean"),
                        classifier=classifier).validate()


_PLAIN = {"W", "b", "gamma", "beta", "running_mean", "running_std"}


def _weights(h5, layer):
    """{short name: array} of a Keras 1 layer: ``bn1/bn1_beta:0`` (or the CRNN file's
    ``bn1/bn1_beta_1:0``) → ``beta``; ``gru1/gru1_U_h:0`` → ``U_h``."""
    out = {}
    for n in h5[layer].attrs["weight_names"]:
        key = (n.decode() if isinstance(n, bytes) else n).split("/")[-1].split(":")[0]
        key = key[len(layer) + 1:] if key.startswith(layer + "_") else key
        if key.endswith("_1") and key[:-2] in _PLAIN:
            key = key[:-2]
        out[key] = np.asarray(h5[layer][n])
    return out


def _bn(h5, layer):
    w = _weights(h5, layer)
    return [w["gamma"], w["beta"], w["running_mean"], w["running_std"]]  # running_std holds the variance


def _conv(h5, layer, flip=False):
    w = _weights(h5, layer)
    kernel = np.transpose(w["W"], (2, 3, 1, 0))  # (out, in, r, c) → (r, c, in, out)
    return [kernel[::-1, ::-1] if flip else kernel, w["b"]]


def _gru(h5, layer):
    w = _weights(h5, layer)
    gates = ("z", "r", "h")
    return [np.concatenate([w[f"W_{g}"] for g in gates], 1), np.concatenate([w[f"U_{g}"] for g in gates], 1),
            np.concatenate([w[f"b_{g}"] for g in gates])]


def convert(name: str, path: Optional[str] = None, flip_kernels: bool = False):
    """Build Choi model ``name`` with the released weights (``path``: the .h5, default the cache)."""
    from tfmusictag.tagger import TrackTagger

    import h5py


    model = TrackTagger(tagger_config(name), name=name)
    r, c = model.reduction, model.classifier
    with h5py.File(path or weights_file(name), "r") as h5:
        pairs = [(r.input_norm, _bn(h5, "bn_0_freq"))]
        for i, (conv, norm) in enumerate(zip(r.convs, r.norms), 1):
            pairs += [(conv, _conv(h5, f"conv{i}", flip_kernels)), (norm, _bn(h5, f"bn{i}"))]
        for i, gru in enumerate(getattr(r, "grus", ()), 1):
            pairs.append((gru, _gru(h5, f"gru{i}")))
        out = _weights(h5, "output")
        pairs.append((c.output_layer, [out["W"], out["b"]]))
        for layer, arrays in pairs:
            expected = [tuple(w.shape) for w in layer.get_weights()]
            if expected != [a.shape for a in arrays]:
                raise ValueError(f"{name}: {layer.name} expects {expected}, the file has {[a.shape for a in arrays]}")
            layer.set_weights([np.asarray(a, np.float32) for a in arrays])
    return model


def source_info(name: str) -> Dict[str, str]:
    return {"source": UPSTREAM + MODELS[name], "sha256": FILES[MODELS[name]], "model": name,
            "licence": "MIT (Keunwoo Choi)",
            "paper": "Choi, Fazekas & Sandler, Automatic tagging using deep convolutional neural networks, ISMIR 2016"
            + ("" if name == "choi2016_cnn" else "; Choi et al., Convolutional recurrent neural networks for music "
               "classification, ICASSP 2017")}
