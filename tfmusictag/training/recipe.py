"""The small-catalog recipe: what ``python -m tfmusictag.train`` trains when no ``--variant`` is given.

The thesis's target task is a small catalog (842 songs, Sec. 4.1), and so is most users'. On such
a catalog the thesis's own variants fit more parameters than the tracks can pin down (a
Z = 1024-centre codebook and H = 1024 hidden units, Table 4.3), and a linear probe on a
pretrained network's embeddings beats them. The recipe (variant ``transfer_stats``) is that
probe done well, inside the package's models, training loop and SavedModels:

1. a frozen MagnaTagATune CNN (``MTT_vgg`` unless ``--init_from`` names another) read out twice:
   its last layer (the vector a linear probe uses) and **every** layer — the mean and maximum of
   each block's feature map per 3 s patch (Choi et al. 2017: all layers transfer better than the
   last, on some tasks; on others they do not);
2. the **mean and standard deviation** of those patch vectors over the whole track
   (:class:`~tfmusictag.temporal.StatsPooling`);
3. one **linear** head per readout on **standardised** features with an **L2** penalty (one
   logistic regression per tag and readout), trained as separate models, their probabilities
   averaged (late fusion, ``classifier.heads='per_readout'``): either readout alone wins on some
   catalogs and loses on others; their average was +0.007 to +0.008 over the last-layer probe on
   a composed and a real catalog, 8 folds of 10 won, none lost by more than 0.006
   (``benchmarks/bench_small_catalog.py``) — short of the +0.03 we aim for;
4. the penalty of scikit-learn's ``LogisticRegression(C=0.1)`` on each head: our loss is the mean
   over ``K = 2`` heads and ``L`` tags and the penalty ``l2·Σw²`` covers them all, so per tag and
   head ``C = 1 / (2·K·L·n·l2)`` for ``n`` training tracks, i.e. ``l2 = 1 / (2·0.1·K·L·n)``
   (capped at 1e-2): it shrinks as the catalog grows;
5. a **class-balanced** loss (each tag's positives and negatives weigh alike: a tag on 5 of 300
   tracks is still learnt);
6. about 100 passes over the training tracks (``steps`` from the catalog's size), a convex
   problem that converges without early stopping, so no tracks have to be held back to choose a
   step; ``--set keep_best=true --set eval_every=50`` chooses one on the validation split, and
   ``python -m tfmusictag.tune --search=small_catalog`` chooses ``l2`` there.

Anything given on the command line wins over the recipe (``--steps``, ``--set model.classifier.l2=…``,
``--init_from``); a given ``--variant`` turns the recipe off. Measured against scikit-learn's
logistic regression on the same network: ``benchmarks/bench_small_catalog.py``.
"""

from __future__ import annotations

from typing import Any, Dict

from tfmusictag.training.config import TrainConfig

__all__ = ["RECIPE_VARIANT", "RECIPE_SOURCE", "recipe_settings", "apply_recipe"]

RECIPE_VARIANT = "transfer_stats"
RECIPE_SOURCE = "MTT_vgg"
#: Passes over the training tracks, and the range the step count is kept in.
EPOCHS, MIN_STEPS, MAX_STEPS = 100, 300, 5000
#: scikit-learn's ``C`` that each head's penalty equals, and the number of heads (readouts).
PROBE_C, HEADS = 0.1, 2


def recipe_settings(num_tracks: int, batch_size: int, num_tags: int) -> Dict[str, Any]:
    """The recipe's settings for a training split of ``num_tracks`` tracks and ``num_tags`` tags
    (dotted config paths)."""
    n, tags = max(int(num_tracks), 1), max(int(num_tags), 1)
    steps = min(MAX_STEPS, max(MIN_STEPS, -(-EPOCHS * n // batch_size)))
    l2 = min(1e-2, 1.0 / (2 * PROBE_C * HEADS * tags * n))
    return {"variant": RECIPE_VARIANT, "init_from": RECIPE_SOURCE, "class_weight": "balanced", "steps": steps,
            "model.classifier.l2": float(f"{l2:.3g}")}


def apply_recipe(config: TrainConfig, given: Dict[str, Any], num_tracks: int, num_tags: int) -> TrainConfig:
    """``config`` with the recipe's settings for what ``given`` (the user's own settings) leaves open."""
    settings = recipe_settings(num_tracks, config.batch_size, num_tags)
    return config.with_overrides({k: v for k, v in settings.items() if k not in given}).validate()
