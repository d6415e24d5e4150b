"""Pretrained source-task taggers: MagnaTagATune / MSD models of musicnn and Choi et al. (2016).

The thesis transfers a network trained on a large tagged set (MagnaTagATune, the *source task*)
to a small catalog (the *target task*, Sec. 3.2). This package turns published weights into
ordinary tfmusictag models:

=================  ==========================  =============================================
name               weights                     network
=================  ==========================  =============================================
``MTT_musicnn``    ``musicnn`` 0.1.0 (PyPI)    musicnn, 50 MagnaTagATune tags, 3 s patches
``MTT_vgg``        ``musicnn`` 0.1.0 (PyPI)    VGG-like CNN, 50 MagnaTagATune tags
``MSD_musicnn``    ``musicnn`` 0.1.0 (PyPI)    musicnn, 50 MSD (last.fm) tags
``MSD_vgg``        ``musicnn`` 0.1.0 (PyPI)    VGG-like CNN, 50 MSD tags
``choi2016_cnn``   Choi et al.'s HDF5 files    the thesis's Algorithm 20 CNN, 50 MSD tags
``choi2016_crnn``  Choi et al.'s HDF5 files    Choi's CRNN (4 conv + 2 GRU), 50 MSD tags
=================  ==========================  =============================================

Weights are fetched once by a command, never on import::

    python -m tfmusictag.pretrained download musicnn      # pip download of the sdist (29 MB)
    python -m tfmusictag.pretrained download choi2016     # or --from=<folder with the .h5 files>

:func:`model_path` converts on first use and keeps the result as a model directory in
``$TFMUSICTAG_HOME/pretrained/<name>`` (see :mod:`tfmusictag.pretrained.store`), so every
command that takes a model directory takes a pretrained name as well::

    python -m tfmusictag.predict --model=MTT_musicnn song.mp3
    python -m tfmusictag.train --variant=blackbox_cnn_bof --init_from=MTT_musicnn ...

**Decided tags.** The source datasets' labels are not at hand to fit thresholds on, so a pretrained
model decides by a rule that needs none (``TaggerConfig.decision='expected_f1'``): per track, the
set of tags with the highest expected F1 if its probabilities are taken at their word
(:func:`tfmusictag.thresholds.decide_expected_f1`) — a few tags for a track the model is sure of,
none for one it is not. Every record says so (``decided_by``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

from tfmusictag.errors import ParameterError
from tfmusictag.pretrained import choi2016, musicnn, store
from tfmusictag.registry import Registry

__all__ = ["SOURCES", "CONVERSION", "names", "is_pretrained", "download", "convert", "model_path", "load_model"]

#: download source → module with ``download(from_path)``, ``MODELS``, ``convert(name)``, ``source_info(name)``
SOURCES = Registry("source")
SOURCES.add("musicnn", musicnn)
SOURCES.add("choi2016", choi2016)
#: Version of the conversion: a converted model made by another version is converted again.
CONVERSION = 5


def names():
    """Every pretrained model name."""
    return [name for module in SOURCES.values() for name in module.MODELS]


def _source(name: str):
    for module in SOURCES.values():
        if name in module.MODELS:
            return module
    raise ParameterError(f"{name!r} is not a pretrained model; choose one of {names()}")


def is_pretrained(name) -> bool:
    return isinstance(name, str) and name in names()


def download(source: str, from_path: str = None, quiet: bool = False) -> str:
    """Fetch the weights of ``source`` (``'musicnn'`` or ``'choi2016'``); returns their folder."""
    return SOURCES.get(source).download(from_path, quiet=quiet)


def _converted_version(target: str):
    from tfmusictag import rundir  # TensorFlow only where a model is read or written: `download` needs none

    run = rundir.RunDir(target)
    try:
        return run.read_source().get("conversion") if os.path.exists(run.file(rundir.MODEL)) else None
    except (OSError, ValueError):  # ParameterError is a ValueError
        return None


def convert(name: str, force: bool = False) -> str:
    """Convert ``name`` into a model directory (once per :data:`CONVERSION`; ``force`` redoes it);
    returns its path."""
    target = store.model_dir(name)
    if not force and _converted_version(target) == CONVERSION:
        return target
    with _converting(target):  # two programs started at once on first use: one converts, the other waits
        if force or _converted_version(target) != CONVERSION:
            _convert_into(name, target)
    return target


@contextlib.contextmanager
def _converting(target: str):
    """Hold the conversion lock of ``target`` (a lock file beside it; none where ``fcntl`` is missing)."""
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(os.path.join(parent, f".{os.path.basename(target)}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _convert_into(name: str, target: str) -> None:
    """Convert ``name``'s published weights and write them as the model directory ``target``."""
    from tfmusictag import rundir

    module = _source(name)
    model = module.convert(name)
    # No labels of the source datasets are reachable to fit thresholds on, so a pretrained model
    # decides by a rule that needs none: per track, the tags with the highest expected F1 if its
    # probabilities (trained with plain cross-entropy) are taken at their word.
    model.tagger_config = dataclasses.replace(model.tagger_config, decision="expected_f1").validate()
    # what inference skips (musicnn's dead filters), recorded with the source; loading folds again
    folded = {layer: f"{live} of {total} filters live" for layer, (live, total) in model.fold().items()}
    rundir.write_model_dir(model, target, {**module.source_info(name), "conversion": CONVERSION,
                                           **({"folded": folded} if folded else {})})


def model_path(name_or_path: str) -> str:
    """A model directory for a pretrained name (converted on first use) or an existing path."""
    return convert(name_or_path) if is_pretrained(name_or_path) and not os.path.exists(name_or_path) else name_or_path


def load_model(name_or_path: str):
    """A model from a pretrained name, a run directory or a ``.keras`` file — what every command's
    ``--model``/``--model_dir``/``--init_from`` accepts."""
    from tfmusictag import rundir

    path = model_path(name_or_path)
    if not os.path.exists(path):
        raise ParameterError(f"{name_or_path!r} is not a trained model: expected a model directory, a .keras file "
                             f"or a pretrained model name ({', '.join(names())})")
    return rundir.load_model(path)
