"""Shared fixtures: real audio files of every common format, written with libsndfile."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
import soundfile as sf

# (id, soundfile format, subtype, extension, sample rate, channels)
FORMATS = [
    ("wav16-8k-mono", "WAV", "PCM_16", "wav", 8000, 1),
    ("wav24-96k-stereo", "WAV", "PCM_24", "wav", 96000, 2),
    ("wavfloat-192k-stereo", "WAV", "FLOAT", "wav", 192000, 2),
    ("flac-44k-stereo", "FLAC", "PCM_16", "flac", 44100, 2),
    ("flac-48k-6ch", "FLAC", "PCM_24", "flac", 48000, 6),
    ("ogg-44k-stereo", "OGG", "VORBIS", "ogg", 44100, 2),
    ("opus-48k-stereo", "OGG", "OPUS", "opus", 48000, 2),
    ("mp3-44k-stereo", "MP3", "MPEG_LAYER_III", "mp3", 44100, 2),
    ("mp3-22k-mono", "MP3", "MPEG_LAYER_III", "mp3", 22050, 1),
    ("mp3-16k-mono", "MP3", "MPEG_LAYER_III", "mp3", 16000, 1),
    ("aiff-22k-stereo", "AIFF", "PCM_16", "aiff", 22050, 2),
]


def tone(freq, seconds, sr, channels=1, amplitude=0.5):
    t = np.arange(int(round(seconds * sr))) / sr
    x = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def write_audio(path, data, sr, fmt, subtype, block=1 << 15):
    """Write in blocks: libsndfile 1.2.2 has crashed writing long Ogg files in one call."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=data.shape[1], format=fmt, subtype=subtype) as f:
        for i in range(0, len(data), block):
            f.write(data[i:i + block])
    return str(path)


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="session")
def format_files(audio_dir):
    """One 3 s, 1 kHz tone per format in FORMATS: {id: path}."""
    out = {}
    for fid, fmt, subtype, ext, sr, ch in FORMATS:
        out[fid] = write_audio(audio_dir / f"{fid}.{ext}", tone(1000.0, 3.0, sr, ch), sr, fmt, subtype)
    return out


@pytest.fixture(scope="session")
def demo_tiny(tmp_path_factory):
    """The `tiny` demo catalog built once per session: (data_dir, builder)."""
    import tensorflow_datasets as tfds

    import tfmusictag.datasets  # noqa: F401

    data_dir = str(tmp_path_factory.mktemp("tfds"))
    builder = tfds.builder("demo_catalog/tiny", data_dir=data_dir)
    builder.download_and_prepare()
    return data_dir, builder


#: The settings of the shared trained model (:func:`trained`): a small BoF model trained in seconds.
TINY = {"model.temporal.bof.num_clusters": 16, "model.temporal.bof.epochs": 1, "model.classifier.hidden": 16}


def train_args(data_dir, model_dir, steps, extra=()):
    sets = [f"--set={k}={json.dumps(v)}" for k, v in TINY.items()]
    return ["--dataset=demo_catalog/tiny", f"--data_dir={data_dir}", "--variant=mfcc_bof", f"--steps={steps}",
            "--batch_size=2", "--checkpoint_every=5", "--noprogress", f"--model_dir={model_dir}", *sets, *extra]


@pytest.fixture(scope="session")
def trained(demo_tiny, tmp_path_factory):
    """A model trained by `python -m tfmusictag.train` once per session: (run directory, its summary)."""
    from support import run_module

    data_dir, _ = demo_tiny
    model_dir = str(tmp_path_factory.mktemp("run") / "bof")
    out = run_module("tfmusictag.train", *train_args(data_dir, model_dir, 20))
    return model_dir, json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def exported(trained, tmp_path_factory):
    """`trained`, exported by `python -m tfmusictag.export` once per session: its SavedModel version folder."""
    from support import run_module

    model_dir, _ = trained
    base = str(tmp_path_factory.mktemp("saved_models"))
    out = run_module("tfmusictag.export", f"--model_dir={model_dir}", "--name=tiny", f"--base_dir={base}", "--top_k=3")
    path = out.stdout.strip().splitlines()[-1]
    assert path == os.path.join(base, "tiny", "1")
    return path


@pytest.fixture(scope="session")
def models():
    """Every variant, tiny (:mod:`tiny_models`), its unsupervised parts fitted: shared by the model
    tests (``test_variants``, ``test_tagger``, ``test_stages``), built once."""
    from tiny_models import ALL, TAGS, fit_unsupervised, signal, small
    from tfmusictag.variants import build_variant

    out = {}
    for name in ALL:
        m = build_variant(name, TAGS, small(name))
        fit_unsupervised(m, np.stack([signal(40, 1), signal(40, 2)]))
        out[name] = m
    return out


def require_musicnn_weights(name="MTT_vgg"):
    """Skip the calling test when musicnn's checkpoints are not downloaded (``make test`` downloads them)."""
    from tfmusictag.pretrained import musicnn

    try:
        musicnn.weights_dir(name)
    except FileNotFoundError:
        pytest.skip("musicnn checkpoints not downloaded (make test downloads them)")


def pytest_report_header(config):
    """Which kernels this run tests: TensorFlow turns oneDNN on by default on some CPUs only."""
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TensorFlow's default for this CPU")
    return f"TF_ENABLE_ONEDNN_OPTS: {setting}"


#: The test modules that take longest (minutes on two cores), longest first: collected first, so
#: that `make test`'s worker processes (one per core, a module at a time) take them up first and
#: finish together rather than one of them starting the longest module last.
LONGEST_FIRST = ("test_documented_commands", "test_distributed", "test_product", "test_reproduction",
                 "test_training", "test_variants", "test_tuning", "test_pretrained", "test_cli")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(os.path.basename(item.nodeid.split("::")[0]).removesuffix(".py"), len(rank)))
