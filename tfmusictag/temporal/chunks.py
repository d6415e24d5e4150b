"""How a temporal stage's outputs over consecutive chunks of a track combine into the whole
track's (chunked tagging: :func:`tfmusictag.tagger.combine_partials`): the rules by name."""

from __future__ import annotations

import numpy as np

from tfmusictag.registry import Registry


#: How the outputs of consecutive chunks of whole segments combine into the whole track's output,
#: by the name a stage gives as its :attr:`~tfmusictag.stages.TemporalStage.chunk_combine`:
#: ``rule(values (chunks, d), weights (chunks,)) → (d,)``, ``weights`` the valid frames or
#: segments of each chunk. The stages below register their own rules; chunked tagging
#: (:func:`tfmusictag.tagger.combine_partials`) and SavedModel clients look them up here.
CHUNK_COMBINES = Registry("chunk_combine")


@CHUNK_COMBINES.register("mean")
def _combine_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted mean: a mean (or a histogram normalised by the count) over all chunks' entries."""
    return (values * weights[:, None]).sum(axis=0) / max(weights.sum(), 1.0)


@CHUNK_COMBINES.register("max")
def _combine_max(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The largest of the chunks' maxima."""
    return values.max(axis=0)


def combine_chunks(rule: str, values, weights) -> np.ndarray:
    """The whole track's output from its chunks' ``values`` by the stage's ``rule`` (:data:`CHUNK_COMBINES`)."""
    return CHUNK_COMBINES.get(rule)(np.asarray(values, np.float64), np.asarray(weights, np.float64))
