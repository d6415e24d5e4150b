"""Beyond one process, proven on this machine: ``train --strategy=mirrored`` over two logical CPUs
and ``--strategy=multi_worker`` as a chief and a worker on localhost ports (``TF_CONFIG``) compute
the model of a one-process run with the same global batch and seed; the chief alone writes the run;
a job whose worker is killed continues from the chief's checkpoint when it is restarted."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tfmusictag.errors import ParameterError
from tfmusictag.pretrained import load_model
from tfmusictag.rundir import RunDir
from tfmusictag.training import distribute
from support import ENV, HELPERS  # noqa: E402

KILL = os.path.join(HELPERS, "kill_train.py")
REPLICA_STEPS = os.path.join(HELPERS, "replica_steps.py")
#: A global batch of 3 over 2 replicas splits unevenly (2 + 1), and 4 steps over 9 tracks cross an
#: epoch (reshuffled): the loss must still be the mean over the global batch. No dropout: replicas
#: draw their own dropout masks, so a model with dropout is the same only in distribution.
FLAGS = ["--dataset=demo_catalog/tiny", "--variant=mfcc_bof", "--batch_size=3", "--checkpoint_every=2",
         "--set=max_seconds=20", "--set=model.temporal.bof.num_clusters=8", "--set=model.temporal.bof.epochs=1",
         "--set=model.classifier.hidden=8", "--noprogress"]
#: float32 sums in another order (all-reduce of per-replica gradients): measured ≤ 3e-8 here.
ATOL = 1e-6


def _weights(path):
    return {v.path: v.numpy() for v in load_model(path).weights}


def _assert_same(run_dir, reference):
    got = _weights(run_dir)
    assert set(got) == set(reference)
    for path, value in reference.items():
        np.testing.assert_allclose(got[path], value, atol=ATOL, err_msg=path)


def _cmd(*args, kill=None):
    prefix = [sys.executable, KILL, kill] if kill else [sys.executable, "-m", "tfmusictag.train"]
    return [*prefix, *FLAGS, *args]


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _cluster_envs():
    chief, worker = (f"localhost:{p}" for p in _free_ports(2))
    cluster = {"chief": [chief], "worker": [worker]}
    return [dict(ENV, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": t, "index": 0}}))
            for t in ("chief", "worker")]


def _cluster(args, kill_worker=None):
    """Chief and worker of one job; returns both CompletedProcesses."""
    envs = _cluster_envs()
    procs = [subprocess.Popen(_cmd("--strategy=multi_worker", *args, kill=kill), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for env, kill in zip(envs, (None, kill_worker))]
    if kill_worker:  # the worker dies; the cluster manager then stops the whole job (here: the chief)
        procs[1].wait(timeout=600)
        time.sleep(1)
        procs[0].send_signal(signal.SIGKILL)
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=600), *p.communicate()) for p in procs]


@pytest.fixture(scope="module")
def reference(demo_tiny, tmp_path_factory):
    """One-process runs of 4 and 6 steps, and of 4 steps in batches of 8 (the tiny catalog's 9
    training tracks leave a last batch of 1: one replica's share of it is empty): the runs the
    distributed ones must equal."""
    data_dir, _ = demo_tiny
    root = tmp_path_factory.mktemp("distributed")
    runs = {4: [], 6: [], "b8": ["--batch_size=8"]}
    procs = {key: subprocess.Popen(_cmd(f"--data_dir={data_dir}", f"--steps={4 if key == 'b8' else key}",
                                        f"--model_dir={root / f'one_{key}'}", *extra), env=ENV,
                                   stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
             for key, extra in runs.items()}
    for key, p in procs.items():
        assert p.wait(timeout=600) == 0, p.stderr.read()
        assert "devices: /cpu:0 (CPU" in p.stderr.read()
    return root, data_dir, {key: _weights(str(root / f"one_{key}")) for key in procs}


def test_unknown_strategy_and_missing_tf_config_are_one_clear_error(monkeypatch):
    with pytest.raises(ParameterError, match="must be one of default, mirrored, multi_worker"):
        distribute.make_strategy("parameter_server")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ParameterError, match="needs TF_CONFIG"):
        distribute.make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}')
    with pytest.raises(ParameterError, match="not a valid cluster spec"):
        distribute.make_strategy("multi_worker")
    out = subprocess.run([sys.executable, "-m", "tfmusictag.train", "--model_dir=/tmp/x", "--strategy=multi_worker"],
                         env={k: v for k, v in ENV.items() if k != "TF_CONFIG"}, capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "needs TF_CONFIG" in out.stderr


@pytest.mark.onednn
@pytest.mark.slow
def test_mirrored_over_two_cpu_replicas_equals_one_device(reference):
    root, data_dir, ref = reference
    run_dir = str(root / "mirrored")
    out = subprocess.run(_cmd(f"--data_dir={data_dir}", "--steps=4", f"--model_dir={run_dir}", "--strategy=mirrored",
                              "--devices=cpu:0,cpu:1"), env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "devices: 2 replicas: /cpu:0 (CPU" in out.stderr and "/cpu:1 (CPU" in out.stderr
    _assert_same(run_dir, ref[4])


@pytest.mark.slow
def test_multi_worker_chief_and_worker_equal_one_process(reference):
    root, data_dir, ref = reference
    run_dir = str(root / "multi_worker")
    chief, worker = _cluster([f"--data_dir={data_dir}", "--steps=4", f"--model_dir={run_dir}"])
    assert chief.returncode == 0, chief.stderr
    assert worker.returncode == 0, worker.stderr
    assert "2 replicas in 2 processes; this one (chief 0, writes the run)" in chief.stderr
    assert "this one (worker 0)" in worker.stderr and f"the chief writes {run_dir}" in worker.stderr
    assert json.loads(chief.stdout.splitlines()[-1])["tracks"] == 2 and not worker.stdout.strip()
    _assert_same(run_dir, ref[4])
    # only the chief's checkpoints are in the run; the worker's temporary ones are gone
    assert sorted(os.listdir(RunDir(run_dir).checkpoints)) == ["checkpoint", "ckpt-2.data-00000-of-00001",
                                                               "ckpt-2.index", "ckpt-4.data-00000-of-00001",
                                                               "ckpt-4.index"]


@pytest.mark.slow
def test_a_job_whose_worker_is_killed_continues_when_restarted(reference):
    """BackupAndRestore's semantics in our loop: the worker gets SIGKILL after checkpoint 2, the
    job is stopped, then started again with the same command (no ``--resume``): it continues from
    the chief's latest checkpoint and ends with the uninterrupted run's model."""
    root, data_dir, ref = reference
    run_dir = str(root / "restarted")
    args = [f"--data_dir={data_dir}", "--steps=6", f"--model_dir={run_dir}"]
    chief, worker = _cluster(args, kill_worker="after_checkpoint:2")
    assert worker.returncode == -9 and chief.returncode == -9
    assert RunDir(run_dir).latest_checkpoint() is not None and not os.path.exists(os.path.join(run_dir, "model.keras"))
    chief, worker = _cluster(args)
    assert chief.returncode == 0, chief.stderr
    assert worker.returncode == 0, worker.stderr
    resumed_at = RunDir(run_dir).read_metrics()["resumed_at_step"]
    assert resumed_at in (0, 2) and f"resumed {run_dir} at step {resumed_at}" in chief.stderr
    assert f"resumed {run_dir} at step {resumed_at}" in worker.stderr  # both continue from the chief's checkpoint
    _assert_same(run_dir, ref[6])


@pytest.mark.slow
def test_a_last_batch_smaller_than_the_replicas_trains_as_one_process(reference):
    """9 training tracks in batches of 8 over a chief and a worker: the last batch of each epoch
    is 1 track, one replica's share of it empty (1 + 0). The job runs and equals one process."""
    root, data_dir, ref = reference
    run_dir = str(root / "multi_worker_b8")
    chief, worker = _cluster([f"--data_dir={data_dir}", "--steps=4", "--batch_size=8", f"--model_dir={run_dir}"])
    assert chief.returncode == 0, chief.stderr
    assert worker.returncode == 0, worker.stderr
    _assert_same(run_dir, ref["b8"])


@pytest.mark.onednn
@pytest.mark.slow
def test_every_stage_trains_on_an_empty_replica_share_as_on_one_device():
    """Each temporal stage (BoF, both LSTMs, mean, max), each trainable CNN with batch norm (the
    thesis's, musicnn's and its VGG), and the cached segment-vector and track-embedding inputs, on
    two replicas against one device: global batches of 1 (1 + 0, fewer tracks than replicas), 3
    (2 + 1), 1. With oneDNN on, a convolution of an empty share returns the wrong shape and a max
    pooling's gradient aborts (:func:`tfmusictag.shapes.batch_safe`): run with both settings."""
    # two processes, each half of the cases (a core each where the other is free)
    halves = (("bof", "hierarchical_lstm", "cnn_lstm", "mean", "musicnn"),
              ("max", "cached_segments_lstm", "cached_embedding", "vgg"))
    runs = [subprocess.Popen([sys.executable, REPLICA_STEPS, *half], env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for half in halves]
    diffs = {}
    try:
        for run in runs:
            stdout, stderr = run.communicate(timeout=600)
            assert run.returncode == 0, stderr
            diffs.update(json.loads(stdout.splitlines()[-1]))
    finally:  # one failed: the other is not left running
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert set(diffs) == {"bof", "hierarchical_lstm", "cnn_lstm", "mean", "max", "cached_segments_lstm",
                          "cached_embedding", "musicnn", "vgg"}
    for case, d in diffs.items():
        # 1 + 0: the empty replica adds exact zeros to every sum (gradients, batch statistics); what
        # remains is the order of float32 sums inside multithreaded kernels (0 or ~1e-9, run to run)
        assert d["first"] <= 1e-7, (case, d)
        # after a 2 + 1 step the sums run in another order; Adam's normalised steps magnify that
        # float32 noise in the CNN's batch-norm weights (~5e-5 here; reordering the tracks of a
        # batch on one device moves them as much) and nowhere else
        if case in ("musicnn", "vgg"):
            # 3 s patches: a batch's shorter tracks are padded to its longest with whole patches of
            # silence, which enter the batch statistics; split 2 + 1 the replicas pad less than one
            # device does, so the moving statistics differ by design after that step
            continue
        assert d["all"] <= (1e-3 if case in ("cnn_lstm", "mean", "max") else ATOL), (case, d)
