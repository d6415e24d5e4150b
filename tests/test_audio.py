"""tfmusictag.audio: every format loads, resampling is right, bad files raise typed errors."""

import os
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from conftest import FORMATS, tone, write_audio
from tfmusictag import audio, errors
from tfmusictag.audio import tfdata


def peak_frequency(y, sr):
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spec)]


@pytest.mark.parametrize("fid", [f[0] for f in FORMATS])
def test_every_format_loads_to_mono_12k(format_files, fid):
    y = audio.load(format_files[fid])
    assert y.dtype == np.float32 and y.ndim == 1
    # MP3/Opus add encoder delay and padding (a few tens of ms); PCM formats are exact.
    assert abs(len(y) - 36000) <= (2400 if fid.startswith(("mp3", "opus", "ogg")) else 2)
    mid = y[6000:30000]
    assert abs(peak_frequency(mid, 12000) - 1000.0) < 1.0
    # amplitude of the 0.5 tone survives decoding, mixing and resampling (lossy codecs: ±10 %)
    assert 0.45 < np.sqrt(2) * np.sqrt(np.mean(mid ** 2)) < 0.55


def test_keep_native_rate(format_files):
    y = audio.load(format_files["flac-44k-stereo"], sample_rate=None)
    assert len(y) == 3 * 44100
    assert abs(peak_frequency(y, 44100) - 1000.0) < 1.0


@pytest.mark.parametrize("sr_in,freq,sr_out", [(44100, 3000.0, 12000), (8000, 440.0, 12000),
                                                (192000, 5000.0, 12000), (48000, 7000.0, 16000)])
def test_resampling_preserves_tone_frequency(audio_dir, sr_in, freq, sr_out):
    path = write_audio(audio_dir / f"tone_{sr_in}_{int(freq)}.wav", tone(freq, 2.0, sr_in), sr_in, "WAV", "FLOAT")
    y = audio.load(path, sr_out)
    assert len(y) == 2 * sr_out
    assert abs(peak_frequency(y, sr_out) - freq) < 1.0


def test_resampling_removes_content_above_new_nyquist(audio_dir):
    path = write_audio(audio_dir / "tone_8k.wav", tone(8000.0, 2.0, 44100), 44100, "WAV", "FLOAT")
    y = audio.load(path, 12000)
    assert np.sqrt(np.mean(y ** 2)) < 1e-3  # a 0.35 RMS tone at 8 kHz must not alias into 0–6 kHz


def test_channels_are_averaged(audio_dir):
    x = tone(500.0, 1.0, 12000)[:, 0]
    opposite = write_audio(audio_dir / "opposite.wav", np.stack([x, -x], 1), 12000, "WAV", "FLOAT")
    left = write_audio(audio_dir / "left.wav", np.stack([x, 0 * x], 1), 12000, "WAV", "FLOAT")
    assert np.abs(audio.load(opposite)).max() < 1e-7
    np.testing.assert_allclose(audio.load(left), x / 2, atol=1e-7)


