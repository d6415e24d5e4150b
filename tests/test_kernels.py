"""CPU kernels and precision (:mod:`tfmusictag.kernels`): the choice per CPU, the bfloat16 opt-in
and its refusal, and the GPU benchmark's code paths run on the CPU."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from support import ENV, run_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AVX2 = {"sse4_2", "avx", "avx2", "fma", "f16c"}  # an AMD CPU with AVX2 only
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16"}  # AMD with AVX-512
AMX = AVX2 | {"avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16"}  # Intel


def test_the_kernels_follow_the_cpu_s_neural_network_instructions():
    from tfmusictag.kernels import choose_kernels

    assert choose_kernels("auto", AVX2) == "tensorflow"
    assert choose_kernels("auto", AVX512) == "onednn"
    assert choose_kernels("auto", AMX) == "onednn"
    assert choose_kernels("auto", AVX2 | {"avx_vnni"}) == "onednn"  # Intel's AVX-VNNI without AVX-512
    assert choose_kernels("auto", ()) is None  # flags unknown: TensorFlow's own default stands
    assert choose_kernels("tensorflow", AMX) == "tensorflow" and choose_kernels("onednn", AVX2) == "onednn"


def test_apply_sets_tensorflow_s_switch_and_keeps_the_user_s():
    from tfmusictag.errors import ParameterError
    from tfmusictag.kernels import apply, cpu_flags

    env = {}
    assert apply("onednn", env) == "onednn" and env["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert apply("tensorflow", env) == "tensorflow" and env["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert apply("auto", {"TF_ENABLE_ONEDNN_OPTS": "1"}) == "onednn"  # the user's setting wins over auto
    env = {}
    chosen = apply("auto", env)
    if cpu_flags():
        assert env["TF_ENABLE_ONEDNN_OPTS"] == ("1" if chosen == "onednn" else "0")
    with pytest.raises(ParameterError, match="kernels='fast'"):
        apply("fast", {})


def test_cpu_flags_reads_proc_cpuinfo_and_nothing_where_there_is_none(tmp_path):
    from tfmusictag.kernels import cpu_flags

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n")
    assert cpu_flags(str(info)) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(str(tmp_path / "none")) == frozenset()


def test_bfloat16_is_refused_in_one_line_where_the_cpu_or_the_kernels_cannot_run_it():
    from tfmusictag.errors import ParameterError
    from tfmusictag.kernels import check_precision

    check_precision("float32", AVX2, {})
    check_precision("bfloat16", AVX512, {"TF_ENABLE_ONEDNN_OPTS": "1"})
    check_precision("bfloat16", AMX, {})
    with pytest.raises(ParameterError, match="no bfloat16 instructions.*avx512_bf16, amx_bf16"):
        check_precision("bfloat16", AVX2, {})
    with pytest.raises(ParameterError, match="oneDNN"):
        check_precision("bfloat16", AMX, {"TF_ENABLE_ONEDNN_OPTS": "0"})
    with pytest.raises(ParameterError, match="precision='int4'"):
        check_precision("int4", AMX, {})


@pytest.mark.onednn
def test_predict_in_bfloat16_tags_as_float32_does_or_refuses_cleanly(tmp_path):
    """Where this CPU has bfloat16 and oneDNN is on, ``--precision=bfloat16`` tags close to float32
    (its products in bfloat16: 8 bits of mantissa); elsewhere it is one line and exit status 2."""
    from conftest import tone, write_audio
    from tfmusictag.kernels import BFLOAT16_FEATURES, choose_kernels, cpu_flags

    song = str(tmp_path / "song.wav")
    t = np.arange(20 * 16000) / 16000
    write_audio(song, (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + tone(880.0, 20, 16000)[:, 0] * 0.2)
                .astype(np.float32), 16000, "WAV", "PCM_16")
    switch = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    runs = (switch or ("1" if choose_kernels("auto") == "onednn" else "0")) in ("1", "true")
    allowed = any(f in cpu_flags() for f in BFLOAT16_FEATURES) and runs
    low = run_module("tfmusictag.predict", "--model=MTT_musicnn", "--top_k=0", "--precision=bfloat16", song, check=False)
    if not allowed:
        assert low.returncode == 2, low.stderr
        assert "--precision=bfloat16" in low.stderr and "Traceback" not in low.stderr
        return
    assert low.returncode == 0, low.stderr
    full = run_module("tfmusictag.predict", "--model=MTT_musicnn", "--top_k=0", song)
    a, b = json.loads(full.stdout), json.loads(low.stdout)
    diff = max(abs(a["tags"][k] - b["tags"][k]) for k in a["tags"])
    assert 0 < diff < 0.05, diff  # changed (bfloat16 ran), and by little
    assert "precision bfloat16" in low.stderr


def test_predict_says_which_kernels_it_runs(tmp_path):
    from conftest import tone, write_audio

    song = str(tmp_path / "song.wav")
    write_audio(song, tone(440.0, 4, 16000), 16000, "WAV", "PCM_16")
    done = run_module("tfmusictag.predict", "--model=MTT_musicnn", "--kernels=tensorflow", song)
    assert "CPU kernels: tensorflow" in done.stderr
    bad = run_module("tfmusictag.predict", "--model=MTT_musicnn", "--kernels=fast", song, check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


def test_the_gpu_benchmark_s_code_paths_run_on_the_cpu(tmp_path):
    """``benchmarks/bench_gpu.py --device=cpu --quick``: the front end placed and timed, tagging,
    three variants' training steps — the paths a GPU run takes, on the CPU."""
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_gpu.py"), "--device=cpu", "--quick",
                           f"--output={out}"], env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(out.read_text())
    assert list(r["front_end"]) == ["/CPU:0"] and r["front_end"]["/CPU:0"]["computed_on"].endswith("CPU:0")
    assert r["front_end"]["/CPU:0"]["audio_seconds_per_second"] > 0
    assert r["tagging"]["tracks"] == 2 and r["tagging"]["tracks_per_second"] > 0
    assert set(r["training"]) == {"mfcc_finetuned_lstm", "finetuned_cnn_finetuned_lstm", "cnn_mean"}
    assert all(v["steps_per_second"] > 0 and v["parameters"] > 0 for v in r["training"].values())
    assert r["measured"]["cpu_flags"] is not None and "gpu" not in r
    if shutil.which("nvidia-smi") is None:  # asked for a GPU where there is none: one line, nothing written
        no_gpu = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_gpu.py"),
                                 f"--output={tmp_path / 'none.json'}"], env=ENV, capture_output=True, text=True, timeout=120)
        assert no_gpu.returncode == 2 and "no GPU" in no_gpu.stderr and "Traceback" not in no_gpu.stderr
        assert not (tmp_path / "none.json").exists()
