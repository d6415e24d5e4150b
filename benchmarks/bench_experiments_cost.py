"""What ``python -m tfmusictag.experiments --preset=thesis --table=all`` costs on this machine.

Measures the seconds per training step of each kind of run the thesis preset makes — at the
thesis's sizes (Z = H = T = 1024, p = 0.3), batch 8, whole tracks of ``demo_catalog/small``
(1–2.5 min each; MagnaTagATune's songs are about as long) — by training each for a few steps
with :func:`tfmusictag.training.train` (its ``train_tracks_per_second`` leaves out the first,
tracing, step), then multiplies by the steps of every trial and run of every table
(:class:`tfmusictag.reproduction.Preset`). Frozen-CNN runs compute the CNN once per track
(counted separately as seconds per track). The CNN is the thesis's (Alg. 20, ``cnn``), randomly
initialised: a step costs the same with Choi et al.'s weights.

Writes ``benchmarks/results/experiments_cost.json``.

    python benchmarks/bench_experiments_cost.py
"""

import argparse
import json
import os
import tempfile
import time

KINDS = {
    # kind: (variant, overrides)
    "mfcc_bof": ("mfcc_bof", {}),
    "mfcc_lstm": ("mfcc_finetuned_lstm", {}),
    "mfcc_blackbox_lstm": ("mfcc_blackbox_lstm", {}),
    "cnn_lstm_low_frozen": ("finetuned_cnn_finetuned_lstm", {"learning_rates.cnn_low.learning_rate": 0.0}),
    "cnn_lstm_all": ("finetuned_cnn_finetuned_lstm", {}),
    "blackbox_cnn_lstm": ("blackbox_cnn_finetuned_lstm", {}),
}


def measure(kind, steps, data_dir):
    from tfmusictag.training import TrainConfig, train

    variant, overrides = KINDS[kind]
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(variant=variant, steps=steps, batch_size=8, data_dir=data_dir, checkpoint_every=10 ** 6,
                             shuffle_buffer=0, model_overrides={"temporal.bof.epochs": 1}).with_overrides(overrides)
        t0 = time.time()
        train(config, os.path.join(tmp, "run"), progress=False, log=lambda m: None)
        with open(os.path.join(tmp, "run", "metrics.json")) as f:
            tracks_per_second = json.load(f)["train_tracks_per_second"]
    return {"seconds_per_step": round(8 / tracks_per_second, 3), "run_seconds": round(time.time() - t0, 1)}


def estimate(per_step):
    """Seconds of every table at the thesis preset, from seconds per step of each run kind."""
    from tfmusictag.reproduction import PRESETS, TABLES

    p = PRESETS.get("thesis")()
    s = {k: v["seconds_per_step"] for k, v in per_step.items()}
    rows = lambda t: len(TABLES[t].thesis)  # noqa: E731
    return {
        "4.3": 9 * p.search_steps * s["mfcc_bof"],
        "4.4": 9 * p.search_steps * s["mfcc_lstm"],
        "4.5": rows("4.5") * p.source_steps * s["cnn_lstm_low_frozen"],
        "4.6": rows("4.6") * p.source_steps * s["cnn_lstm_all"],
        "4.7": rows("4.7") * p.target_cnn_steps * s["cnn_lstm_low_frozen"],
        "4.8": rows("4.8") * p.target_cnn_steps * s["cnn_lstm_all"],
        "source models": p.steps * s["mfcc_lstm"] + p.source_steps * s["cnn_lstm_all"],
        "4.9": p.seeds * p.steps * (s["mfcc_bof"] + s["mfcc_blackbox_lstm"] + s["mfcc_lstm"]),
        "4.10": p.seeds * (3 * p.steps * s["blackbox_cnn_lstm"] + p.target_cnn_steps * s["cnn_lstm_all"]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="steps per measured run (the first is not counted)")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "experiments_cost.json"))
    args = parser.parse_args()
    per_step = {}
    for kind in KINDS:
        per_step[kind] = measure(kind, args.steps, args.data_dir)
        print(kind, per_step[kind], flush=True)
    tables = {k: round(v) for k, v in estimate(per_step).items()}
    total = sum(tables.values())
    result = {"machine": f"{os.cpu_count()} CPU cores", "dataset": "demo_catalog/small (whole tracks, batch 8)",
              "seconds_per_step": per_step, "estimated_seconds_per_table": tables, "estimated_total_seconds": total,
              "estimated_total_days": round(total / 86400, 1)}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