def test_block_size_does_not_change_output(format_files):
    path = format_files["wavfloat-192k-stereo"]
    a = audio.load(path, block_frames=1 << 20)
    b = audio.load(path, block_frames=777)
    assert len(a) == len(b)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_long_file_is_decoded_in_blocks_with_memory_proportional_to_output(audio_dir):
    sr, seconds = 48000, 180
    x = tone(440.0, seconds, sr, 2, amplitude=0.3)
    path = write_audio(audio_dir / "long.flac", x, sr, "FLAC", "PCM_16")
    del x
    tracemalloc.start()
    y = audio.load(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    decoded_input = seconds * sr * 2 * 4  # what decoding the whole file at once would need
    assert len(y) == seconds * 12000
    assert peak < 0.5 * decoded_input, (peak, decoded_input)
    assert peak < 2 * y.nbytes + 8 * (1 << 18) * 2 * 4, (peak, y.nbytes)


def test_offset_and_duration(format_files):
    full = audio.load(format_files["wav24-96k-stereo"])
    part = audio.load(format_files["wav24-96k-stereo"], offset=1.0, duration=1.0)
    assert len(part) == 12000
    np.testing.assert_allclose(part[100:-100], full[12100:23900], atol=2e-3)


@pytest.mark.parametrize("signal", ["silence", "dc", "clipped"])
def test_silence_dc_and_clipping_are_valid(audio_dir, signal):
    from tfmusictag.frontend import LogMelSpectrogram

    n = 12000 * 3
    x = {"silence": np.zeros(n), "dc": np.full(n, 0.25),
         "clipped": np.clip(4 * np.sin(np.arange(n) * 0.05), -1, 1)}[signal].astype(np.float32)
    path = write_audio(audio_dir / f"{signal}.wav", x, 12000, "WAV", "PCM_16")
    y = audio.load(path)
    assert len(y) == n and np.isfinite(y).all()
    feats = LogMelSpectrogram()(y[None]).numpy()
    assert np.isfinite(feats).all()


# ---- bad input -------------------------------------------------------------------------------

def _truncate(src, dst, fraction):
    data = open(src, "rb").read()
    with open(dst, "wb") as f:
        f.write(data[: int(len(data) * fraction)])
    return str(dst)


@pytest.fixture(scope="module")
def long_files(audio_dir):
    x = tone(440.0, 20.0, 44100, 2)
    return {ext: write_audio(audio_dir / f"ten.{ext}", x, 44100, fmt, sub)
            for ext, fmt, sub in [("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_16"),
                                  ("ogg", "OGG", "VORBIS"), ("mp3", "MP3", "MPEG_LAYER_III"),
                                  ("aiff", "AIFF", "PCM_16")]}


def assert_names(excinfo, path, *words):
    msg = str(excinfo.value)
    assert str(path) in msg, msg
    assert excinfo.value.path == str(path)
    for w in words:
        assert w in msg.lower(), msg


def test_missing_file(tmp_path):
    p = tmp_path / "nope.mp3"
    with pytest.raises(errors.AudioFileNotFoundError) as e:
        audio.load(p)
    assert isinstance(e.value, FileNotFoundError)
    assert_names(e, p, "missing", "no such file")


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(errors.AudioFileNotFoundError) as e:
        audio.load(tmp_path)
    assert_names(e, tmp_path, "not a regular file")


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.mp3"
    p.write_bytes(b"")
    with pytest.raises(errors.EmptyAudioFileError) as e:
        audio.load(p)
    assert_names(e, p, "empty", "0 bytes")


def test_header_without_samples(tmp_path):
    p = tmp_path / "nosamples.wav"
    sf.write(str(p), np.zeros((0, 2), np.float32), 44100)
    with pytest.raises(errors.EmptyAudioFileError) as e:
        audio.load(p)
    assert_names(e, p, "no audio samples")


@pytest.mark.parametrize("name,content", [("notes.mp3", b"this is a text file, not an mp3\n" * 20),
                                          ("noise.wav", bytes(range(256)) * 40),
                                          ("page.flac", b"<html><body>404 Not Found</body></html>")])
def test_not_audio(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(errors.UnsupportedAudioFormatError) as e:
        audio.load(p)
    assert_names(e, p, "not an audio file", "not a recognised audio format")


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "aiff"])
def test_truncated_files(long_files, tmp_path, ext):
    p = _truncate(long_files[ext], tmp_path / f"cut.{ext}", 0.5)
    with pytest.raises(errors.TruncatedAudioFileError) as e:
        audio.load(p)
    assert_names(e, p, "truncated")


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "aiff"])
def test_intact_long_files_are_not_flagged(long_files, ext):
    y = audio.load(long_files[ext])
    assert abs(len(y) - 20 * 12000) < 2400


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_samples(tmp_path, bad):
    x = tone(440.0, 2.0, 22050, 2)
    x[30000, 1] = bad
    p = write_audio(tmp_path / "nan.wav", x, 22050, "WAV", "FLOAT")
    with pytest.raises(errors.NonFiniteAudioError) as e:
        audio.load(p)
    assert_names(e, p, "non-finite", "sample 30000", "1.361 s")


