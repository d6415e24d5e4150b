"""Real full-length recordings for benchmarks, fetched from Debian's archive (never committed).

``apt-get download`` needs no root; the package is unpacked with ``dpkg-deb -x`` into
``benchmarks/_data/`` (git-ignored). Default: ``wesnoth-1.16-music`` (41 Ogg Vorbis tracks,
44.1 kHz stereo, 2 h 8 min in all).
"""

import glob
import os
import sys
import subprocess

import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "_data")


def fetch(package="wesnoth-1.16-music", min_seconds=60.0):
    """Download and unpack ``package`` once; return its audio files of at least ``min_seconds``."""
    root = os.path.join(DATA, package)
    if not os.path.isdir(root):
        os.makedirs(DATA, exist_ok=True)
        subprocess.run(["apt-get", "download", package], cwd=DATA, check=True, stdout=subprocess.DEVNULL)
        deb = sorted(glob.glob(os.path.join(DATA, f"{package}_*.deb")))[-1]
        subprocess.run(["dpkg-deb", "-x", deb, root + ".tmp"], check=True)
        os.replace(root + ".tmp", root)
        os.remove(deb)
    files = sorted(glob.glob(os.path.join(root, "**", "*.ogg"), recursive=True))
    return [f for f in files if sf.info(f).duration >= min_seconds]


def total_seconds(files):
    return sum(sf.info(f).duration for f in files)


def machine():
    """Where a result was measured: CPU model, cores, memory, accelerator (none unless TensorFlow sees one)."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    except (ValueError, OSError, AttributeError):
        memory = None
    gpus = []
    if "tensorflow" in sys.modules:
        gpus = [d.name for d in sys.modules["tensorflow"].config.list_physical_devices("GPU")]
    flags = []
    try:
        with open("/proc/cpuinfo") as f:
            line = next(line for line in f if line.startswith("flags"))
        wanted = ("avx", "fma", "amx", "vnni", "bf16", "fp16")
        flags = sorted(x for x in line.split(":", 1)[1].split() if x.startswith(wanted) or "avx512" in x)
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cpu_flags": flags, "cores": os.cpu_count(),
            "memory_gib": None if memory is None else round(memory, 1), "gpus": gpus,
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TensorFlow's default"),
            "python": platform.python_version()}


def save_result(path, result):
    """Write a benchmark's result dict as JSON (creating the folder), with the date and the machine
    it was measured on (``measured``: what the documentation's benchmark page prints beside it)."""
    import datetime
    import json

    result = {**result, "measured": {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
                                     **machine(), **result.get("measured", {})}}
    if path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(result, f, indent=2)


#: Composer tags of the real catalog: file-name prefixes of ufoai's tracks (its Ogg comments are
#: mostly empty) and the ``artist`` comment of Wesnoth's; a composer needs 5 tracks to be a tag.
_UFOAI_COMPOSERS = {"Crystan-": "crystan", "David0": "david", "Marine": "marine", "Psymong": "psymong",
                    "van_": "vanethian"}
_SOUNDTRACKS = {"wesnoth-1.16-music": "wesnoth", "ufoai-music": "ufoai", "hedgewars-data": "hedgewars"}


def _fetch_ufoai():
    """ufoai ships its music zipped in ``0music.pk3``: unzip it once."""
    import zipfile

    root = os.path.join(DATA, "ufoai-music")
    fetch("ufoai-music")  # unpacks the .deb (no .ogg files at the top level)
    out = os.path.join(root, "music")
    if not os.path.isdir(out):
        with zipfile.ZipFile(os.path.join(root, "usr", "share", "games", "ufoai", "base", "0music.pk3")) as z:
            z.extractall(out + ".tmp")
        os.replace(out + ".tmp", out)
    return sorted(f for f in glob.glob(os.path.join(out, "**", "*.ogg"), recursive=True) if sf.info(f).duration >= 60)


def real_catalog(out_dir, min_composer_tracks=5):
    """A tagged catalog of real recordings: the full-length music of three Debian game packages
    (Wesnoth, UFO: Alien Invasion, Hedgewars; 119 tracks of 1–9 min, 7.6 h), tagged with what is known
    of each track — its soundtrack and, for composers with ``min_composer_tracks`` tracks, its composer.

    Writes ``out_dir/tags.csv`` (the ``tagged_catalog`` layout, paths absolute) and returns ``out_dir``,
    to be given as ``manual_dir`` of ``tagged_catalog``. Real audio, real (factual) tags: the kind of
    catalog the issue's held-out one is, which the composed demo catalog is not.
    """
    import collections

    tracks = []  # (path, soundtrack, composer or None)
    for package, soundtrack in _SOUNDTRACKS.items():
        if package == "ufoai-music":
            files = _fetch_ufoai()
        else:
            files = [f for f in fetch(package) if package != "hedgewars-data" or "/Music/" in f]
        for f in files:
            name, composer = os.path.basename(f), None
            if package == "ufoai-music":
                composer = next((c for p, c in _UFOAI_COMPOSERS.items() if name.startswith(p)), None)
            elif package == "wesnoth-1.16-music":
                artist = sf.SoundFile(f).copy_metadata().get("artist", "")
                composer = artist.split(" (")[0].lower().replace(" ", "_").replace(".", "") or None
            tracks.append((f, soundtrack, composer))
    counts = collections.Counter(c for _, _, c in tracks if c)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tags.csv"), "w") as f:
        f.write("path,tags\n")
        for path, soundtrack, composer in tracks:
            tags = [soundtrack] + ([composer] if composer and counts[composer] >= min_composer_tracks else [])
            f.write(f"{path},{';'.join(tags)}\n")
    return out_dir
