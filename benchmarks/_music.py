"""Real full-length recordings for benchmarks, fetched from Debian's archive (never committed).

``apt-get download`` needs no root; the package is unpacked with ``dpkg-deb -x`` into
``benchmarks/_data/`` (git-ignored). Default: ``wesnoth-1.16-music`` (41 Ogg Vorbis tracks,
44.1 kHz stereo, 2 h 8 min in all).
"""

import glob
import os
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


def save_result(path, result):
    """Write a benchmark's result dict as JSON (creating the folder)."""
    import json

    if path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(result, f, indent=2)
