"""``python -m tfmusictag.transfer_demo``: transfer learning from MagnaTagATune, measured (Sec. 4.3.4).

The thesis's question on a small scale: on a small target catalog, does a CNN trained on
MagnaTagATune (the source task; here the converted ``MTT_musicnn``, see
:mod:`tfmusictag.pretrained`) beat MFCC features? On ``demo_catalog/small`` (60 composed
tracks, 22 tags) this trains, with the same classifier size and seed:

1. ``mfcc_bof`` — MFCC + Bag of Frames (Alg. 23), the thesis's best target-task model;
2. ``blackbox_cnn_bof`` — the MagnaTagATune CNN frozen, its 3 s patch vectors + BoF;
3. ``blackbox_cnn_finetuned_lstm`` — the frozen CNN + a sequence-to-one LSTM (Alg. 25);
4. ``finetuned_cnn_finetuned_lstm (layers 1–2 frozen)`` — Table 4.7's procedure: front end
   frozen (η = 0), mid end fine-tuned at η = 1e-4, LSTM trained;
5. ``finetuned_cnn_finetuned_lstm`` — Table 4.8's: all layers fine-tuned (η 1e-5 / 1e-4).

Frozen-CNN variants compute the CNN once per track; fine-tuning runs it in every step, so those
train on the first ``--finetune_seconds`` of each track. Every model is evaluated on whole
held-out tracks — the validation and test splits together (``--eval_split``), since either alone
holds 7 tracks — with the thesis's weighted ROC-AUC; nothing is selected on them. Needs the musicnn weights
(``python -m tfmusictag.pretrained download musicnn``; ``make transfer-demo`` does it).
"""

import json
import os
import time

from absl import app, flags

from tfmusictag.cli.common import program, run_program

FLAGS = flags.FLAGS

_HEAD = {"model.classifier.hidden": 128}
_BOF = {**_HEAD, "model.temporal.bof.num_clusters": 128, "model.temporal.bof.epochs": 2}
_LSTM = {**_HEAD, "model.temporal.lstm.units": 48, "learning_rates.temporal.learning_rate": 3e-3,
         "learning_rates.classifier.learning_rate": 3e-3}
#: (label, variant, init_from, steps, overrides, fine-tunes the CNN)
RUNS = (
    ("mfcc_bof", "mfcc_bof", None, 400, _BOF, False),
    ("blackbox_cnn_bof", "blackbox_cnn_bof", "MTT_musicnn", 400, _BOF, False),
    ("blackbox_cnn_finetuned_lstm", "blackbox_cnn_finetuned_lstm", "MTT_musicnn", 400, _LSTM, False),
    ("finetuned_cnn_finetuned_lstm (layers 1-2 frozen)", "finetuned_cnn_finetuned_lstm", "MTT_musicnn", 120,
     {**_LSTM, "learning_rates.cnn_low.learning_rate": 0.0, "learning_rates.cnn_high.learning_rate": 1e-4}, True),
    ("finetuned_cnn_finetuned_lstm", "finetuned_cnn_finetuned_lstm", "MTT_musicnn", 120,
     {**_LSTM, "learning_rates.cnn_low.learning_rate": 1e-5, "learning_rates.cnn_high.learning_rate": 1e-4}, True),
)


def define_flags():
    flags.DEFINE_string("work_dir", ".demo", "Where the dataset and runs go (shared with tfmusictag.demo).")
    flags.DEFINE_string("config", "small", "demo_catalog config: tiny, small or full.")
    flags.DEFINE_float("scale", 1.0, "Multiply the training steps (0.05 for a smoke run).")
    flags.DEFINE_float("finetune_seconds", 15.0, "Seconds of each track used when fine-tuning the CNN.")
    flags.DEFINE_string("source", "MTT_musicnn", "The pretrained source model (see tfmusictag.pretrained).")
    flags.DEFINE_string("eval_split", "validation+test", "Held-out split(s) every model is evaluated on.")


@program
def main(argv):
    del argv
    from tfmusictag import data
    from tfmusictag.evaluation import evaluate_dir
    from tfmusictag.rundir import RunDir
    from tfmusictag.training import TrainConfig, train

    t0 = time.time()
    tfds_dir = os.path.join(FLAGS.work_dir, "tfds")
    dataset = f"demo_catalog/{FLAGS.config}"
    print(f"building/reading {dataset} in {tfds_dir} ...", flush=True)
    data.load_split(dataset, "train", tfds_dir)
    rows = []
    for label, variant, init_from, steps, overrides, finetunes in RUNS:
        init_from = init_from and FLAGS.source
        run_dir = os.path.join(FLAGS.work_dir, "transfer", label.replace(" ", "_").replace("(", "").replace(")", ""))
        steps = max(2, int(steps * FLAGS.scale))
        print(f"\n== {label}: {steps} steps{f', from {init_from}' if init_from else ''} -> {run_dir}", flush=True)
        config = TrainConfig(dataset=dataset, data_dir=tfds_dir, variant=variant, steps=steps, batch_size=8,
                             checkpoint_every=max(1, steps // 4), init_from=init_from,
                             max_seconds=FLAGS.finetune_seconds if finetunes else None).with_overrides(overrides)
        t = time.time()
        train(config, run_dir, resume=RunDir(run_dir).has_run(), progress=True)
        seconds = time.time() - t
        report = evaluate_dir(run_dir, split=FLAGS.eval_split)  # whole tracks
        rows.append({"model": label, "init_from": init_from or "-", "steps": steps,
                     "train_seconds": round(seconds, 1), **{k: report[k] for k in
                                                            ("weighted_roc_auc", "macro_roc_auc", "tracks")}})

    print(f"\n| model | initialised from | steps | weighted ROC-AUC | macro ROC-AUC | {FLAGS.eval_split} tracks "
          "| train s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['init_from']} | {r['steps']} | {r['weighted_roc_auc']:.3f} | "
              f"{r['macro_roc_auc']:.3f} | {r['tracks']} | {r['train_seconds']:.0f} |")
    with open(os.path.join(FLAGS.work_dir, "transfer_results.json"), "w") as f:
        json.dump({"dataset": dataset, "eval_split": FLAGS.eval_split, "results": rows,
                   "seconds": round(time.time() - t0, 1)}, f, indent=2)
    print(f"\ndone in {time.time() - t0:.0f} s")


def run(argv=None):
    define_flags()
    run_program(main, __name__, argv)


if __name__ == "__main__":
    run()
