"""Small catalogs: the package's recipe against the linear probe a user would write, same folds.

A user with a few hundred tagged tracks and a pretrained network writes ten lines of
scikit-learn: the network's embedding of every 3 s patch, their mean and standard deviation over
the track, standardised, and one ``LogisticRegression(C=0.1, class_weight='balanced')`` per tag.
This benchmark runs, on the same K folds of a catalog (every track is held out once):

* ``recipe`` — ``python -m tfmusictag.train`` with no ``--variant`` (the small-catalog recipe,
  :mod:`tfmusictag.training.recipe`: ``transfer_stats`` from ``MTT_vgg`` and ``MSD_musicnn``), called
  in-process as :func:`tfmusictag.training.train` with the config the command line builds;
* ``probe`` — the scikit-learn probe on ``MTT_vgg``'s last layer (its 256-d patch vectors, as the
  package computes them), mean + std over the track: the issue's reference;
* ``probe_all_layers`` — the same probe on every layer's mean and max per patch, mean + std over
  the track (the recipe's second readout);
* ``probe_msd_musicnn`` — the same probe on ``MSD_musicnn``'s patch vectors (the recipe's second
  network): a user who probes that network instead;
* ``probe_fusion`` — the mean of three such probes on the recipe's statistics (mean + std + max
  over the track, ``temporal.type='mean_std_max'``) of those three readouts: the recipe written
  in scikit-learn, which separates what the recipe's design gives from what the package's
  training (Adam, steps) gives;
* ``probe_fusion_networks`` (``--more_networks=MSD_vgg``) — the same with a probe on each further
  network's patch vectors: what more networks would add;
* ``blackbox_cnn_bof`` (``--with_bof``) — the thesis's black-box CNN + BoF variant from ``MTT_vgg``
  at its defaults (Z = H = 1024, 1000 steps), the package's transfer variant before the recipe.

Every system is scored per held-out fold with the thesis's weighted ROC-AUC (Sec. 4.2,
:func:`tfmusictag.metrics.tag_report`) and the mean over folds is reported; nothing is chosen on
a held-out fold. Folds are TFDS split slices (fold k is the k-th 1/K of every split), so the same
folds can be trained from the command line: ``--train_split='train[:20%]+train[40%:]+…'``.

Usage::

    python benchmarks/bench_small_catalog.py [--dataset demo_catalog/small] [--folds 5] [--with_bof]
    python benchmarks/bench_small_catalog.py --catalog=real     # real recordings (below)

``--catalog=real``: 119 real full-length tracks (the music of three Debian game packages, 7.6 h,
fetched by ``_music.real_catalog``) as a ``tagged_catalog``, tagged with their soundtrack and
composer (10 tags) — real audio with factual tags. Its folds are slices of its two splits (TFDS
stores a split's tracks in an order hashed from their keys, so a slice is a random sample).
"""

import argparse
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _music import save_result  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def fold_splits(k, folds, splits=("train", "validation", "test")):
    """(training split, held-out split) of fold ``k``: the k-th 1/K of every split held out."""
    a, b = round(100 * k / folds), round(100 * (k + 1) / folds)
    held = "+".join(f"{s}[{a}%:{b}%]" for s in splits)
    rest = "+".join([f"{s}[:{a}%]" for s in splits if a > 0] + [f"{s}[{b}%:]" for s in splits if b < 100])
    return rest, held


def track_ids(dataset, split, data_dir):
    from tfmusictag import data

    ds, _ = data.load_split(dataset, split, data_dir)
    return [t.decode() for t in ds.map(lambda e: e["track_id"]).as_numpy_iterator()]


