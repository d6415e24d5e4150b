"""``python -m tfmusictag.demo``: the whole product on the embedded demo catalog, end to end.

1. builds ``demo_catalog/small`` (60 composed tracks, 1–2.5 min, 22 tags) with TFDS;
2. trains two thesis variants at reduced sizes — MFCC + Bag of Frames (Alg. 23) and MFCC +
   fine-tuned hierarchical LSTM (Alg. 24) — and the small-catalog recipe
   (:mod:`tfmusictag.training.recipe`: pretrained networks, linear heads; skipped, with the
   command to run, if musicnn's weights have not been downloaded);
3. evaluates each on the validation split, to choose, and on the test split, to report (the
   thesis's weighted ROC-AUC, macro ROC/PR-AUC, and the F1 of decided tags);
4. exports the one best on validation as a SavedModel to ``saved_models/demo_tagger/<version>``;
5. renders a new track (not in the catalog) and tags it with the SavedModel: its decided tags
   beside the track's true tags;
6. exports the pretrained MagnaTagATune tagger (``MTT_musicnn``, :mod:`tfmusictag.pretrained`) to
   ``saved_models/mtt_musicnn/<version>`` and tags the same track with MagnaTagATune's 50 tags
   (skipped, with the command to run, if its weights have not been downloaded).

Everything goes to ``--work_dir`` (default ``.demo``); a second run reuses the dataset.
"""

import json
import os
import time

from absl import app, flags

from tfmusictag.cli.common import program, run_program

FLAGS = flags.FLAGS


def define_flags():
    """Command-line flags (defined only when run as a program, so importing stays side-effect free)."""
    flags.DEFINE_string("work_dir", ".demo", "Where the dataset, runs and demo track go.")
    flags.DEFINE_string("config", "small", "demo_catalog config: tiny, small or full.")
    flags.DEFINE_string("saved_models", "saved_models", "SavedModel base directory.")
    flags.DEFINE_float("scale", 1.0, "Multiply the training steps (0.1 for a smoke run).")

VARIANTS = {
    "mfcc_bof": {"steps": 400, "set": {"model.temporal.bof.num_clusters": 128, "model.classifier.hidden": 128,
                                       "model.temporal.bof.epochs": 2}},
    "mfcc_finetuned_lstm": {"steps": 400, "set": {"model.temporal.lstm.units": 48, "model.classifier.hidden": 128,
                                                  "learning_rates.temporal.learning_rate": 3e-3,
                                                  "learning_rates.classifier.learning_rate": 3e-3}},
}


def _missing_recipe_weights():
    """Why the recipe cannot train here (its pretrained networks' weights are absent), or ``None``."""
    from tfmusictag.pretrained import musicnn
    from tfmusictag.training.recipe import RECIPE_SOURCE

    for name in RECIPE_SOURCE.split(","):
        try:
            musicnn.weights_dir(name)
        except FileNotFoundError as exc:
            return str(exc)
    return None


