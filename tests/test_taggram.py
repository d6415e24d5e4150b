"""tfmusictag.taggram and ``predict --plot``: a track's tags over time as a PNG or SVG — rows the
best tags first with every decided tag, columns the segments' real times, a size that depends on
the rows and never on the track's length, drawn from the tagging threads."""

import json
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from conftest import tone, write_audio
from support import run_module
from tfmusictag.errors import ParameterError
from tfmusictag.taggram import clock, save_taggram, taggram_figure

TAGS = tuple(f"tag{i}" for i in range(30))


def _probabilities(segments, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.random((segments, len(TAGS))) ** 4
    p[:, 5] = np.linspace(0, 1, segments)  # a tag that grows through the track
    return p


def _png(path):
    from matplotlib.image import imread

    return imread(path)


def test_rows_are_the_best_tags_first_and_every_decided_tag_is_shown():
    p = _probabilities(40)
    track = p.mean(0)
    worst = int(np.argmin(track))
    fig = taggram_figure(p, np.arange(40) * 29.12, TAGS, segment_seconds=29.12, decided=["tag5", TAGS[worst]],
                         max_tags=8)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == 8 and "● tag5" in labels and f"● {TAGS[worst]}" == labels[-1]
    names = [label.lstrip("● ") for label in labels]
    order = [TAGS[j] for j in np.argsort(-track)]
    expected = {"tag5", TAGS[worst]} | set([t for t in order if t not in ("tag5", TAGS[worst])][:6])
    assert set(names) == expected and names == sorted(names, key=lambda n: -track[TAGS.index(n)])
    # the rows follow the track's probabilities when given, and the time axis the real start times
    fig = taggram_figure(p, 600 + np.arange(40) * 3.0, TAGS, segment_seconds=3.0,
                         track_probabilities=np.eye(len(TAGS))[29], max_tags=1)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["tag29"]
    assert fig.axes[0].get_xlim() == pytest.approx((10.0, 12.0))
    assert clock(61.5) == "61:30" and clock(0.25) == "0:15"


def test_a_60_minute_track_is_drawn_as_a_10_minute_one_and_not_blank(tmp_path):
    """Same picture size whatever the length (the image holds every segment), time in minutes,
    the colours of the data (a blank or uniform picture fails)."""
    sizes = {}
    for minutes in (10, 60):
        segments = minutes * 20  # musicnn's 3 s patches
        path = save_taggram(str(tmp_path / f"{minutes}.png"), _probabilities(segments), np.arange(segments) * 3.0,
                            TAGS, segment_seconds=3.0, decided=["tag5"], title=f"{minutes} min")
        image = _png(path)
        sizes[minutes] = image.shape
        assert image[..., :3].std() > 0.1  # not blank
        fig = taggram_figure(_probabilities(segments), np.arange(segments) * 3.0, TAGS, segment_seconds=3.0)
        lo, hi = fig.axes[0].get_xlim()
        ticks = [clock(v) for v in fig.axes[0].get_xticks() if lo - 1e-9 <= v <= hi + 1e-9]
        assert 4 <= len(ticks) <= 11 and ticks[0] == "0:00" and ticks[-1] == f"{minutes}:00"
        assert fig.axes[0].get_xlim()[1] == pytest.approx(minutes)
    assert sizes[10] == sizes[60] == (sizes[10][0], 1000, 4)
    # the row of the growing tag goes from dark to bright, left to right
    image = _png(str(tmp_path / "60.png"))[..., :3].mean(-1)
    fig = taggram_figure(_probabilities(1200), np.arange(1200) * 3.0, TAGS, segment_seconds=3.0, decided=["tag5"])
    ax = fig.axes[0]
    fig.canvas.draw()
    x0, y0, x1, y1 = ax.get_window_extent().extents
    rows = [t.get_text().lstrip("● ") for t in ax.get_yticklabels()]
    y = int(image.shape[0] - (y1 - (rows.index("tag5") + 0.5) * (y1 - y0) / len(rows)))
    line = image[y, int(x0) + 3:int(x1) - 3]
    assert line[: len(line) // 10].mean() < line[-len(line) // 10:].mean() - 0.3


def test_svg_and_bad_requests(tmp_path):
    path = save_taggram(str(tmp_path / "t.svg"), _probabilities(5), np.arange(5) * 29.12, TAGS, segment_seconds=29.12)
    assert ET.parse(path).getroot().tag.endswith("svg")
    assert sorted(os.listdir(tmp_path)) == ["t.svg"]  # no temporary file left
    with pytest.raises(ParameterError, match=r"\.png or \.svg"):
        save_taggram(str(tmp_path / "t.jpg"), _probabilities(5), np.arange(5), TAGS, segment_seconds=1.0)
    with pytest.raises(ParameterError, match="one start time per segment"):
        taggram_figure(_probabilities(5), np.arange(4), TAGS, segment_seconds=1.0)
    with pytest.raises(ParameterError, match="one start time per segment"):
        taggram_figure(np.zeros((0, len(TAGS))), np.zeros(0), TAGS, segment_seconds=1.0)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    from tfmusictag.reduction import ReductionConfig
    from tfmusictag.rundir import write_model_dir
    from tfmusictag.tagger import TaggerConfig, TrackTagger
    from tfmusictag.temporal import TemporalConfig

    return write_model_dir(TrackTagger(TaggerConfig(tags=("calm", "dark", "piano"), reduction=ReductionConfig(type="mfcc"),
                                                    temporal=TemporalConfig(type="mean"), thresholds=(0.5, 0.45, 0.55))),
                           str(tmp_path_factory.mktemp("model") / "model"))


def test_tag_files_draws_every_tagged_track_once_names_repeat_safely(tmp_path, small_model):
    from tfmusictag.tagging import tag_files

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        write_audio(tmp_path / folder / "song.flac", tone(220.0, 65.0, 22050), 22050, "FLAC", "PCM_16")
    (tmp_path / "broken.mp3").write_bytes(b"ID3" + b"\0" * 64)
    out = tmp_path / "pictures"
    records = list(tag_files([str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "broken.mp3")], small_model,
                             plot=str(out)))
    assert [r.get("taggram") for r in records] == [str(out / "song.png"), str(out / "song-2.png"), None]
    assert sorted(os.listdir(out)) == ["song-2.png", "song.png"]
    assert "timeline" not in records[0]  # drawn from the timeline without printing it
    assert _png(records[0]["taggram"])[..., :3].std() > 0.05
    with pytest.raises(ParameterError, match="plot_format"):
        list(tag_files([str(tmp_path / "a")], small_model, plot=str(out), plot_format="jpg"))


def test_predict_plot_writes_svgs_and_names_them(tmp_path, small_model):
    write_audio(tmp_path / "one.ogg", tone(330.0, 40.0, 22050), 22050, "OGG", "VORBIS")
    result = run_module("tfmusictag.predict", f"--model={small_model}", f"--plot={tmp_path / 'out'}",
                        "--plot_format=svg", str(tmp_path / "one.ogg"))
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["taggram"] == str(tmp_path / "out" / "one.svg")
    assert ET.parse(record["taggram"]).getroot().tag.endswith("svg")