def network_vectors(dataset, data_dir, name, splits, readout=None):
    """{track id: patch vectors} of the pretrained network ``name`` (its own front end; its own readout
    unless ``readout`` names another), {track id: labels} and the tags."""
    import dataclasses

    from tfmusictag import data
    from tfmusictag.pretrained import load_model
    from tfmusictag.tagger import TrackTagger

    model = load_model(name)
    if readout:
        config = model.tagger_config
        source, model = model, TrackTagger(dataclasses.replace(
            config, reduction=dataclasses.replace(config.reduction, readout=readout)))
        model.reduction.set_weights(source.reduction.get_weights())
    ds, tags = data.load_split(dataset, splits, data_dir)
    vectors, labels = {}, {}
    for x, y in data.track_features(ds, tags, tags, model.front_end_config, data.PipelineConfig(cache=None)):
        v, m = model.reduce(x["log_mel"][None], x["num_frames"][None])
        tid = x["track_id"].numpy().decode()
        vectors[tid], labels[tid] = v[0].numpy()[m[0].numpy()], y.numpy()
    return vectors, labels, tags, model


def embeddings(dataset, data_dir, source="MTT_vgg", splits="train+validation+test"):
    """{track id: [last-layer patch vectors, all-layer patch vectors]}, {track id: labels} and the tags —
    one pass of the network, read out at ``'last_and_all_layers'`` (the recipe's readout) and split."""
    vectors, labels, tags, model = network_vectors(dataset, data_dir, source, splits, "last_and_all_layers")
    fe = model.front_end_config
    last, _ = model.reduction.feature_groups(fe.n_mels, model.segmenter.segment_frames)
    return {t: [v[:, :last], v[:, last:]] for t, v in vectors.items()}, labels, tags


def probe_scores(train_x, train_y, test_x):
    """The user's ten lines: standardise, one balanced L2 logistic regression (C=0.1) per tag."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    a, b = scaler.transform(train_x), scaler.transform(test_x)
    scores = np.zeros((len(test_x), train_y.shape[1]))
    for j in range(train_y.shape[1]):
        y = train_y[:, j]
        if y.min() == y.max():  # a tag the training folds lack (or always have): a constant
            scores[:, j] = y[0]
            continue
        lr = LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000).fit(a, y)
        scores[:, j] = lr.predict_proba(b)[:, 1]
    return scores


def mean_std(v):
    return np.concatenate([v.mean(0), v.std(0)])


def mean_std_max(v):
    """The recipe's statistics (``temporal.type='mean_std_max'``)."""
    return np.concatenate([v.mean(0), v.std(0), v.max(0)])


def fused_probe(vectors, which, train_ids, held_ids, y_train):
    """The mean of probes on ``mean_std_max`` of the networks/readouts ``which``: the recipe's heads
    in scikit-learn."""
    return np.mean([probe_scores(np.stack([mean_std_max(vectors[t][w]) for t in train_ids]), y_train,
                                 np.stack([mean_std_max(vectors[t][w]) for t in held_ids])) for w in which], 0)


def bof_analysis(vectors, labels, tags, folds_ids, sizes=(1024, 256, 64)):
    """Why the thesis's Bag of Frames over a CNN's patch vectors loses to mean + std on a small catalog.

    Per fold: a k-means codebook of Z centres (scikit-learn, k-means++) on the training tracks'
    standardised last-layer patch vectors, each track's normalised histogram of its patches'
    centres (thesis Alg. 8), and the same balanced logistic regression as the probe on it. Reports
    the held-out weighted ROC-AUC and the histograms' sparsity: centres used, non-zero bins per
    track, patches per track.
    """
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    from tfmusictag import metrics

    out = {}
    for z in sizes:
        scores, nonzero, used, patches = [], [], [], []
        for train_ids, held_ids in folds_ids:
            stacked = np.concatenate([vectors[t][0] for t in train_ids])
            scaler = StandardScaler().fit(stacked)
            k = min(z, len(stacked))
            km = KMeans(k, n_init=1, random_state=0, max_iter=50).fit(scaler.transform(stacked))

            def histogram(t):
                c = km.predict(scaler.transform(vectors[t][0]))
                return np.bincount(c, minlength=k) / len(c)

            h_train = np.stack([histogram(t) for t in train_ids])
            h_held = np.stack([histogram(t) for t in held_ids])
            y_train = np.stack([labels[t] for t in train_ids])
            y_held = np.stack([labels[t] for t in held_ids])
            scores.append(metrics.tag_report(y_held, probe_scores(h_train, y_train, h_held), tags)["weighted_roc_auc"])
            nonzero.append(float((h_train > 0).sum(1).mean()))
            used.append(int((h_train.sum(0) > 0).sum()))
            patches.append(len(stacked) / len(train_ids))
        out[f"Z={z}"] = {"weighted_roc_auc_mean": round(float(np.mean(scores)), 4),
                         "nonzero_bins_per_track": round(float(np.mean(nonzero)), 1),
                         "centres_used": round(float(np.mean(used)), 1),
                         "patches_per_track": round(float(np.mean(patches)), 1),
                         "training_patches": int(round(np.mean(patches) * len(folds_ids[0][0])))}
        print(f"BoF Z={z} + probe: {out[f'Z={z}']}", flush=True)
    return out


