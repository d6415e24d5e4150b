"""The taggram the tagging page shows: a real track tagged by MagnaTagATune's musicnn.

Tags one full-length recording from Debian's ``wesnoth-1.16-music`` (fetched by ``_music.fetch``,
never committed) with ``MTT_musicnn`` through :func:`tfmusictag.tagging.tag_files` — the path
``predict --plot`` takes — and keeps its segment probabilities, start times, track probabilities
and decided tags in ``results/taggram.json``, from which the documentation draws the figure when
the site is built (``docs/figures.py``).

Usage::

    python benchmarks/taggram_example.py [--track knolls.ogg]
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _music import fetch, save_result  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--track", default="knolls.ogg", help="a file name of wesnoth-1.16-music")
    parser.add_argument("--model", default="MTT_musicnn")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "taggram.json"))
    args = parser.parse_args()
    files = [f for f in fetch("wesnoth-1.16-music") if os.path.basename(f) == args.track]
    if not files:
        raise SystemExit(f"{args.track} is not among wesnoth-1.16-music's tracks")

    from tfmusictag.serving import InferenceModel
    from tfmusictag.tagging import tag_files

    tagger = InferenceModel(args.model)
    record = next(tag_files(files, tagger, top_k=0, timeline=True))
    if "error" in record:
        raise SystemExit(record["error"])
    tags = list(tagger.tags)
    segments = np.array([[seg["tags"][t] for t in tags] for seg in record["timeline"]])
    save_result(args.out, {"file": args.track, "source": "Debian wesnoth-1.16-music", "model": args.model,
                           "duration_seconds": record["duration_seconds"], "tags": tags,
                           "segment_seconds": tagger.segment_seconds,
                           "segment_start_seconds": [seg["start_seconds"] for seg in record["timeline"]],
                           "segment_probabilities": np.round(segments, 3).tolist(),
                           "probabilities": [record["tags"][t] for t in tags], "decided": record["decided"],
                           "decided_by": record["decided_by"]})
    print(f"{args.track}: {len(segments)} segments; decided {record['decided']}")


if __name__ == "__main__":
    main()
