"""Which ``tf.distribute.Strategy`` a run uses, who in a cluster writes, and what the devices are.

The engines are TensorFlow's own: ``mirrored`` is ``tf.distribute.MirroredStrategy`` (every local
GPU, or the listed devices), ``multi_worker`` is ``tf.distribute.MultiWorkerMirroredStrategy``
configured by ``TF_CONFIG`` (a chief and workers, each running the same command); ``default`` is
one device (a GPU when there is one — TensorFlow places ops there without flags, the front end's
``tf.signal`` ops included). Nothing here schedules, queues or talks over a network: the
strategy's collective all-reduce does.

The run directory belongs to the chief (task ``chief``, or worker 0 when there is no chief, as in
TensorFlow's own multi-worker tutorial): it alone writes configs, checkpoints, logs, the model
and its metrics. The other workers save their checkpoints to a temporary folder that is deleted
(:func:`write_dir`) — saving must run on every worker, as it may need the collective ops.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Optional, Sequence, Tuple

import tensorflow as tf

from tfmusictag.errors import ParameterError

__all__ = ["STRATEGIES", "make_strategy", "is_chief", "is_cluster", "worker", "write_dir", "remove_write_dir",
           "describe_devices"]

#: ``--strategy`` choices.
STRATEGIES = ("default", "mirrored", "multi_worker")


def _tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        raise ParameterError("--strategy=multi_worker needs TF_CONFIG: the cluster and this process's task, e.g. "
                             "TF_CONFIG='{\"cluster\": {\"chief\": [\"host0:2222\"], \"worker\": [\"host1:2222\"]}, "
                             "\"task\": {\"type\": \"worker\", \"index\": 0}}' (the same command on every host)")
    try:
        config = json.loads(raw)
        task, cluster = config["task"], config["cluster"]
        if task["type"] not in cluster or int(task["index"]) >= len(cluster[task["type"]]):
            raise ValueError(f"task {task} is not in the cluster {cluster}")
    except (ValueError, KeyError, TypeError) as exc:
        raise ParameterError(f"TF_CONFIG is not a valid cluster spec ({exc}); it needs 'cluster' (type -> "
                             f"['host:port', ...]) and 'task' ({{'type', 'index'}}): {raw!r}") from None
    return config


def make_strategy(name: str = "default", devices: Optional[Sequence[str]] = None) -> tf.distribute.Strategy:
    """The strategy called ``name`` (one of :data:`STRATEGIES`).

    Create it first in a program, before any other TensorFlow op runs (``multi_worker`` starts the
    collective-ops server that the cluster's processes connect to).

    Args:
        name: ``'default'`` (one device), ``'mirrored'`` (synchronous replicas on the local
            devices), ``'multi_worker'`` (synchronous replicas across the processes of ``TF_CONFIG``).
        devices: with ``'mirrored'``, the devices to use (``['/gpu:0', '/gpu:1']``, or
            ``['/cpu:0', '/cpu:1']`` after :func:`tf.config.set_logical_device_configuration`);
            default every GPU (the CPU when there is none).

    Raises:
        ParameterError: an unknown name, devices with another strategy, or a missing/invalid
            ``TF_CONFIG`` with ``'multi_worker'``.
    """
    if name not in STRATEGIES:
        raise ParameterError(f"strategy={name!r} must be one of {', '.join(STRATEGIES)}")
    if devices and name != "mirrored":
        raise ParameterError(f"devices are chosen with strategy='mirrored', not {name!r}")
    if name == "mirrored":
        devices = [d if d.startswith("/") else f"/{d}" for d in devices or ()]
        _split_cpu([d for d in devices if tf.DeviceSpec.from_string(d).device_type in ("CPU", "cpu")])
        known = {f"/{d.device_type.lower()}:{tf.DeviceSpec.from_string(d.name).device_index}"
                 for d in tf.config.list_logical_devices()}
        missing = [d for d in devices if d.lower() not in known]
        if missing:
            raise ParameterError(f"devices {missing} do not exist here; the devices are {sorted(known)}")
        return tf.distribute.MirroredStrategy(devices or None)
    if name == "multi_worker":
        _tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _split_cpu(cpus: Sequence[str]) -> None:
    """Split the CPU into as many logical devices as ``cpus`` names (``/cpu:0``, ``/cpu:1``): how
    replicas are tried without GPUs (Keras's and TensorFlow's own tests do the same)."""
    n = max([tf.DeviceSpec.from_string(d).device_index or 0 for d in cpus] + [-1]) + 1
    if n <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current and len(current) >= n:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:
        raise ParameterError(f"cannot split the CPU into {n} devices for {list(cpus)}: TensorFlow has already "
                             "started; choose the strategy before anything else runs") from None


def worker(strategy: tf.distribute.Strategy) -> Tuple[str, int]:
    """``(task type, task index)`` of this process (``('chief', 0)`` outside a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return "chief", 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_cluster(strategy: tf.distribute.Strategy) -> bool:
    """True when ``strategy`` spans the processes of a cluster (``multi_worker`` with ``TF_CONFIG``)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver is not None and bool(resolver.task_type)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the process that owns the run directory: the ``chief`` task, or worker 0 of a
    cluster without one (TensorFlow's convention), or the only process."""
    task_type, index = worker(strategy)
    if task_type == "chief":
        return True
    resolver = strategy.cluster_resolver
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and index == 0 and not has_chief


def write_dir(strategy: tf.distribute.Strategy, path: str) -> str:
    """Where this process saves what would go to ``path``: ``path`` on the chief, a fresh
    temporary folder (remove it with :func:`remove_write_dir`) on the other workers."""
    if is_chief(strategy):
        return path
    task_type, index = worker(strategy)
    return tempfile.mkdtemp(prefix=f"tfmusictag-{task_type}{index}-")


def remove_write_dir(strategy: tf.distribute.Strategy, path: str) -> None:
    """Delete a non-chief's temporary :func:`write_dir` (nothing on the chief)."""
    if not is_chief(strategy):
        shutil.rmtree(path, ignore_errors=True)


def describe_devices(strategy: Optional[tf.distribute.Strategy] = None) -> str:
    """One line saying what computes: ``'/cpu:0 (CPU, 2 cores); no GPU visible'``, ``'2 replicas:
    /gpu:0 (NVIDIA H100 80GB HBM3), /gpu:1 (...)'``, ``'2 replicas in 2 processes; this one (worker
    0): /cpu:0 (CPU, 2 cores)'``."""
    strategy = strategy or tf.distribute.get_strategy()
    gpus = tf.config.list_physical_devices("GPU")
    names = {}
    for i, gpu in enumerate(gpus):
        details = tf.config.experimental.get_device_details(gpu)
        names[f"/gpu:{i}"] = details.get("device_name", "GPU")
    n = strategy.num_replicas_in_sync
    try:
        local = list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy has none: TensorFlow's own placement
        local = []
    if not local:
        local = ["/gpu:0"] if gpus else ["/cpu:0"]

    def name(device):
        d = tf.DeviceSpec.from_string(device)
        kind = (d.device_type or "CPU").upper()
        short = f"/{kind.lower()}:{d.device_index or 0}"
        if kind == "GPU":
            return f"{short} ({names.get(short, 'GPU')})"
        return f"{short} (CPU, {os.cpu_count()} cores)"

    text = ", ".join(name(d) for d in local)
    if n > 1:
        text = f"{n} replicas: {text}"
    elif len(gpus) > 1:
        text += f" ({len(gpus)} GPUs visible; train --strategy=mirrored uses them all)"
    if is_cluster(strategy):
        task_type, index = worker(strategy)
        spec = strategy.cluster_resolver.cluster_spec().as_dict()
        processes = sum(len(v) for k, v in spec.items() if k in ("chief", "worker"))
        text = (f"{n} replica{'s' if n != 1 else ''} in {processes} processes; this one ({task_type} {index}"
                f"{', writes the run' if is_chief(strategy) else ''}): {', '.join(name(d) for d in local)}")
    if not gpus:
        text += "; no GPU visible"
    return text