def open_catalog(catalog, dataset, data_dir):
    """``(dataset, data_dir, manual_dir, splits)`` of ``--catalog``: ``'demo'`` is ``dataset`` as given;
    ``'real'`` fetches the real recordings (``_music.real_catalog``) and builds their ``tagged_catalog``."""
    if catalog != "real":
        return dataset, data_dir, None, ("train", "validation", "test")
    from _music import real_catalog

    from tfmusictag import data

    manual_dir = real_catalog(os.path.join(HERE, "_work", "real_catalog"))
    data_dir = data_dir or os.path.join(HERE, "_work", "tfds")
    data.load_split("tagged_catalog", "train", data_dir, manual_dir=manual_dir)
    return "tagged_catalog", data_dir, manual_dir, ("train", "validation")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="demo_catalog/small")
    parser.add_argument("--catalog", choices=("demo", "real"), default="demo",
                        help="'real': tagged_catalog of real recordings (sets --dataset and --manual_dir)")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--with_bof", action="store_true", help="also blackbox_cnn_bof at its defaults")
    parser.add_argument("--more_networks", default="", help="e.g. MSD_vgg: also probe_fusion_networks (MSD_musicnn is always embedded: the recipe uses it)")
    parser.add_argument("--work", default=os.path.join(HERE, "_work", "small_catalog"))
    parser.add_argument("--out", default=os.path.join(HERE, "results", "small_catalog.json"))
    args = parser.parse_args()
    args.dataset, args.data_dir, manual_dir, splits = open_catalog(args.catalog, args.dataset, args.data_dir)
    if args.catalog == "real" and args.out == parser.get_default("out"):
        args.out = os.path.join(HERE, "results", "small_catalog_real.json")

    from absl import logging as absl_logging

    from tfmusictag import metrics
    from tfmusictag.training import TrainConfig, train
    from tfmusictag.training.recipe import apply_recipe

    absl_logging.set_verbosity(absl_logging.WARNING)
    tick = time.perf_counter()
    vectors, labels, tags = embeddings(args.dataset, args.data_dir, splits="+".join(splits))
    more = [n for n in args.more_networks.split(",") if n and n != "MSD_musicnn"]
    for name in ["MSD_musicnn"] + more:
        for t, v in network_vectors(args.dataset, args.data_dir, name, "+".join(splits))[0].items():
            vectors[t].append(v)
    embed_seconds = time.perf_counter() - tick
    probes = ("probe", "probe_all_layers", "probe_msd_musicnn")  # vectors[t][0], [1], [2]
    systems = (["recipe", *probes, "probe_fusion"] + (["probe_fusion_networks"] if more else [])
               + (["blackbox_cnn_bof"] if args.with_bof else []))
    per_fold = {s: [] for s in systems}
    folds_ids = []
    seconds = {s: 0.0 for s in systems}
    for k in range(args.folds):
        train_split, held_split = fold_splits(k, args.folds, splits)
        train_ids, held_ids = track_ids(args.dataset, train_split, args.data_dir), track_ids(
            args.dataset, held_split, args.data_dir)
        folds_ids.append((train_ids, held_ids))
        y_train = np.stack([labels[t] for t in train_ids])
        y_held = np.stack([labels[t] for t in held_ids])
        for which, name in enumerate(probes):
            tick = time.perf_counter()
            x_train = np.stack([mean_std(vectors[t][which]) for t in train_ids])
            x_held = np.stack([mean_std(vectors[t][which]) for t in held_ids])
            scores = probe_scores(x_train, y_train, x_held)
            per_fold[name].append(metrics.tag_report(y_held, scores, tags)["weighted_roc_auc"])
            seconds[name] += time.perf_counter() - tick
        tick = time.perf_counter()
        fused = fused_probe(vectors, range(len(probes)), train_ids, held_ids, y_train)
        per_fold["probe_fusion"].append(metrics.tag_report(y_held, fused, tags)["weighted_roc_auc"])
        seconds["probe_fusion"] += time.perf_counter() - tick
        if more:
            fused = fused_probe(vectors, range(len(probes) + len(more)), train_ids, held_ids, y_train)
            per_fold["probe_fusion_networks"].append(metrics.tag_report(y_held, fused, tags)["weighted_roc_auc"])
        base = TrainConfig(dataset=args.dataset, data_dir=args.data_dir, manual_dir=manual_dir,
                           train_split=train_split, eval_split=held_split)
        runs = [("recipe", apply_recipe(base, {}, len(train_ids), len(tags)))]
        if args.with_bof:
            runs.append(("blackbox_cnn_bof", base.with_overrides({"variant": "blackbox_cnn_bof",
                                                                  "init_from": "MTT_vgg"})))
        for name, config in runs:
            model_dir = os.path.join(args.work, f"{name}_fold{k}")
            shutil.rmtree(model_dir, ignore_errors=True)
            tick = time.perf_counter()
            report = train(config, model_dir, progress=False, log=lambda _: None)
            seconds[name] += time.perf_counter() - tick
            per_fold[name].append(report["weighted_roc_auc"])
        print(f"fold {k + 1}/{args.folds}: " + ", ".join(f"{s} {per_fold[s][-1]:.4f}" for s in systems), flush=True)

    summary = {s: {"weighted_roc_auc_mean": round(float(np.mean(v)), 4), "weighted_roc_auc_std": round(float(np.std(v)), 4),
                   "per_fold": [round(float(x), 4) for x in v], "seconds": round(seconds[s], 1)}
               for s, v in per_fold.items()}
    def gain(probe):
        d = np.array(per_fold["recipe"]) - np.array(per_fold[probe])
        return {"mean": round(float(d.mean()), 4), "min_fold": round(float(d.min()), 4), "folds_won": int((d > 0).sum())}

    result = {"dataset": args.dataset, "catalog": args.catalog, "tracks": len(labels), "tags": len(tags), "folds": args.folds,
              "source": "MTT_vgg,MSD_musicnn", "more_networks": more, "embedding_seconds": round(embed_seconds, 1),
              "systems": summary, "recipe_minus_probe": gain("probe"),
              "recipe_minus_probe_msd_musicnn": gain("probe_msd_musicnn")}
    result["bof_over_last_layer"] = bof_analysis(vectors, labels, tags, folds_ids)
    print("| system | weighted ROC-AUC (mean ± std over folds) | seconds |")
    print("|---|---|---|")
    for s, v in summary.items():
        print(f"| {s} | {v['weighted_roc_auc_mean']:.4f} ± {v['weighted_roc_auc_std']:.4f} | {v['seconds']} |")
    print(f"recipe − probe: {result['recipe_minus_probe']}; recipe − probe_msd_musicnn: "
          f"{result['recipe_minus_probe_msd_musicnn']}")
    save_result(args.out, result)


if __name__ == "__main__":
    main()
