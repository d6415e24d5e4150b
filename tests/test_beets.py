"""The beets plugin (``beetsplug/tfmusictag.py``) in a real beets library the test creates:
``beet import``, ``beet tfmusictag``, ``beet ls tfm_tags:…``, ``beet write`` — beets from PyPI, its
own command, its own database."""

import os
import sqlite3
import subprocess
import sys

import pytest

from conftest import tone, write_audio
from support import ENV

pytest.importorskip("beets")

TAGS, THRESHOLDS = ("calm", "dark", "piano"), (0.5, 0.45, 0.55)


@pytest.fixture(scope="module")
def beets_home(tmp_path_factory):
    from tfmusictag.reduction import ReductionConfig
    from tfmusictag.rundir import write_model_dir
    from tfmusictag.tagger import TaggerConfig, TrackTagger
    from tfmusictag.temporal import TemporalConfig

    root = tmp_path_factory.mktemp("beets")
    model = write_model_dir(TrackTagger(TaggerConfig(tags=TAGS, reduction=ReductionConfig(type="mfcc"),
                                                     temporal=TemporalConfig(type="mean"), thresholds=THRESHOLDS)),
                            str(root / "model"))
    music = root / "music"
    music.mkdir()
    for i, (name, fmt, subtype) in enumerate([("one.flac", "FLAC", "PCM_16"), ("two.mp3", "MP3", "MPEG_LAYER_III"),
                                              ("three.ogg", "OGG", "VORBIS")]):
        write_audio(music / name, tone(250.0 + 120 * i, 3.0, 22050, 2), 22050, fmt, subtype)
    config = root / "config"
    config.mkdir()
    (config / "config.yaml").write_text(
        f"directory: {root / 'lib'}\nlibrary: {root / 'beets.db'}\nplugins: tfmusictag\n"
        "import:\n  copy: no\n  write: no\n  autotag: no\n"
        f"tfmusictag:\n  model: {model}\n  library: {root / 'tfmusictag.db'}\n")
    env = dict(ENV, BEETSDIR=str(config), HOME=str(root))
    return root, music, env


def beet(env, *args):
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "beet"), *args], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0 and "Traceback" not in out.stderr, (args, out.stdout[-2000:], out.stderr[-3000:])
    return out


@pytest.mark.slow
def test_beet_tfmusictag_tags_items_that_beet_ls_finds_and_beet_write_puts_into_the_files(beets_home):
    from tfmusictag.library.filetags import audio_digest, read_fields

    root, music, env = beets_home
    beet(env, "import", "-A", "-q", str(music))
    assert len(beet(env, "ls", "-p").stdout.split()) == 3
    sound = {p: audio_digest(os.path.join(music, p)) for p in os.listdir(music)}
    out = beet(env, "-v", "tfmusictag")
    assert "tagged 3 items (3 newly" in out.stderr + out.stdout
    # the plugin's values are the store's
    db = sqlite3.connect(str(root / "tfmusictag.db"))
    assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 3
    listed = beet(env, "ls", "-f", "$path|$tfm_tags|$tfm_calm|$tfm_dark|$tfm_piano").stdout.strip().splitlines()
    rows = {line.split("|")[0]: line.split("|")[1:] for line in listed}
    assert len(rows) == 3
    for path, (tags, *probs) in rows.items():
        decided = [t for t, p, cut in zip(TAGS, map(float, probs), THRESHOLDS) if p >= cut - 1e-4]
        assert set(filter(None, tags.split("; "))) == set(decided), (path, tags, probs)
    with_calm = [p for p, (tags, *_) in rows.items() if "calm" in tags.split("; ")]
    found = beet(env, "ls", "-p", "tfm_tags:calm").stdout.split()
    assert sorted(found) == sorted(with_calm)
    # again: nothing is tagged twice (the store knows the tracks)
    out = beet(env, "-v", "tfmusictag")
    assert "(0 newly" in out.stderr + out.stdout and "3 already in the store" in out.stderr + out.stdout
    beet(env, "write")
    for path, (tags, *_) in rows.items():
        assert (read_fields(path)["TFMUSICTAG_TAGS"] or "") == tags
        assert audio_digest(path) == sound[os.path.basename(path)]
