"""tfmusictag.tagging: the one call that tags files — paths and a model in, one record per track out,
in order; broken files and arguments that match nothing are records too, never a stop."""

import os

import numpy as np
import pytest

from tfmusictag import audio
from tfmusictag.errors import ParameterError
from tfmusictag.serving import InferenceModel
from tfmusictag.tagging import UNMATCHED, expand_paths, tag_files
from tfmusictag.thresholds import decide_expected_f1

from conftest import require_musicnn_weights

EXCERPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "demo_excerpt_22k.flac")


def test_expand_paths_keeps_the_order_and_the_arguments_that_match_nothing(tmp_path):
    (tmp_path / "album").mkdir()
    for name in ("b.flac", "a.mp3", "cover.jpg"):
        (tmp_path / "album" / name).write_bytes(b"x")
    (tmp_path / "empty.mp3").mkdir()
    files, unmatched = expand_paths([str(tmp_path / "empty.mp3"), str(tmp_path / "album"), str(tmp_path / "*.ogg")])
    assert [os.path.basename(f) for f in files] == ["a.mp3", "b.flac"]
    assert [(pos, os.path.basename(arg)) for pos, arg, _ in unmatched] == [(0, "empty.mp3"), (2, "*.ogg")]
    assert "the folder" in unmatched[0][2] and "the pattern" in unmatched[1][2]
    with pytest.raises(ParameterError, match="matched no audio file"):
        expand_paths([str(tmp_path / "empty.mp3")])


def test_tag_files_gives_one_record_per_input_in_order(tmp_path):
    require_musicnn_weights("MTT_musicnn")
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"ID3" + b"\0" * 100)
    (tmp_path / "nothing").mkdir()
    tagger = InferenceModel("MTT_musicnn")
    records = list(tag_files([EXCERPT, str(tmp_path / "nothing"), str(broken)], tagger, top_k=0, timeline=True))
    assert [os.path.basename(r["path"]) for r in records] == ["demo_excerpt_22k.flac", "nothing", "broken.mp3"]
    good, unmatched, bad = records
    assert unmatched["error"].startswith(UNMATCHED) and "broken.mp3" in bad["error"]
    for record in records:  # every record has the same fields; one that failed has no tags
        assert {"path", "decided", "tags"} <= set(record)
    assert bad["tags"] == {} == unmatched["tags"] and bad["decided"] is None is unmatched["decided"]
    assert "decided_by" not in bad
    # the record's tags are the whole track's, tagged at once
    probs, _ = tagger.tag(tagger.log_mel(audio.load(EXCERPT, tagger.sample_rate)[None])[0])
    assert list(good["tags"]) == [tagger.tags[i] for i in np.argsort(-probs)]
    np.testing.assert_allclose([good["tags"][t] for t in tagger.tags], probs, atol=5e-5)
    # a pretrained model decides by the expected-F1 rule, and says so
    assert good["decided_by"].startswith("expected F1 per track") and tagger.decision == "expected_f1"
    assert good["decided"] == [tagger.tags[i] for i in np.argsort(-probs) if decide_expected_f1(probs)[i]]
    assert 1 <= len(good["decided"]) < 10
    assert len(good["timeline"]) == 4 and good["duration_seconds"] == pytest.approx(12.0, abs=0.5)


def test_tagging_is_one_call_at_the_top_level():
    import tfmusictag
    from tfmusictag import tagging

    import inspect

    for name in ("tag_files", "tag_file", "tag_waveform"):  # the same call, TensorFlow loaded only when called
        top, inner = inspect.signature(getattr(tfmusictag, name)), inspect.signature(getattr(tagging, name))
        assert list(top.parameters)[:2] == list(inner.parameters)[:2]
        assert top.parameters["model"].default == inner.parameters["model"].default == tagging.DEFAULT_MODEL
    assert tfmusictag.train.__module__ == "tfmusictag" and "resume" in tfmusictag.train.__doc__
    with pytest.raises(AttributeError):
        tfmusictag.no_such_function


def test_tag_waveform_tags_samples_in_memory_as_tag_files_tags_the_file(tmp_path):
    """The waveform entry: the same chunking and the same record as a file holding the samples."""
    import soundfile as sf

    import tfmusictag

    require_musicnn_weights("MTT_musicnn")
    tagger = InferenceModel("MTT_musicnn")
    y = audio.load(EXCERPT, tagger.sample_rate)
    y = np.concatenate([y] * 4)  # longer than one chunk of the model
    path = str(tmp_path / "same.wav")
    sf.write(path, y, tagger.sample_rate, subtype="FLOAT")
    from_file = tfmusictag.tag_file(path, tagger, top_k=0, timeline=True)
    in_memory = tfmusictag.tag_waveform(y, tagger.sample_rate, tagger, top_k=0, timeline=True, name=path)
    assert in_memory["decided"] == from_file["decided"]
    assert in_memory["duration_seconds"] == from_file["duration_seconds"]
    assert max(abs(in_memory["tags"][t] - from_file["tags"][t]) for t in tagger.tags) < 1e-6
    assert len(in_memory["timeline"]) == len(from_file["timeline"]) > 1
    # another rate and two channels of int16: resampled and averaged as a file's samples are
    stereo = (np.stack([y, y], 1) * 32000).astype(np.int16)
    sr = 44100
    import soxr

    resampled = soxr.resample(stereo, tagger.sample_rate, sr)
    other = tfmusictag.tag_waveform(resampled, sr, tagger, top_k=0)
    assert max(abs(other["tags"][t] - from_file["tags"][t]) for t in tagger.tags) < 0.02
    for bad, message in ((np.zeros(0), "shape"), (np.full(100, np.nan), "NaN"), (np.zeros((2, 2, 2)), "shape")):
        with pytest.raises(ParameterError, match=message):
            tfmusictag.tag_waveform(bad, 16000, tagger)
    with pytest.raises(ParameterError, match="sample_rate"):
        tfmusictag.tag_waveform(y, 0, tagger)


def test_tag_file_returns_one_record_or_raises_the_file_s_error(tmp_path):
    import tfmusictag
    from tfmusictag.errors import AudioFileError

    require_musicnn_weights("MTT_musicnn")
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"fLaC" + os.urandom(300))
    with pytest.raises(AudioFileError, match="broken.flac"):
        tfmusictag.tag_file(str(broken))  # the default model: MTT_musicnn
    with pytest.raises(ParameterError, match="no such file"):
        tfmusictag.tag_file(str(tmp_path / "missing.mp3"))
    record = tfmusictag.tag_file(EXCERPT, top_k=3)
    assert record["path"] == EXCERPT and len(record["tags"]) == 3 and record["decided_by"]


def test_star_import_gives_the_functions_and_loads_no_tensorflow():
    import subprocess
    import sys

    from support import ENV

    code = ("import sys\nfrom tfmusictag import *\n"
            "assert callable(tag_files) and callable(tag_file) and callable(tag_waveform) and callable(train)\n"
            "assert DEFAULT_MODEL == 'MTT_musicnn'\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
