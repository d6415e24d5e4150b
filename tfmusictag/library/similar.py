"""Similar tracks: the nearest embeddings (cosine similarity) in the library store.

Every tagged track's embedding (its chunks' embeddings combined as the model combines them) is
kept in the store. For a query the embeddings of the model version are read into one unit-norm
float32 matrix, cached beside the store as a ``.npy`` file and memory-mapped (rebuilt when the
store's :meth:`~tfmusictag.library.store.Store.revision` changes), and ranked by one matrix-vector
product. Exact search by brute force serves a personal or label catalog: the cost is one pass
over the matrix per query, and no approximate index can miss a neighbour
(``benchmarks/bench_library.py`` measures it at a million tracks).
"""

from __future__ import annotations

import json
import os
from typing import List, Optional

import numpy as np

from tfmusictag.errors import ParameterError
from tfmusictag.library.query import model_version
from tfmusictag.library.store import Store, fs_bytes, fs_str

__all__ = ["similar", "embedding_matrix"]


def embedding_matrix(store: Store, model_id: int):
    """``(track ids (N,), unit embeddings (N, Z))`` of a model version's present, tagged tracks,
    memory-mapped from the cache beside the store (built when missing or stale)."""
    revision = store.revision()
    base = f"{store.path}.embeddings-{model_id}"
    try:
        with open(base + ".json") as f:
            cached = json.load(f)
        if cached["revision"] == revision:
            return np.load(base + ".ids.npy"), np.load(base + ".npy", mmap_mode="r")
    except (OSError, ValueError, KeyError):
        pass
    ids, rows = [], []
    query = ("SELECT r.track, r.embedding FROM results r JOIN tracks t ON t.id = r.track WHERE r.model = ? AND "
             "t.status = 'tagged' AND r.sha256 = t.sha256 AND r.embedding IS NOT NULL ORDER BY r.track")
    for track, blob in store.db.execute(query, (model_id,)):
        ids.append(track)
        rows.append(np.frombuffer(blob, np.float32))
    ids = np.asarray(ids, np.int64)
    matrix = np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)
    if len(matrix):
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    for suffix, array in ((".ids.npy", ids), (".npy", matrix)):  # each file whole or not at all
        tmp = f"{base}.tmp-{os.getpid()}{suffix}"
        np.save(tmp, array)
        os.replace(tmp, base + suffix)
    with open(f"{base}.tmp-{os.getpid()}.json", "w") as f:
        json.dump({"revision": revision}, f)
    os.replace(f"{base}.tmp-{os.getpid()}.json", base + ".json")
    return ids, matrix


def similar(store: Store, to, k: int = 10, *, model: Optional[str] = None) -> List[dict]:
    """The ``k`` tracks most similar to ``to``: a path in the store, a file not in it (tagged now
    with the model version's own model, not stored), or an embedding vector.

    Returns:
        ``[{"path", "similarity"}]``, most similar first (cosine similarity in [-1, 1]); the query
        track itself is left out.

    Raises:
        ParameterError: the model version keeps no embeddings (a model that tags tracks whole), or
            ``to`` is neither in the store nor a file.
    """
    version = model_version(store, model)
    ids, matrix = embedding_matrix(store, version["id"])
    if not len(ids):
        raise ParameterError(f"{store.path}: the tracks tagged by {version['name']} have no embeddings (its model "
                             "tags tracks whole); similar tracks need a model that combines chunks")
    exclude = None
    if isinstance(to, (str, bytes, os.PathLike)):
        path = os.path.abspath(os.fsdecode(to))
        row = store.db.execute("SELECT r.embedding, t.id FROM results r JOIN tracks t ON t.id = r.track WHERE "
                               "t.path = ? AND r.model = ? AND r.sha256 = t.sha256", (fs_bytes(path), version["id"])).fetchone()
        if row is not None and row[0] is not None:
            vector, exclude = np.frombuffer(row[0], np.float32), row[1]
        elif os.path.isfile(path):
            vector = _embed(path, version)
        else:
            raise ParameterError(f"{path}: neither a track of {store.path} nor a file")
    else:
        vector = np.asarray(to, np.float32)
    if vector.shape != (matrix.shape[1],):
        raise ParameterError(f"an embedding of {matrix.shape[1]} values is needed; received shape {vector.shape}")
    scores = np.asarray(matrix @ (vector / max(float(np.linalg.norm(vector)), 1e-12)))
    if exclude is not None:
        scores[ids == exclude] = -np.inf
    k = max(0, min(int(k), len(ids) - (exclude is not None)))
    best = np.argpartition(-scores, k - 1)[:k] if 0 < k < len(ids) else np.arange(len(ids))[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    paths = dict(store.db.execute(f"SELECT id, path FROM tracks WHERE id IN ({','.join('?' * len(best))})",
                                  [int(i) for i in ids[best]]).fetchall()) if len(best) else {}
    return [{"path": fs_str(paths[int(ids[i])]), "similarity": round(float(scores[i]), 4)} for i in best]


def _embed(path: str, version: dict) -> np.ndarray:
    from tfmusictag.tagging import tag_files

    if not version.get("source"):
        raise ParameterError(f"the store does not know where {version['name']} is: tag the file into it first")
    record = next(tag_files([path], version["source"], top_k=1, embedding=True))
    if "error" in record:
        raise ParameterError(record["error"])
    if record.get("embedding") is None:
        raise ParameterError(f"{version['name']} gives no embedding for a whole track")
    return np.asarray(record["embedding"], np.float32)
