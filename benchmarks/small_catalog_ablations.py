"""Small catalogs: what else was tried for the recipe, measured on many random folds (design notes).

``bench_small_catalog.py`` measures the package's recipe against the issue's linear probe on 5
fixed folds. This script asks what *else* could beat that probe, quickly: every design below is
written in scikit-learn (and, for fine-tuning, a few lines of TensorFlow) on patch vectors the
package's pretrained networks compute once, and scored on ``--partitions`` random partitions of
the catalog into 5 folds (every track held out once per partition). For each design it reports
the mean weighted ROC-AUC (thesis Sec. 4.2), its gain over the probe per fold (mean, worst) and
the folds it won. Nothing is chosen on a held-out fold.

Designs (``recipe_sklearn`` is the package's recipe, :mod:`tfmusictag.training.recipe`, in
scikit-learn; the others change one thing of it):

* ``probe`` — the issue's reference: ``MTT_vgg``'s last layer, mean + std over the track,
  standardised, ``LogisticRegression(C=0.1, class_weight='balanced')`` per tag;
* ``recipe_sklearn`` — three such probes (``MTT_vgg`` last layer, its every layer, ``MSD_musicnn``)
  on mean + std + max, probabilities averaged;
* ``pool_mean_std`` / ``pool_plus_min`` / ``pool_p90`` — other statistics over the track;
* ``one_head_concat`` — one probe on the three readouts joined, instead of three averaged;
* ``pca32_whitened`` — each readout reduced to 32 whitened principal components first;
* ``rank_average`` — the heads' per-tag ranks averaged instead of their probabilities;
* ``C_0_03`` / ``C_0_3`` — a stronger / weaker penalty;
* ``views_augmented`` — each training track also as 4 views pooled over a random half of its
  patches (augmentation on the embeddings);
* ``plus_patch_head`` — a fourth head: a probe trained on single patches (each with its track's
  tags), the track's score its patches' mean logit (multiple-instance learning);
* ``stacked_cooccurrence`` — a second stage on the first stage's out-of-fold scores of *every*
  tag (what tags co-occur), mixed 30 % into the first;
* ``train_on_90pct`` — the recipe on 90 % of the training tracks: what holding back a 10 %
  validation split costs (``tagged_catalog`` without ``validation.txt``);
* ``finetune_vgg_block5`` / ``frozen_vgg_block5`` (``--finetune``) — ``MTT_vgg``'s last
  convolution block fine-tuned (Adam 1e-4; the head 1e-3; 100 passes, class-balanced, the
  recipe's L2) on the cached output of its fourth block, mean + std over the track, against the
  same training with the block frozen: does fine-tuning the network move what a linear head on
  frozen features cannot?

Writes ``benchmarks/results/small_catalog_ablations[_real].json``. Patch vectors are cached under
``--work`` (``--fresh`` recomputes them).

    python benchmarks/small_catalog_ablations.py --partitions=4 [--finetune]
    python benchmarks/small_catalog_ablations.py --catalog=real --partitions=2
"""

import argparse
import os
import pickle
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _music import save_result  # noqa: E402
from bench_small_catalog import (HERE, embeddings, mean_std, mean_std_max, network_vectors, open_catalog,  # noqa: E402
                                 probe_scores)

C = 0.1


def logistic(train_x, train_y, test_x, c=C, sample_weight=None, logit=False):
    """:func:`bench_small_catalog.probe_scores` with a given ``C`` (and probabilities or logits)."""
    if c == C and sample_weight is None and not logit:
        return probe_scores(train_x, train_y, test_x)
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    a, b = scaler.transform(train_x), scaler.transform(test_x)
    scores = np.zeros((len(test_x), train_y.shape[1]))
    for j in range(train_y.shape[1]):
        y = train_y[:, j]
        if y.min() == y.max():
            scores[:, j] = y[0]
            continue
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(a, y, sample_weight=sample_weight)
        scores[:, j] = model.decision_function(b) if logit else model.predict_proba(b)[:, 1]
    return scores


def percentile90(v):
    return np.concatenate([v.mean(0), v.std(0), np.percentile(v, 90, axis=0)])


def with_min(v):
    return np.concatenate([mean_std_max(v), v.min(0)])


