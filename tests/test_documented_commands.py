"""Every command and code block of the README and the docs, executed as written on tiny data.

A documented command that fails as written is a defect a new user meets first. Each fenced
``bash`` and ``python`` block of ``README.md`` and ``docs/*.md`` runs here, line by line, in a
folder laid out as the docs assume: a home folder with ``~/Music/album`` and ``~/my_catalog`` (the
``tagged_catalog`` dummy catalog with a ``test.txt``), ``song.flac``, ``song.mp3``, ``album/`` and
``more/*.mp3`` beside it, ``saved_models/demo_tagger/1`` an exported model. Only sizes are mapped
(:data:`TINY`: the tiny demo catalog for the small one and for the experiments' source catalog, a
few steps for hundreds) and ``...`` ("your other flags") becomes the tiny catalog. What cannot run
on one machine without network is listed in :data:`NOT_RUN` with the reason and where its part is
tested; a new documented command is either run or listed there, or this test fails.
"""

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import tone, write_audio
from support import ENV

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))

#: Documented commands not executed here: a marker in the command → why, and what tests its part.
NOT_RUN = {
    "make demo": "the demo at a tiny scale: test_product.py::test_the_demo_runs_end_to_end_at_a_tiny_scale",
    "make test": "this suite",
    "beet ": "beets's own command with the plugin configured: tests/test_beets.py runs these in a real beets library",
    "docker run": "TF Serving's container (only PyPI, Debian and npm are reachable); a SavedModel loaded by "
                  "TensorFlow alone: test_product.py::test_saved_model_runs_in_a_process_that_imports_only_tensorflow",
    "localhost:850": "a client of a running TF Serving (see docker run)",
    "TF_CONFIG=": "a cluster of hosts; a chief and a worker on this machine: test_distributed.py",
    "KERASTUNER_": "a tuner cluster of hosts; KerasTuner's distributed mode: test_tuning.py",
    "gs://": "Google Cloud Storage and Dataflow",
    "FlinkRunner": "a Flink job server",
    "SparkRunner": "a Spark job server",
    "--devices=gpu": "two GPUs",
    "--preset=thesis": "the thesis's full experiments on MagnaTagATune's audio (hours)",
    "--table=all": "every table of the thesis, each variant trained (half an hour on two cores); one table: "
                   "the --table=4.9 line here, and test_reproduction.py",
}

#: Sizes mapped to tiny data (what the command means is unchanged).
TINY = [("demo_catalog/small", "demo_catalog/tiny"), ("--steps=3000", "--steps=6"), ("--steps=300", "--steps=3"),
        ("steps=300", "steps=3"), ("--steps=100", "--steps=3"), ("--seeds=5", "--seeds=1"),
        ("--set steps=1000", "--set steps=3"), ("--grid=Z=64,128,256", "--grid=Z=8,16"), ("--grid=H=64,128", "--grid=H=8"),
        ('"Z": [64, 128], "H": [64, 128]', '"Z": [8], "H": [8, 16]'), ("--set max_seconds=15", "--set max_seconds=3")]
#: Appended per program where the command leaves the length to its defaults: a few steps.
SHORT = {"train": "--steps=4", "tune": "--steps=3"}


def _blocks():
    """``(page, language, code)`` of every fenced bash/python block."""
    out = []
    for page in PAGES:
        for lang, body in re.findall(r"```([a-z]*)\n(.*?)```", open(page).read(), flags=re.S):
            if lang in ("bash", "python"):
                out.append((os.path.relpath(page, ROOT), lang, body))
    return out


def _bash_commands(body):
    """Commands of a bash block: continuation lines and quoted strings over several lines joined,
    comments dropped."""
    commands, pending = [], ""
    for line in body.replace("\\\n", " ").splitlines():
        if not pending and line.lstrip().startswith("#"):
            continue
        pending = f"{pending} {line.strip()}" if pending else line.strip()
        if pending.count("'") % 2 or pending.count('"') % 2:
            continue  # a quoted string goes on
        command = re.sub(r"\s+#[^'\"]*$", "", pending).strip()
        pending = ""
        if command:
            commands.append(command)
    return commands


def _not_run(text):
    return next((why for marker, why in NOT_RUN.items() if marker in text), None)


def _tiny(command, number=0):
    """``command`` with :data:`TINY`'s sizes; ``...`` (your other flags) is the tiny demo catalog and,
    where the command names none, its own run folder (``runs/doc<number>``)."""
    for big, small in TINY:
        command = command.replace(big, small)
    m = re.search(r"-m tfmusictag\.([a-z_]+)", command)
    program = m.group(1) if m else None
    extra = []
    if program in ("train", "tune", "experiments") and "--dataset" not in command and "--resume" not in command:
        extra.append("--dataset=demo_catalog/tiny")
    if program == "experiments" and "--source_dataset" not in command:
        extra.append("--source_dataset=demo_catalog/tiny")  # not demo_catalog/source, rendered first
    if program == "train" and "--model_dir" not in command:
        extra.append(f"--model_dir=runs/doc{number}")
    if program == "train" and "bof" in command:
        extra.append("--set model.temporal.bof.num_clusters=8")  # a codebook the tiny catalog can fill
    if program == "train" and "finetuned_cnn" in command:
        extra += ["--set max_seconds=6", "--batch_size=2"]  # fine-tuning a CNN over whole tracks: a short excerpt
    if program in SHORT and "--steps" not in command and "--resume" not in command:
        extra.append(SHORT[program])
    if " ..." in command:
        command = command.replace(" ...", " " + " ".join(extra))
    elif extra:
        command += " " + " ".join(extra)
    venv = os.path.dirname(sys.executable)
    return command.replace(".venv/bin/python", sys.executable).replace(".venv/bin/tfds", os.path.join(venv, "tfds"))


