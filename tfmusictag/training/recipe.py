"""The small-catalog recipe: what ``python -m tfmusictag.train`` trains when no ``--variant`` is given.

The thesis's target task is a small catalog (842 songs, Sec. 4.1), and so is most users'. On such
a catalog the thesis's own variants fit more parameters than the tracks can pin down (a
Z = 1024-centre codebook and H = 1024 hidden units, Table 4.3), and a linear probe on a
pretrained network's embeddings beats them. The recipe (variant ``transfer_stats``) is that
probe done well, inside the package's models, training loop and SavedModels:

1. two frozen pretrained CNNs on the same 3 s patches (``MTT_vgg`` and ``MSD_musicnn`` unless
   ``--init_from`` names others): the MagnaTagATune VGG read out twice — its last layer (the
   vector a linear probe uses) and **every** layer, the mean and maximum of each block's feature
   map (Choi et al. 2017: all layers transfer better than the last, on some tasks; on others they
   do not) — and the Million Song Dataset musicnn, trained on other tags with other filters
   (its vector already reads every layer);
2. the **mean, standard deviation and maximum** of those patch vectors over the whole track
   (:class:`~tfmusictag.temporal.StatsPooling`, ``temporal.type='mean_std_max'``): the issue's probe
   pools mean and std; the maximum adds whether something happens at all, however briefly
   (the same heads in scikit-learn on cached patch vectors, 40 random folds not used to choose
   it: +0.006 weighted ROC-AUC on the composed catalog, +0.002 on the real one);
3. one **linear** head per network and readout (three) on **standardised** features with an
   **L2** penalty (one logistic regression per tag and head), trained as separate models, their
   probabilities averaged (late fusion, ``classifier.heads='per_readout'``): any one of them wins
   on some catalogs and loses on others; their average beat scikit-learn's probe on ``MTT_vgg``'s
   last layer by +0.021 (composed catalog) and +0.019 (real recordings) on average over 5 folds,
   winning 4 of 5 on each (the fifth: −0.002 and −0.0001) — short of the +0.03 we aim for
   (``benchmarks/bench_small_catalog.py``; the README has the table);
4. the penalty of scikit-learn's ``LogisticRegression(C=0.1)`` on each head: our loss is the mean
   over ``K`` heads and ``L`` tags and the penalty ``l2·Σw²`` covers them all, so per tag and
   head ``C = 1 / (2·K·L·n·l2)`` for ``n`` training examples, i.e. ``l2 = 1 / (2·0.1·K·L·n)``
   (capped at 1e-2): it shrinks as the catalog grows; ``K`` is counted from the source models
   (:func:`recipe_heads`: three for the default pair, one for ``--init_from=MTT_musicnn``);
5. a **class-balanced** loss (each tag's positives and negatives weigh alike: a tag on 5 of 300
   tracks is still learnt);
6. **four more views of every training track** (``embedding_views=4``): the statistics of a random
   half of its patches, drawn once, as further training examples with the track's tags — the
   change of the ablations (``benchmarks/small_catalog_ablations.py``, ``views_augmented``) that
   lost fewer folds to the probe than the recipe without it (49 random folds of the two catalogs
   in 5 runs: won 46 against 41, worst fold −0.008 against −0.020; the mean gain per run −0.001 to
   +0.004), at no extra pass of the networks; the penalty counts them as examples (``n`` in 4. is
   tracks × 5, as scikit-learn's ``C`` on the augmented set);
7. about 100 passes over the training tracks (``steps`` from the catalog's size), a convex
   problem that converges without early stopping, so no tracks have to be held back to choose a
   step; ``--set keep_best=true --set eval_every=50`` chooses one on the validation split, and
   ``python -m tfmusictag.tune --search=small_catalog`` chooses ``l2`` there.

Anything given on the command line wins over the recipe (``--steps``, ``--set model.classifier.l2=…``,
``--init_from``); a given ``--variant`` turns the recipe off. Measured against scikit-learn's
logistic regression on the same network: ``benchmarks/bench_small_catalog.py``; what else was tried
(other statistics, one joined head, PCA, rank averaging, other penalties, views over random halves
of the patches, a patch-level head, tag co-occurrence stacking, fine-tuning ``MTT_vgg``'s last
block): ``benchmarks/small_catalog_ablations.py`` — none moved the gain over the probe by more
than the spread between folds.
"""

from __future__ import annotations

from typing import Any, Dict

from tfmusictag.training.config import TrainConfig

__all__ = ["RECIPE_VARIANT", "RECIPE_SOURCE", "recipe_heads", "recipe_settings", "apply_recipe"]

RECIPE_VARIANT = "transfer_stats"
#: The recipe's source networks: they share the musicnn front end, so one pass reads both.
RECIPE_SOURCE = "MTT_vgg,MSD_musicnn"
#: Passes over the training tracks, and the range the step count is kept in.
EPOCHS, MIN_STEPS, MAX_STEPS = 100, 300, 5000
#: scikit-learn's ``C`` that each head's penalty equals.
PROBE_C = 0.1
#: Training examples per track beside the track itself: embeddings of random halves of its patches.
VIEWS = 4


def recipe_heads(init_from: str = RECIPE_SOURCE) -> int:
    """The recipe's number of heads on the source model(s) ``init_from``: one per network and readout
    (``MTT_vgg``: two, ``MSD_musicnn``: one), counted from the model the recipe would build."""
    from tfmusictag.frontend import get_front_end
    from tfmusictag.reduction import build_reduction
    from tfmusictag.training.transfer import source_config, source_names, transfer_config
    from tfmusictag.variants import variant_config

    names = source_names(init_from)
    config = transfer_config(variant_config(RECIPE_VARIANT, ("tag",)), [source_config(n) for n in names], names)
    reduction = build_reduction(config.reduction)
    return len(reduction.feature_groups(get_front_end(config.front_end).n_mels, config.segments.segment_frames))


def recipe_settings(num_tracks: int, batch_size: int, num_tags: int, heads: int) -> Dict[str, Any]:
    """The recipe's settings for a training split of ``num_tracks`` tracks and ``num_tags`` tags, with
    ``heads`` heads (:func:`recipe_heads`), as dotted config paths."""
    n, tags, heads = max(int(num_tracks), 1), max(int(num_tags), 1), max(int(heads), 1)
    steps = min(MAX_STEPS, max(MIN_STEPS, -(-EPOCHS * n // batch_size)))
    l2 = min(1e-2, 1.0 / (2 * PROBE_C * heads * tags * n * (1 + VIEWS)))
    return {"variant": RECIPE_VARIANT, "init_from": RECIPE_SOURCE, "class_weight": "balanced", "steps": steps,
            "embedding_views": VIEWS, "model.classifier.l2": float(f"{l2:.3g}")}


def apply_recipe(config: TrainConfig, given: Dict[str, Any], num_tracks: int, num_tags: int) -> TrainConfig:
    """``config`` with the recipe's settings for what ``given`` (the user's own settings) leaves open."""
    heads = recipe_heads(config.init_from if "init_from" in given else RECIPE_SOURCE)
    settings = recipe_settings(num_tracks, config.batch_size, num_tags, heads)
    return config.with_overrides({k: v for k, v in settings.items() if k not in given}).validate()
