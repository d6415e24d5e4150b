"""Write `dummy_data/`: a tiny tagged catalog (real composed music, several formats) for the tests.

Run from the repository root: ``python datasets/tagged_catalog/make_dummy_data.py``.
"""

import os

from tfmusictag.datasets.demo_catalog import compose

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dummy_data")

TRACKS = [  # (file, style, format)
    ("house/track01.ogg", "house", "ogg"), ("house/track02.mp3", "house", "mp3"),
    ("jazz/track03.ogg", "jazzy", "ogg"), ("jazz/track04.mp3", "jazzy", "mp3"),
    ("calm/track05.ogg", "ballad", "ogg"), ("calm/track06.ogg", "orchestral", "ogg"),
    ("techno/track07.mp3", "techno", "mp3"), ("pop/track08.ogg", "pop", "ogg"),
]


def main():
    rows = []
    for i, (rel, style, fmt) in enumerate(TRACKS):
        track = compose.make_track(seed=9000 + i, seconds=4.0, sample_rate=16000, style=style)
        path = os.path.join(HERE, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(compose.encode(track.audio, track.sample_rate, fmt))
        rows.append(f"{rel},{';'.join(track.tags)}")
    with open(os.path.join(HERE, "tags.csv"), "w") as f:
        f.write("path,tags\n" + "\n".join(rows) + "\n")
    with open(os.path.join(HERE, "validation.txt"), "w") as f:
        f.write("jazz/track04.mp3\ncalm/track06.ogg\n")


if __name__ == "__main__":
    main()