def _runnable():
    """``(id, page, language, command or code)`` of everything executed, in page order."""
    items = []
    for page, lang, body in _blocks():
        if lang == "python":
            if not _not_run(body):
                items.append((page, lang, body))
            continue
        for command in _bash_commands(body):
            if not _not_run(command):
                items.append((page, lang, command))
    return items


def test_every_documented_command_is_run_or_says_why_not():
    """No documented command escapes: each bash line and python block is run below or is in NOT_RUN."""
    ran = _runnable()
    every = sum(len(_bash_commands(b)) if lang == "bash" else 1 for _, lang, b in _blocks())
    skipped = [c for _, lang, b in _blocks() for c in (_bash_commands(b) if lang == "bash" else [b]) if _not_run(c)]
    assert len(ran) + len(skipped) == every
    assert len(ran) >= 20, ran  # the README's and the tagging, training and transfer pages' commands


@pytest.fixture(scope="module")
def laid_out(demo_tiny, tmp_path_factory):
    """The folders the docs assume, with tiny contents; returns ``(work, env)``."""
    from tfmusictag.rundir import write_model_dir
    from tfmusictag.serving import export_saved_model
    from tfmusictag.tagger import TaggerConfig, TrackTagger
    from tfmusictag.reduction import ReductionConfig
    from tfmusictag.temporal import TemporalConfig

    data_dir, _ = demo_tiny
    base = tmp_path_factory.mktemp("documented")
    home, work = base / "home", base / "work"
    for folder in (home / "Music" / "album", work / "album", work / "more"):
        folder.mkdir(parents=True)
    (home / "tensorflow_datasets").mkdir()
    for name in os.listdir(data_dir):  # the tiny demo catalog, prepared once per session
        os.symlink(os.path.join(data_dir, name), home / "tensorflow_datasets" / name)
    shutil.copytree(os.path.join(ROOT, "datasets", "tagged_catalog", "dummy_data"), home / "my_catalog")
    (home / "my_catalog" / "test.txt").write_text("house/track02.mp3\ncalm/track05.ogg\n")
    for i, (path, fmt, subtype) in enumerate([
            (home / "Music" / "album" / "01 Intro.flac", "FLAC", "PCM_16"), (home / "Music" / "album" / "02.ogg", "OGG", "VORBIS"),
            (work / "song.flac", "FLAC", "PCM_16"), (work / "song.mp3", "MP3", "MPEG_LAYER_III"),
            (work / "album" / "a.wav", "WAV", "PCM_16"), (work / "more" / "b.mp3", "MP3", "MPEG_LAYER_III")]):
        write_audio(path, tone(220.0 * (i + 1), 4.0, 22050, 2), 22050, fmt, subtype)
    config = TaggerConfig(tags=("house", "kick", "calm"), reduction=ReductionConfig(type="mfcc"),
                          temporal=TemporalConfig(type="mean"), thresholds=(0.5, 0.4, 0.6))
    model = TrackTagger(config)
    write_model_dir(model, str(base / "model"))
    export_saved_model(model, str(work / "saved_models"), "demo_tagger", version=1)
    # pretrained weights stay where `make test` fetched them
    cache = os.environ.get("TFMUSICTAG_HOME", os.path.join(os.path.expanduser("~"), ".cache", "tfmusictag"))
    env = dict(ENV, HOME=str(home), PYTHONPATH=ROOT, TFMUSICTAG_HOME=cache)
    pages = {}

    def work_for(page):
        """Each page's commands run in a folder of their own, in order (one page's ``runs/mine`` is
        not another's)."""
        if page not in pages:
            pages[page] = base / f"work-{len(pages)}"
            shutil.copytree(work, pages[page], symlinks=True)
        return pages[page]

    return work_for, env


@pytest.mark.slow
@pytest.mark.parametrize("page,lang,command", _runnable(),
                         ids=[f"{os.path.basename(p)}:{c.split(chr(10))[0][:60]}" for p, _, c in _runnable()])
def test_the_documented_command_runs_as_written(laid_out, page, lang, command):
    work_for, env = laid_out
    work = work_for(page)
    number = _runnable().index((page, lang, command))
    if lang == "python":
        code = _tiny(command, number)
        out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True,
                             timeout=900)
    else:
        out = subprocess.run(_tiny(command, number), shell=True, executable="/bin/bash", cwd=work, env=env,
                             capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, f"{page}: {command}\n{out.stderr[-3000:]}"
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    if "> tags.jsonl" in command:
        lines = (work / "tags.jsonl").read_text().splitlines()
        assert len(lines) >= 3 and all('"decided"' in line for line in lines), lines
