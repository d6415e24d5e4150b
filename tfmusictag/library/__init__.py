"""The tagged library: a collection's tags kept across runs, tagged incrementally, searched and
turned into playlists.

* :mod:`tfmusictag.library.store` — the store (one SQLite file): tracks, fingerprints, model
  versions, every tag's probability and the decided tags.
* :mod:`tfmusictag.library.update` — incremental tagging of folders into the store.
* :mod:`tfmusictag.library.query` — tag expressions (``dark piano -vocals``, ``dark>0.7``), sorting
  by a tag, JSON lines, CSV and M3U playlists.
* :mod:`tfmusictag.library.similar` — the tracks nearest to a track or a new file, by embedding.
* :mod:`tfmusictag.library.filetags` — the tags written into the files (and undone).

``python -m tfmusictag.library update ~/Music --model=MTT_musicnn`` then
``python -m tfmusictag.library search "piano -vocals" --format=m3u > calm.m3u``.
"""

from tfmusictag.library.query import parse_query, search
from tfmusictag.library.similar import similar
from tfmusictag.library.store import Store, default_path
from tfmusictag.library.update import update

__all__ = ["Store", "default_path", "update", "search", "parse_query", "similar"]