@pytest.mark.parametrize("channels", [2, 3])
def test_finite_float_samples_whose_sum_overflows_average_without_a_warning(tmp_path, channels):
    """A float file can hold samples near ±3.4e38 (a damaged one any bit pattern): the channels'
    mean is taken without float32 overflow — finite, as NumPy's float64 mean — and nothing is
    printed; non-finite samples are still the one error above."""
    import warnings

    x = tone(440.0, 1.0, 8000, channels)
    x[100:200] = 3.0e38
    x[300:400] = -3.0e38
    p = write_audio(tmp_path / "huge.wav", x, 8000, "WAV", "FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = audio.load(p, sample_rate=None)
    np.testing.assert_allclose(y, x.astype(np.float64).mean(axis=1), rtol=1e-6)
    assert np.isfinite(y).all() and y[150] == pytest.approx(3.0e38, rel=1e-6)
    x[500, 0] = np.nan
    with pytest.raises(errors.NonFiniteAudioError, match="first at sample 500 "):  # not where the sums overflowed
        audio.load(write_audio(tmp_path / "huge_nan.wav", x, 8000, "WAV", "FLOAT"), sample_rate=None)


@pytest.mark.parametrize("kwargs,echo", [({"sample_rate": 0}, "sample_rate=0"),
                                         ({"sample_rate": 12000.5}, "sample_rate=12000.5"),
                                         ({"resample_quality": "best"}, "resample_quality='best'"),
                                         ({"block_frames": 0}, "block_frames=0"),
                                         ({"offset": -1.0}, "offset=-1.0"),
                                         ({"duration": 0}, "duration=0")])
def test_bad_parameters(format_files, kwargs, echo):
    with pytest.raises(errors.ParameterError, match=echo.replace("(", r"\(").replace(".", r"\.")):
        audio.load(format_files["wav16-8k-mono"], **kwargs)


def test_info(format_files):
    i = audio.info(format_files["flac-48k-6ch"])
    assert (i.sample_rate, i.channels, i.frames) == (48000, 6, 144000)
    assert i.duration == pytest.approx(3.0)


# ---- tf.data -------------------------------------------------------------------------------

def test_audio_dataset_reports_bad_files_and_keeps_the_rest(format_files, tmp_path):
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"not audio at all" * 100)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    paths = [format_files["flac-44k-stereo"], str(broken), format_files["mp3-22k-mono"], str(empty),
             str(tmp_path / "missing.ogg"), format_files["opus-48k-stereo"]]
    out = list(tfdata.audio_dataset(paths, num_parallel_calls=2).as_numpy_iterator())
    assert [o["path"].decode() for o in out] == paths  # order kept
    errs = [tfdata.error_from(o["path"], o["error_type"], o["error_reason"]) for o in out]
    assert errs[0] is None and errs[2] is None and errs[5] is None
    assert type(errs[1]) is errors.UnsupportedAudioFormatError and errs[1].path == str(broken)
    assert type(errs[3]) is errors.EmptyAudioFileError and errs[3].path == str(empty)
    assert type(errs[4]) is errors.AudioFileNotFoundError
    np.testing.assert_array_equal(out[0]["audio"], audio.load(paths[0]))
    assert out[1]["audio"].shape == (0,)
    with pytest.raises(errors.EmptyAudioFileError) as e:
        tfdata.raise_for_error(out[3])
    assert e.value.path == str(empty) and e.value.reason == "the file has 0 bytes"
    tfdata.raise_for_error(out[0])  # no error: no exception


def test_typed_errors_survive_paths_with_separators(tmp_path):
    """The error's path and reason travel as separate tensors: a path containing ': ' (or any
    text) comes back exactly, and so does the error class."""
    folder = tmp_path / "Artist: Album: Live"
    folder.mkdir()
    bad = folder / "01: Intro: Part 1.flac"
    bad.write_bytes(b"fLaC but not really")
    (item,) = tfdata.audio_dataset([str(bad)]).as_numpy_iterator()
    with pytest.raises(errors.AudioFileError) as e:
        tfdata.raise_for_error(item)
    assert e.value.path == str(bad) and str(bad) in str(e.value)
    assert type(e.value) in errors.AUDIO_ERROR_TYPES and type(e.value) is not errors.AudioFileError


def test_iter_audio_files(format_files, audio_dir):
    found = list(audio.iter_audio_files([audio_dir]))
    assert set(format_files.values()) <= set(found)
    assert found == sorted(found)
    assert list(audio.iter_audio_files([os.path.join(audio_dir, "*.opus")])) == [format_files["opus-48k-stereo"]]


# ---- in-memory files -----------------------------------------------------------------------

@pytest.mark.parametrize("fid", ["flac-44k-stereo", "ogg-44k-stereo", "mp3-22k-mono", "opus-48k-stereo",
                                 "wav24-96k-stereo"])