class Designs:
    """The designs above, on ``patches[name][i]`` (patch vectors of track ``i`` per readout) and ``y``."""

    def __init__(self, patches, y, seed=0):
        self.patches, self.y, self.seed = patches, y, seed
        self.readouts = list(patches)
        self._pooled = {}

    def pooled(self, name, stats=mean_std_max):
        key = (name, stats.__name__)
        if key not in self._pooled:
            self._pooled[key] = np.stack([stats(v) for v in self.patches[name]])
        return self._pooled[key]

    def heads(self, tr, te, stats=mean_std_max, **kw):
        return [logistic(self.pooled(n, stats)[tr], self.y[tr], self.pooled(n, stats)[te], **kw) for n in self.readouts]

    def probe(self, tr, te):
        x = self.pooled("mtt_vgg_last", mean_std)
        return logistic(x[tr], self.y[tr], x[te])

    def recipe_sklearn(self, tr, te):
        return np.mean(self.heads(tr, te), 0)

    def pool_mean_std(self, tr, te):
        return np.mean(self.heads(tr, te, mean_std), 0)

    def pool_plus_min(self, tr, te):
        return np.mean(self.heads(tr, te, with_min), 0)

    def pool_p90(self, tr, te):
        return np.mean(self.heads(tr, te, percentile90), 0)

    def one_head_concat(self, tr, te):
        x = np.concatenate([self.pooled(n) for n in self.readouts], 1)
        return logistic(x[tr], self.y[tr], x[te])

    def pca32_whitened(self, tr, te):
        from sklearn.decomposition import PCA
        from sklearn.preprocessing import StandardScaler

        out = []
        for n in self.readouts:
            x = self.pooled(n)
            scaler = StandardScaler().fit(x[tr])
            pca = PCA(min(32, len(tr) - 1), whiten=True, random_state=0).fit(scaler.transform(x[tr]))
            out.append(logistic(pca.transform(scaler.transform(x[tr])), self.y[tr], pca.transform(scaler.transform(x[te]))))
        return np.mean(out, 0)

    def rank_average(self, tr, te):
        from scipy.stats import rankdata

        return np.mean([np.apply_along_axis(rankdata, 0, s) for s in self.heads(tr, te)], 0)

    def C_0_03(self, tr, te):
        return np.mean(self.heads(tr, te, c=0.03), 0)

    def C_0_3(self, tr, te):
        return np.mean(self.heads(tr, te, c=0.3), 0)

    def views_augmented(self, tr, te, views=4, fraction=0.5):
        rng = np.random.RandomState(self.seed)
        out = []
        for n in self.readouts:
            xs, ys = [], []
            for i in tr:
                v = self.patches[n][i]
                xs.append(mean_std_max(v))
                ys.append(self.y[i])
                for _ in range(views):
                    keep = np.sort(rng.choice(len(v), max(2, int(round(fraction * len(v)))), replace=False))
                    xs.append(mean_std_max(v[keep]))
                    ys.append(self.y[i])
            out.append(logistic(np.stack(xs), np.stack(ys), self.pooled(n)[te]))
        return np.mean(out, 0)

    def patch_head(self, tr, te, c=0.01, most=40):
        rng = np.random.RandomState(self.seed)
        xs, ys = [], []
        for i in tr:
            v = self.patches["mtt_vgg_last"][i]
            if len(v) > most:
                v = v[np.sort(rng.choice(len(v), most, replace=False))]
            xs.append(v)
            ys.append(np.repeat(self.y[i][None], len(v), 0))
        test = [self.patches["mtt_vgg_last"][i] for i in te]
        logits = logistic(np.concatenate(xs), np.concatenate(ys), np.concatenate(test), c=c, logit=True)
        bounds = np.cumsum([0] + [len(v) for v in test])
        return 1 / (1 + np.exp(-np.stack([logits[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])))

    def plus_patch_head(self, tr, te):
        return np.mean(self.heads(tr, te) + [self.patch_head(tr, te)], 0)

    def stacked_cooccurrence(self, tr, te, mix=0.3):
        from sklearn.model_selection import KFold

        oof = np.zeros((len(tr), self.y.shape[1]))
        for a, b in KFold(4, shuffle=True, random_state=self.seed).split(tr):
            oof[b] = self.recipe_sklearn(tr[a], tr[b])
        first = self.recipe_sklearn(tr, te)
        logit = lambda p: np.log(np.clip(p, 1e-4, 1 - 1e-4) / (1 - np.clip(p, 1e-4, 1 - 1e-4)))  # noqa: E731
        return (1 - mix) * first + mix * logistic(logit(oof), self.y[tr], logit(first), c=1.0)

    def train_on_90pct(self, tr, te):
        keep = tr[np.random.RandomState(self.seed + len(te)).permutation(len(tr))[: int(round(0.9 * len(tr)))]]
        return self.recipe_sklearn(keep, te)


DESIGNS = ("probe", "recipe_sklearn", "pool_mean_std", "pool_plus_min", "pool_p90", "one_head_concat",
           "pca32_whitened", "rank_average", "C_0_03", "C_0_3", "views_augmented", "plus_patch_head",
           "stacked_cooccurrence", "train_on_90pct")


def block4_outputs(dataset, data_dir, splits):
    """{track id: MTT_vgg's fourth-block output per patch (float16)} — the input its last block fine-tunes on."""
    import tensorflow as tf

    from tfmusictag import data
    from tfmusictag.pretrained import load_model

    model = load_model("MTT_vgg")
    vgg = model.reduction

    @tf.function(reduce_retracing=True)
    def block4(x):
        x = vgg.input_norm(x[..., None], training=False)
        for conv, norm, pool in list(zip(vgg.convs, vgg.norms, vgg.pooling))[:4]:
            x = pool(norm(conv(x), training=False))
        return x

    ds, tags = data.load_split(dataset, splits, data_dir)
    out = {}
    for x, _ in data.track_features(ds, tags, tags, model.front_end_config, data.PipelineConfig(cache=None)):
        segments, frame_mask = model.segmenter(x["log_mel"][None], x["num_frames"][None])
        s = segments[0].numpy()[frame_mask[0].numpy().any(-1)]
        out[x["track_id"].numpy().decode()] = np.concatenate(
            [block4(tf.constant(s[i:i + 16])).numpy() for i in range(0, len(s), 16)]).astype(np.float16)
    return out, vgg


class FineTune:
    """``MTT_vgg``'s block 5 (conv → batch norm → pool) trained or frozen under a linear head."""

    def __init__(self, block4, vgg, y, steps_per_track=100 / 8, batch=8):
        self.x = np.zeros((len(block4), max(len(v) for v in block4)) + block4[0].shape[1:], np.float16)
        self.mask = np.zeros(self.x.shape[:2], np.float32)
        for i, v in enumerate(block4):
            self.x[i, :len(v)], self.mask[i, :len(v)] = v, 1
        self.vgg, self.y, self.batch, self.steps_per_track = vgg, y.astype(np.float32), batch, steps_per_track

    def _pooled(self, conv, x, mask):
        import tensorflow as tf

        b, n = tf.shape(x)[0], tf.shape(x)[1]
        v = tf.cast(tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0)), tf.float32)
        v = self.vgg.pooling[4](self.vgg.norms[4](conv(v), training=False))
        v = tf.reshape(v, [b, n, -1])
        w = mask[..., None]
        count = tf.reduce_sum(w, 1)
        mean = tf.reduce_sum(v * w, 1) / count
        std = tf.sqrt(tf.reduce_sum(tf.square(v - mean[:, None]) * w, 1) / count + 1e-8)
        return tf.concat([mean, std], -1)

    def features(self, conv, idx):
        return np.concatenate([self._pooled(conv, self.x[idx[i:i + 8]], self.mask[idx[i:i + 8]]).numpy()
                               for i in range(0, len(idx), 8)])

    def scores(self, tr, te, conv_rate, seed=0):
        import keras
        import tensorflow as tf

        keras.utils.set_random_seed(seed)
        conv = keras.layers.Conv2D(self.vgg.convs[4].filters, 3, padding="same", activation="relu")
        conv.build((None,) + self.x.shape[2:])
        conv.set_weights([w.numpy() for w in self.vgg.convs[4].weights])
        f0 = self.features(conv, tr)
        mu, sd = f0.mean(0), f0.std(0) + 1e-6
        n, tags = len(tr), self.y.shape[1]
        l2 = min(1e-2, 1.0 / (2 * C * tags * n))
        dense = keras.layers.Dense(tags)
        dense.build((None, f0.shape[1]))
        positive = self.y[tr].mean(0).clip(1 / n, 1 - 1 / n)
        w_pos, w_neg = 0.5 / positive, 0.5 / (1 - positive)
        head_opt, conv_opt = keras.optimizers.Adam(1e-3), keras.optimizers.Adam(conv_rate or 1e-4)

        @tf.function
        def step(x, m, y):
            with tf.GradientTape() as tape:
                z = dense((self._pooled(conv, x, m) - mu) / sd)
                loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(y, z) * (y * w_pos + (1 - y) * w_neg))
                loss += l2 * tf.reduce_sum(tf.square(dense.kernel))
            head, body = dense.trainable_variables, conv.trainable_variables
            grads = tape.gradient(loss, head + body)
            head_opt.apply_gradients(zip(grads[:len(head)], head))
            if conv_rate:
                conv_opt.apply_gradients(zip(grads[len(head):], body))

        rng = np.random.RandomState(seed)
        for _ in range(int(self.steps_per_track * n)):
            b = tr[rng.choice(n, self.batch, replace=False)]
            step(tf.constant(self.x[b]), tf.constant(self.mask[b]), tf.constant(self.y[b]))
        return 1 / (1 + np.exp(-dense((self.features(conv, te) - mu) / sd).numpy()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="demo_catalog/small")
    parser.add_argument("--catalog", choices=("demo", "real"), default="demo")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--partitions", type=int, default=4, help="random partitions into 5 folds")
    parser.add_argument("--designs", default=",".join(DESIGNS))
    parser.add_argument("--finetune", action="store_true", help="also fine-tune MTT_vgg's last block (slow)")
    parser.add_argument("--work", default=os.path.join(HERE, "_work", "ablations"))
    parser.add_argument("--fresh", action="store_true", help="recompute the cached patch vectors")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    designs = [d for d in args.designs.split(",") if d]
    unknown = sorted(set(designs) - set(DESIGNS))
    if unknown:
        parser.error(f"unknown designs {unknown}; choose from {', '.join(DESIGNS)}")
    designs = ["probe"] + [d for d in designs if d != "probe"]
    out = args.out or os.path.join(HERE, "results", f"small_catalog_ablations{'_real' if args.catalog == 'real' else ''}.json")
    dataset, data_dir, _, splits = open_catalog(args.catalog, args.dataset, args.data_dir)
    from absl import logging as absl_logging

    from tfmusictag import metrics

    absl_logging.set_verbosity(absl_logging.WARNING)
    os.makedirs(args.work, exist_ok=True)
    cache = os.path.join(args.work, dataset.replace("/", "_") + ".pkl")
    tick = time.perf_counter()
    if os.path.exists(cache) and not args.fresh:
        with open(cache, "rb") as f:
            vectors, labels, tags = pickle.load(f)
    else:
        vectors, labels, tags = embeddings(dataset, data_dir, splits="+".join(splits))
        for t, v in network_vectors(dataset, data_dir, "MSD_musicnn", "+".join(splits))[0].items():
            vectors[t].append(v)
        with open(cache, "wb") as f:
            pickle.dump((vectors, labels, tags), f)
    ids = sorted(vectors)
    y = np.stack([labels[t] for t in ids]).astype(float)
    patches = {n: [vectors[t][k] for t in ids] for k, n in enumerate(("mtt_vgg_last", "mtt_vgg_all_layers", "msd_musicnn"))}
    embed_seconds = time.perf_counter() - tick
    tuner = None
    if args.finetune:
        block4, vgg = block4_outputs(dataset, data_dir, "+".join(splits))
        tuner = FineTune([block4[t] for t in ids], vgg, y)
        designs += ["frozen_vgg_block5", "finetune_vgg_block5"]

    per_fold, seconds = {d: [] for d in designs}, {d: 0.0 for d in designs}
    for p in range(args.partitions):
        order = np.random.RandomState(p).permutation(len(ids))
        for k in range(5):
            te = np.sort(order[k::5])
            tr = np.setdiff1d(np.arange(len(ids)), te)
            lab = Designs(patches, y, seed=p)
            for d in designs:
                tick = time.perf_counter()
                if d.endswith("vgg_block5"):
                    s = tuner.scores(tr, te, 1e-4 if d.startswith("finetune") else 0.0, seed=p)
                else:
                    s = getattr(lab, d)(tr, te)
                seconds[d] += time.perf_counter() - tick
                per_fold[d].append(metrics.tag_report(y[te], s, tags)["weighted_roc_auc"])
            print(f"partition {p} fold {k}: " + ", ".join(f"{d} {per_fold[d][-1]:.4f}" for d in designs), flush=True)
    probe = np.array(per_fold["probe"])
    summary = {}
    for d in designs:
        gain = np.array(per_fold[d]) - probe
        summary[d] = {"weighted_roc_auc_mean": round(float(np.mean(per_fold[d])), 4),
                      "gain_over_probe_mean": round(float(gain.mean()), 4), "gain_worst_fold": round(float(gain.min()), 4),
                      "folds_won": int((gain > 0).sum()), "seconds": round(seconds[d], 1)}
    result = {"dataset": dataset, "catalog": args.catalog, "tracks": len(ids), "tags": len(tags),
              "partitions": args.partitions, "folds": 5 * args.partitions, "embedding_seconds": round(embed_seconds, 1),
              "designs": summary, "per_fold": {d: [round(float(x), 4) for x in v] for d, v in per_fold.items()}}
    print(f"\n| design | weighted ROC-AUC | gain over probe (mean) | worst fold | folds won of {5 * args.partitions} |")
    print("|---|---|---|---|---|")
    for d in sorted(designs, key=lambda d: -summary[d]["weighted_roc_auc_mean"]):
        s = summary[d]
        print(f"| {d} | {s['weighted_roc_auc_mean']:.4f} | {s['gain_over_probe_mean']:+.4f} | "
              f"{s['gain_worst_fold']:+.4f} | {s['folds_won']} |")
    save_result(out, result)


if __name__ == "__main__":
    main()
