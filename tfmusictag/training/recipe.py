"""The small-catalog recipe: what training does when no variant is named (``variant='recipe'``).

The thesis's target task is a small catalog (842 songs, Sec. 4.1), and so is most users'. On such
a catalog the thesis's own variants fit more parameters than the tracks can pin down (a
Z = 1024-centre codebook and H = 1024 hidden units, Table 4.3); a penalised linear probe on
pretrained networks' embeddings does better. The recipe (variant ``transfer_stats``) is that probe,
built from the package's own stages, trained by its loop and exported like any other model:

1. **Two frozen pretrained CNNs** on the same 3 s patches (``MTT_vgg`` and ``MSD_musicnn`` unless
   ``init_from`` names others; they share the musicnn front end, so one pass reads both). The
   MagnaTagATune VGG is read out twice — its last layer, and every layer (the mean and maximum of
   each block's feature map: all layers transfer better than the last on some tasks, Choi et
   al. 2017); the Million Song Dataset musicnn, trained on other tags with other filters, is read
   out once (its vector already reads every layer).
2. **Mean, standard deviation and maximum** of those patch vectors over the whole track
   (:class:`~tfmusictag.temporal.StatsPooling`, ``temporal.type='mean_std_max'``): the maximum
   says whether something happens at all, however briefly.
3. **One linear head per network and readout** (``classifier.heads='per_readout'``) on
   standardised features with an L2 penalty — one logistic regression per tag and head — their
   probabilities averaged (late fusion): which readout transfers best differs between catalogs,
   and their average is steadier than any one.
4. **The penalty of scikit-learn's** ``LogisticRegression(C=0.1)`` on each head: the loss is the
   mean over ``K`` heads and ``L`` tags and the penalty ``l2·Σw²`` covers them all, so per tag and
   head ``C = 1 / (2·K·L·n·l2)`` for ``n`` training examples, i.e. ``l2 = 1 / (2·0.1·K·L·n)``
   (capped at 1e-2): it shrinks as the catalog grows. ``K`` is counted from the source models
   (:func:`recipe_heads`: three for the default pair, one for ``init_from='MTT_musicnn'``).
5. **A class-balanced loss**: each tag's positives and negatives weigh alike, so a tag on 5 of
   300 tracks is still learnt.
6. **Four more views of every training track** (``embedding_views=4``): the statistics of a random
   half of its patches, drawn once, as further examples with the track's tags — augmentation at no
   extra pass of the networks; ``n`` in 4. counts them (tracks × 5).
7. **About 100 passes** over the training tracks (``steps`` from the catalog's size): a convex
   problem that converges without early stopping, so no tracks are held back to choose a step
   (``keep_best=true`` with ``eval_every`` chooses one on the validation split, and
   ``python -m tfmusictag.tune --search=small_catalog`` chooses ``l2`` there).

Anything the user sets wins over the recipe (``steps``, ``model.classifier.l2``, ``init_from``);
naming a variant turns it off. How it compares with scikit-learn's logistic regression on the same
networks, and which alternatives were measured: ``benchmarks/bench_small_catalog.py`` and
``benchmarks/small_catalog_ablations.py``, results in ``benchmarks/results/``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from tfmusictag.training.config import TrainConfig

__all__ = ["RECIPE", "RECIPE_VARIANT", "RECIPE_SOURCE", "recipe_heads", "recipe_settings", "apply_recipe",
           "resolve_recipe"]

#: ``TrainConfig.variant``'s default: the recipe, resolved by :func:`resolve_recipe` when a run starts.
RECIPE = "recipe"
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


def resolve_recipe(config: TrainConfig, given: Optional[Dict[str, Any]] = None,
                   log: Optional[Callable[[str], None]] = None) -> TrainConfig:
    """``config`` itself unless its variant is :data:`RECIPE`; then the recipe sized to its training split.

    Args:
        config: the run's config.
        given: the settings the user chose, as dotted paths; the recipe leaves them alone. By
            default every field whose value differs from :class:`TrainConfig`'s default (so a
            setting equal to the default is the recipe's to change: to train exactly a given
            config, name the variant, ``transfer_stats``).
        log: where the one line saying what the recipe chose goes.
    """
    if config.variant != RECIPE:
        return config
    from tfmusictag import data
    from tfmusictag.registry import flatten

    if given is None:
        defaults = flatten(TrainConfig())
        given = {k: v for k, v in flatten(config).items() if k != "variant" and v != defaults.get(k)}
    tracks = data.num_examples(config.dataset, config.train_split, config.data_dir, manual_dir=config.manual_dir)
    tags = data.tag_names(data.dataset_builder(config.dataset, config.data_dir))
    config = apply_recipe(config, given, tracks, len(tags))
    if log:
        log(f"recipe: {config.variant} from {config.init_from} for {tracks} training tracks ({config.steps} steps, "
            f"{len(tags)} tags, l2 {config.model_overrides.get('classifier.l2')}); name a variant to train another "
            "model")
    return config
