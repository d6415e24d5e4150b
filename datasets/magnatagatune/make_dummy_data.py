"""Write `dummy_data/`: fake MagnaTagATune in the real layout (folders 0–f, both TSV files).

Audio is short composed music (the demo catalog's generator) at 16 kHz mono MP3, like MTT's.
The CSVs have the real column layout: `clip_id`, 188 tag columns, `mp3_path`; `clip_info_final`
with its ten columns. One of the three files that are empty in the real dataset is included,
empty, and one song is split into three clips to exercise the `songs` config.

Run from the repository root: ``python datasets/magnatagatune/make_dummy_data.py``.
"""

import csv
import os

import numpy as np

from tfmusictag.datasets.demo_catalog import compose

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dummy_data")
TOP50 = ["guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
         "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals",
         "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft",
         "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
         "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral"]
TAGS = TOP50 + [f"tag_{i:03d}" for i in range(51, 189)]
EMPTY = "6/norine_braun-now_and_zen-08-gently-117-146.mp3"
# (folder, artist, album, track, number of clips)
SONGS = [("0", "anon", "first", 1, 1), ("0", "anon", "first", 2, 2), ("5", "duo", "second", 1, 1),
         ("b", "trio", "third", 4, 1), ("c", "quartet", "fourth", 3, 3), ("d", "band", "fifth", 2, 1),
         ("f", "band", "sixth", 7, 2)]


def main():
    rng = np.random.default_rng(0)
    ann, info = [], []
    clip_id = 2
    for s, (folder, artist, album, track, n) in enumerate(SONGS):
        for k in range(n):
            name = f"{folder}/{artist}-{album}-{track:02d}-song_{s}-{29 * k}-{29 * (k + 1)}.mp3"
            t = compose.make_track(seed=700 + 10 * s + k, seconds=3.0, sample_rate=16000)
            path = os.path.join(HERE, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(compose.encode(t.audio.mean(1, keepdims=True), 16000, "mp3"))
            labels = (rng.random(len(TAGS)) < np.linspace(0.6, 0.0, len(TAGS))).astype(int)
            ann.append([clip_id, *labels, name])
            info.append([clip_id, track, f"song {s}", artist, album, f"http://example/{clip_id}", 29 * k, 29 * (k + 1),
                         f"http://example/{artist}/{album}/{track}.mp3", name])
            clip_id += 1
    os.makedirs(os.path.join(HERE, os.path.dirname(EMPTY)), exist_ok=True)
    open(os.path.join(HERE, EMPTY), "wb").close()
    ann.append([clip_id, *([1] + [0] * (len(TAGS) - 1)), EMPTY])
    info.append([clip_id, 8, "gently", "norine braun", "now and zen", "", 117, 146, "http://example/empty.mp3", EMPTY])
    for d in "0123456789abcdef":
        os.makedirs(os.path.join(HERE, d), exist_ok=True)
        keep = os.path.join(HERE, d, ".keep")
        if not os.listdir(os.path.join(HERE, d)):
            open(keep, "w").close()
    with open(os.path.join(HERE, "annotations_final.csv"), "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_ALL)
        w.writerow(["clip_id", *TAGS, "mp3_path"])
        w.writerows(ann)
    with open(os.path.join(HERE, "clip_info_final.csv"), "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_ALL)
        w.writerow(["clip_id", "track_number", "title", "artist", "album", "url", "segmentStart", "segmentEnd",
                    "original_url", "mp3_path"])
        w.writerows(info)


if __name__ == "__main__":
    main()
