"""Which CPU kernels and which precision tagging runs with, chosen from the CPU before TensorFlow loads.

TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it loads: oneDNN's kernels or its own for
the whole process. :func:`choose_kernels` decides from the CPU's features (``/proc/cpuinfo``) by
the rule of TensorFlow's own default on Linux (``DefaultOneDnnPolicy`` in
``tensorflow/core/util/util.cc``): oneDNN where the CPU has neural-network instructions
(AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX), TensorFlow's kernels elsewhere. For musicnn's models
with the package's folded front end that is also the faster choice on each CPU kind measured (an
AVX2-only CPU, an AVX-512 CPU with VNNI and BF16, an AVX-512 CPU with AMX;
``benchmarks/results/musicnn*.json`` with each CPU's flags), so the default is the fast one rather
than one fixed switch. :func:`apply` sets the variable (a value the user set is kept).

Reduced precision is an opt-in (:data:`PRECISIONS`): ``bfloat16`` runs the network's matrix
products and convolutions in bfloat16 through oneDNN (Grappler's automatic mixed precision for
oneDNN, float32 kept where it matters: softmax, reductions, the front end's logarithm) and needs a
CPU with AVX512_BF16 or AMX_BF16 — elsewhere :func:`check_precision` refuses it with one line
rather than emulating it slowly. The tags' change against float32 is measured per patch and per
track by ``benchmarks/bench_musicnn.py``.
"""

from __future__ import annotations

import os
from typing import FrozenSet, Iterable, Optional

from tfmusictag.errors import ParameterError

__all__ = ["usable_cores", "cpu_flags", "choose_kernels", "apply", "check_precision", "enable_precision", "KERNELS",
           "PRECISIONS", "NEURAL_NETWORK_FEATURES", "BFLOAT16_FEATURES"]

#: ``--kernels`` values: ``auto`` (by the CPU), ``onednn``, ``tensorflow``.
KERNELS = ("auto", "onednn", "tensorflow")
#: ``--precision`` values.
PRECISIONS = ("float32", "bfloat16")
#: CPU features (``/proc/cpuinfo`` names) for which TensorFlow turns oneDNN on by default, and so does ``auto``.
NEURAL_NETWORK_FEATURES = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
#: CPU features that run bfloat16 arithmetic natively (any one of them).
BFLOAT16_FEATURES = ("avx512_bf16", "amx_bf16")


def usable_cores() -> int:
    """CPU cores this process may run on (respects affinity masks and container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def cpu_flags(path: str = "/proc/cpuinfo") -> FrozenSet[str]:
    """The CPU's feature flags (``/proc/cpuinfo``'s first ``flags`` line); empty where there is none
    (another operating system, an ARM CPU): ``auto`` then keeps TensorFlow's own choice."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def choose_kernels(kernels: str = "auto", flags: Optional[Iterable[str]] = None) -> Optional[str]:
    """``'onednn'`` or ``'tensorflow'``: the kernels for ``kernels`` on a CPU with ``flags``
    (default: this one's). ``auto`` on a CPU whose flags cannot be read gives ``None``
    (TensorFlow's own default stands).

    Raises:
        ParameterError: ``kernels`` is not one of :data:`KERNELS`.
    """
    if kernels not in KERNELS:
        raise ParameterError(f"kernels={kernels!r} must be one of {', '.join(KERNELS)}")
    if kernels != "auto":
        return kernels
    flags = cpu_flags() if flags is None else frozenset(flags)
    if not flags:
        return None
    return "onednn" if any(f in flags for f in NEURAL_NETWORK_FEATURES) else "tensorflow"


def apply(kernels: str = "auto", environ=None) -> Optional[str]:
    """Set ``TF_ENABLE_ONEDNN_OPTS`` for :func:`choose_kernels`'s choice, before TensorFlow loads.
    With ``auto`` a value already in the environment is kept (the user's). Returns the kernels the
    process will run (``None``: TensorFlow's default, unknown here)."""
    environ = os.environ if environ is None else environ
    if kernels == "auto" and environ.get("TF_ENABLE_ONEDNN_OPTS") not in (None, ""):
        return "onednn" if environ["TF_ENABLE_ONEDNN_OPTS"].strip().lower() in ("1", "true") else "tensorflow"
    chosen = choose_kernels(kernels)
    if chosen is not None:
        environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if chosen == "onednn" else "0"
    return chosen


def check_precision(precision: str, flags: Optional[Iterable[str]] = None, environ=None) -> None:
    """Refuse a ``precision`` this CPU (``flags``, default this one's) or this process cannot run,
    with one line saying why.

    Raises:
        ParameterError: an unknown precision; ``bfloat16`` on a CPU without AVX512_BF16 or AMX_BF16,
            or with oneDNN's kernels turned off (``--kernels=tensorflow``).
    """
    if precision not in PRECISIONS:
        raise ParameterError(f"precision={precision!r} must be one of {', '.join(PRECISIONS)}")
    if precision == "float32":
        return
    flags = cpu_flags() if flags is None else frozenset(flags)
    if not any(f in flags for f in BFLOAT16_FEATURES):
        raise ParameterError(f"--precision={precision}: this CPU has no bfloat16 instructions (it needs one of "
                             f"{', '.join(BFLOAT16_FEATURES)}); tag in float32 here")
    environ = os.environ if environ is None else environ
    if environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower() in ("0", "false"):
        raise ParameterError(f"--precision={precision} runs through oneDNN's kernels; drop --kernels=tensorflow "
                             "(or TF_ENABLE_ONEDNN_OPTS=0)")


def enable_precision(precision: str) -> None:
    """Turn ``precision`` on for the graphs TensorFlow builds from now on (after
    :func:`check_precision`): ``bfloat16`` is Grappler's automatic mixed precision for oneDNN."""
    if precision == "bfloat16":
        import tensorflow as tf

        tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": True})