@program
def main(argv):
    del argv
    from tfmusictag import data
    from tfmusictag.datasets.demo_catalog import compose
    from tfmusictag.tagging import tag_files
    from tfmusictag.evaluation import evaluate_dir
    from tfmusictag.pretrained import load_model
    from tfmusictag.rundir import RunDir
    from tfmusictag.serving import export_saved_model
    from tfmusictag.training import TrainConfig, train
    from tfmusictag.training.recipe import resolve_recipe

    t0 = time.time()
    tfds_dir = os.path.join(FLAGS.work_dir, "tfds")
    dataset = f"demo_catalog/{FLAGS.config}"
    print(f"[1/6] building {dataset} in {tfds_dir} ...", flush=True)
    _, tags = data.load_split(dataset, "train", tfds_dir)
    print(f"      {len(tags)} tags: {', '.join(tags)}", flush=True)

    configs = {}
    for variant, spec in VARIANTS.items():
        steps = max(2, int(spec["steps"] * FLAGS.scale))
        configs[variant] = TrainConfig(dataset=dataset, data_dir=tfds_dir, variant=variant, steps=steps, batch_size=8,
                                       checkpoint_every=max(1, steps // 4)).with_overrides(spec["set"])
    missing = _missing_recipe_weights()
    if missing:
        print(f"      (the small-catalog recipe is skipped: {missing})", flush=True)
    else:  # sized to the catalog by the recipe itself, then scaled
        recipe = resolve_recipe(TrainConfig(dataset=dataset, data_dir=tfds_dir, batch_size=8))
        steps = max(2, int(recipe.steps * FLAGS.scale))
        configs["recipe"] = recipe.with_overrides({"steps": steps, "checkpoint_every": max(1, steps // 4)})
    runs = {}
    print(f"[2/6] training {len(configs)} models ...", flush=True)
    for i, (name, config) in enumerate(configs.items(), start=1):
        run_dir = runs[name] = os.path.join(FLAGS.work_dir, "runs", name)
        what = f"{config.variant} from {config.init_from}" if name == "recipe" else name
        print(f"      {what} ({i}/{len(configs)}, {config.steps} steps) in {run_dir} ...", flush=True)
        train(config, run_dir, resume=RunDir(run_dir).has_run(), progress=True)

    print("[3/6] evaluating on the validation split (to choose) and the test split (to report) ...", flush=True)
    validation = {v: evaluate_dir(d, split="validation") for v, d in runs.items()}
    results = {v: evaluate_dir(d, split="test") for v, d in runs.items()}
    print("\n| model | validation weighted ROC-AUC | test weighted ROC-AUC | macro ROC-AUC | macro PR-AUC | "
          "decided tags: micro F1 | test tracks |")
    print("|---|---|---|---|---|---|---|")
    for v, r in results.items():
        f1 = r.get("decisions", {}).get("micro", {}).get("f1")
        print(f"| {v} | {validation[v]['weighted_roc_auc']:.3f} | {r['weighted_roc_auc']:.3f} | "
              f"{r['macro_roc_auc']:.3f} | {r['macro_pr_auc']:.3f} | {'-' if f1 is None else f'{f1:.3f}'} | "
              f"{r['tracks']} |")
    # chosen on validation: the test split only reports (choosing on it would overstate the score)
    best = max(validation, key=lambda v: validation[v]["weighted_roc_auc"])
    print(f"\n[4/6] exporting {best} (best on validation) as a SavedModel ...", flush=True)
    path = export_saved_model(load_model(runs[best]), FLAGS.saved_models, "demo_tagger",
                              run=RunDir(runs[best]).summary())
    print(f"      {path}")

    track = compose.make_track(seed=987654, seconds=100.0, style="house")
    track_path = os.path.join(FLAGS.work_dir, "demo_track.flac")
    with open(track_path, "wb") as f:
        f.write(compose.encode(track.audio, track.sample_rate, "flac"))
    print(f"[5/6] tagging {track_path} (a new house track; true tags: {', '.join(track.tags)}) ...", flush=True)
    for record in tag_files([track_path], path, top_k=8):
        print(json.dumps(record), flush=True)
        right = sorted(set(record["decided"]) & set(track.tags))
        print(f"      decided: {', '.join(record['decided']) or '(none)'} — {len(right)} of "
              f"{len(record['decided'])} right, {len(right)} of the {len(track.tags)} true tags found", flush=True)
        decided = {"decided": record["decided"], "right": right, "true": list(track.tags)}

    from tfmusictag import pretrained

    try:
        pretrained.musicnn.weights_dir("MTT_musicnn")
    except FileNotFoundError as exc:
        print(f"[6/6] skipped the pretrained MagnaTagATune tagger: {exc}")
        mtt = None
    else:
        print("[6/6] the pretrained MagnaTagATune tagger (musicnn): exporting, then tagging the same track ...",
              flush=True)
        mtt = export_saved_model(pretrained.load_model("MTT_musicnn"), FLAGS.saved_models, "mtt_musicnn")
        print(f"      {mtt}")
        for record in tag_files([track_path], mtt, top_k=8):
            print(json.dumps(record), flush=True)
    print(f"\ndone in {time.time() - t0:.0f} s")
    with open(os.path.join(FLAGS.work_dir, "demo_results.json"), "w") as f:
        json.dump({"results": results, "validation": validation, "chosen": best, "demo_track": decided, "exported": path, "exported_pretrained": mtt, "seconds": time.time() - t0}, f,
                  indent=2, default=str)


def run(argv=None):
    define_flags()
    run_program(main, __name__, argv)


if __name__ == "__main__":
    run()