def test_decode_bytes_equals_load(format_files, fid):
    data = open(format_files[fid], "rb").read()
    np.testing.assert_array_equal(audio.decode(data, "track-1"), audio.load(format_files[fid]))


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_decode_bad_bytes_names_the_track(long_files, ext):
    data = open(long_files[ext], "rb").read()
    with pytest.raises(errors.TruncatedAudioFileError) as e:
        audio.decode(data[: len(data) // 2], name="catalog/track-7")
    assert e.value.path == "catalog/track-7" and "catalog/track-7" in str(e.value)
    with pytest.raises(errors.UnsupportedAudioFormatError, match="track-8"):
        audio.decode(b"<html>not audio</html>" * 10, name="track-8")
    with pytest.raises(errors.EmptyAudioFileError, match="track-9"):
        audio.decode(b"", name="track-9")


@pytest.mark.parametrize("fid", ["flac-44k-stereo", "mp3-22k-mono", "wav16-8k-mono", "ogg-44k-stereo"])
def test_stream_concatenates_to_load(format_files, fid):
    blocks = list(audio.stream(format_files[fid], block_frames=5000))
    assert len(blocks) > 3 and all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks), audio.load(format_files[fid], block_frames=5000))


def test_stream_raises_the_same_errors(long_files, tmp_path):
    data = open(long_files["flac"], "rb").read()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(errors.TruncatedAudioFileError, match="cut.flac"):
        for _ in audio.stream(cut):
            pass


def test_mp3_decoded_in_blocks_equals_one_read():
    """libsndfile's MP3 reader corrupts frames where a read ends inside one; the decoder reads
    whole frames, so blockwise decoding (bounded memory) equals a one-shot read — also after a seek.
    This composed track is one where unaligned 2**18-sample reads differed by up to 0.02."""
    import io

    import soundfile as sf

    from tfmusictag.datasets.demo_catalog import compose

    track = compose.make_track(seed=38, seconds=61.772323513685436, style="jazzy")  # demo_catalog/small #38
    buf = io.BytesIO()  # libsndfile's default MP3 encoding (variable bitrate), as most users' files
    with sf.SoundFile(buf, "w", track.sample_rate, 2, "MPEG_LAYER_III", format="MP3") as f:
        for i in range(0, len(track.audio), 1 << 15):
            f.write(track.audio[i:i + (1 << 15)])
    data = buf.getvalue()
    whole, sr = sf.read(io.BytesIO(data), dtype="float32")
    whole = whole.mean(axis=1, dtype=np.float32)
    for block in (1000, 4096, 1 << 18):
        y = audio.decode(data, "t.mp3", None, block_frames=block)
        np.testing.assert_allclose(y, whole, atol=1e-6, err_msg=f"block_frames={block}")
    y = audio.decode(data, "t.mp3", None, offset=10.0, block_frames=5000)
    np.testing.assert_allclose(y, whole[int(round(10.0 * sr)):], atol=1e-6)


def test_a_decoder_and_tensorflows_import_redirecting_standard_error_at_once_leave_it_working(tmp_path):
    """:func:`tfmusictag.errors.captured_stderr` (TensorFlow's import) and a decoder's
    :func:`tfmusictag.audio.quiet.quiet` both point descriptor 2 elsewhere for a while: one waits
    for the other (``FD2_LOCK``), so neither restores it out of order. Overlapping them in time,
    the decoder's note still reaches its collector and the process's standard error still works."""
    import subprocess
    import sys

    log = tmp_path / "stderr.txt"
    code = """if True:
        import os, sys, threading, time
        from tfmusictag.audio.quiet import decoder_notes, quiet
        from tfmusictag.errors import captured_stderr
        notes, started = [], threading.Event()

        def importing():
            with captured_stderr():
                started.set()
                time.sleep(0.3)
                os.write(2, b"import chatter\\n")

        def decoding():
            started.wait()
            with decoder_notes() as got:
                with quiet():  # begins while the import's redirection holds, ends after it
                    os.write(2, b"Note: Illegal Audio-MPEG-Header 0x0 at offset 1.\\n")
                    time.sleep(0.5)
            notes.extend(got)

        threads = [threading.Thread(target=importing), threading.Thread(target=decoding)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        os.write(2, b"after both\\n")
        print(notes)
    """
    with open(log, "wb") as err:
        out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=err, text=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout.strip() == "['Note: Illegal Audio-MPEG-Header 0x0 at offset 1.']"
    assert log.read_text() == "after both\n"
