"""The runner of the thesis's experiments (:class:`Experiments`): searches and variant runs, resumable."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any, Callable, Dict, Sequence, Tuple

from tfmusictag.errors import ParameterError
from tfmusictag.registry import flatten
from tfmusictag.reproduction.presets import Preset
from tfmusictag.reproduction.report import plot_table, render_markdown
from tfmusictag.reproduction.tables import SOURCE_CNN_RATES, SOURCE_OF, TABLES, TARGET_CNN_RATES, Table

__all__ = ["Experiments"]

def _mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and (population) standard deviation of the finite values."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return float("nan"), float("nan")
    m = sum(values) / len(values)
    return m, (sum((v - m) ** 2 for v in values) / len(values)) ** 0.5


class Experiments:
    """Runs tables into ``out_dir`` (one folder per table, plus ``source/`` and ``saved_models/``).

    Args:
        preset: a :class:`Preset` (``PRESETS.get(name)()``).
        out_dir: where every run, search, table and SavedModel goes.
        dataset: the target catalog (TFDS name).
        data_dir: the TFDS folder.
        manual_dir: the folder of a manually downloaded target catalog (``tagged_catalog``: its
            audio cannot be fetched by TFDS).
        source_manual_dir: the same for the source catalog (``magnatagatune``).
        source_dataset: overrides the preset's source catalog.
        cnn: overrides the preset's pretrained CNN (a pretrained name or a model directory).
        seeds: overrides the preset's seeds per variant.
        strategy: a ``tf.distribute.Strategy`` for the training runs (Tables 4.9–4.10, sources).
        log: where progress lines go.
    """

    def __init__(self, preset: Preset, out_dir: str, dataset: str = "demo_catalog/small", data_dir: str = None,
                 source_dataset: str = None, cnn: str = None, seeds: int = None, strategy=None,
                 log: Callable[[str], None] = print, manual_dir: str = None, source_manual_dir: str = None):
        self.preset = dataclasses.replace(preset, **{k: v for k, v in (("source_dataset", source_dataset),
                                                                          ("cnn", cnn), ("seeds", seeds)) if v})
        self.out_dir, self.dataset, self.data_dir = out_dir, dataset, data_dir
        self.strategy, self.log = strategy, log
        self.manual_dirs = {dataset: manual_dir, self.preset.source_dataset: source_manual_dir}
        from tfmusictag.data import dataset_builder

        for name in (dataset, self.preset.source_dataset):  # a misspelt name fails before out_dir is written
            dataset_builder(name, data_dir)
        self._check_out_dir()

    def _check_out_dir(self) -> None:
        """``out_dir`` continues the same experiments, or starts new ones; never a mix of two."""
        settings = json.loads(json.dumps({"preset": dataclasses.asdict(self.preset), "dataset": self.dataset},
                                         default=str))
        path = os.path.join(self.out_dir, "experiments.json")
        if os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
            if saved != settings:
                old, new = flatten(saved), flatten(settings)
                diff = "; ".join(f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in sorted(set(old) | set(new))
                                 if old.get(k) != new.get(k))
                raise ParameterError(f"{self.out_dir} holds experiments with other settings ({diff}); its finished "
                                     "runs would be reused as they are. Give another --out_dir, or the same settings "
                                     "to continue them")
            return
        os.makedirs(self.out_dir, exist_ok=True)
        from tfmusictag.rundir import atomic_write

        atomic_write(path, json.dumps(settings, indent=2))

    # -- shared settings ------------------------------------------------------------------------

    def sizes(self) -> Dict[str, Any]:
        """The thesis's fixed sizes (Z = H = T = 1024, p = 0.3) at the preset's scale."""
        p = self.preset
        return {"model.temporal.bof.num_clusters": p.size(1024), "model.classifier.hidden": p.size(1024),
                "model.temporal.lstm.units": p.size(1024), "model.temporal.lstm.dropout": 0.3,
                "model.temporal.bof.epochs": p.bof_epochs}

    def _rates(self, rates: Dict[str, Any], task: str) -> Dict[str, Any]:
        r = self.preset.scaled_row(rates, task)
        return {"learning_rates.cnn_low.learning_rate": r["cnn_low_lr"],
                "learning_rates.cnn_low.decay_steps": r["cnn_low_step"],
                "learning_rates.cnn_high.learning_rate": r["cnn_high_lr"],
                "learning_rates.cnn_high.decay_steps": r["cnn_high_step"]}

    def _common(self) -> Dict[str, Any]:
        lr = self.preset.learning_rate
        return {"learning_rates.temporal.learning_rate": lr, "learning_rates.classifier.learning_rate": lr,
                "learning_rates.reduction.learning_rate": lr}

    def _train(self, run_dir: str, dataset: str, variant: str, steps: int, seed: int = 0, init_from: str = None,
               trains_cnn: bool = False, overrides: Dict[str, Any] = None) -> str:
        """One resumable training run; skipped when done (``metrics.json``)."""
        from tfmusictag.rundir import METRICS, RunDir
        from tfmusictag.training import TrainConfig, train

        run = RunDir(run_dir)
        if os.path.exists(run.file(METRICS)):
            return run_dir
        config = TrainConfig(dataset=dataset, data_dir=self.data_dir, manual_dir=self.manual_dirs.get(dataset),
                             variant=variant, steps=steps,
                             batch_size=self.preset.batch_size, seed=seed, init_from=init_from,
                             checkpoint_every=max(10, steps // 5),
                             max_seconds=self.preset.finetune_seconds if trains_cnn else self.preset.max_seconds)
        config = config.with_overrides({**self.sizes(), **self._common(), **(overrides or {})})
        self.log(f"  train {variant} ({steps} steps, seed {seed}{f', from {init_from}' if init_from else ''})"
                 f"{' — continuing' if run.has_run() else ''} -> {run_dir}")
        train(config, run_dir, resume=run.has_run(), progress=False, strategy=self.strategy,
              log=lambda m: None)
        return run_dir

    def source_model(self, kind: str) -> str:
        """The source-task model of ``kind`` (``'mfcc_lstm'`` or ``'cnn_lstm'``), trained once."""
        p = self.preset
        run_dir = os.path.join(self.out_dir, "source", kind)
        if kind == "mfcc_lstm":
            return self._train(run_dir, p.source_dataset, "mfcc_finetuned_lstm", p.steps)
        return self._train(run_dir, p.source_dataset, "finetuned_cnn_finetuned_lstm", p.source_steps,
                           init_from=p.cnn, trains_cnn=True, overrides=self._rates(SOURCE_CNN_RATES, "source"))

    # -- searches (Tables 4.3–4.8) ------------------------------------------------------------------

    def _search(self, table: Table) -> Dict[str, Any]:
        from tfmusictag import data
        from tfmusictag.pretrained import load_model
        from tfmusictag.serving import export_saved_model
        from tfmusictag.training import GroupSchedule, LearningRates, TrainConfig
        from tfmusictag.tuning.hypermodels import ThesisHyperModel, grid_search, trial_key

        p, folder = self.preset, os.path.join(self.out_dir, f"table_{table.id.replace('.', '_')}")
        lr = GroupSchedule(p.learning_rate, 3000)
        rates = LearningRates(reduction=lr, temporal=lr, classifier=lr)
        sizes = {k[6:]: v for k, v in self.sizes().items()}
        grid, rows, init_from, steps, trains_cnn = None, None, None, p.search_steps, False
        if table.kind == "grid":
            scaled = {a: sorted({k[i] for k in table.thesis}) for i, a in enumerate(table.axes)}
            grid = {a: [v if a == "p" else p.size(v) for v in vs] for a, vs in scaled.items()}
            grid.update({a: list(v) for a, v in p.grid.get(table.id, {}).items()})
        else:
            chosen = p.rows.get(table.id, range(len(table.thesis)))
            rows = [p.scaled_row(table.thesis[i][0], table.task) for i in chosen]
            init_from = p.cnn if table.task == "source" else self.source_model("cnn_lstm")
            steps = p.source_steps if table.task == "source" else p.target_cnn_steps
            trains_cnn = True
        dataset = p.source_dataset if table.task == "source" else self.dataset
        manual_dir = self.manual_dirs.get(dataset)
        splits = data.Splits(dataset, self.data_dir, manual_dir)
        _, tags = splits.split("train")
        seconds = p.finetune_seconds if trains_cnn else p.max_seconds
        hm = ThesisHyperModel(table.search, tags, grid=grid, rows=rows, overrides=sizes, steps=steps,
                              learning_rates=rates, init_from=init_from, save_dir=os.path.join(folder, "trials"),
                              config=TrainConfig(batch_size=p.batch_size, max_seconds=seconds, shuffle_buffer=0,
                                                 checkpoint_every=max(10, steps // 5)))

        self.log(f"  KerasTuner grid search '{table.search}' ({len(rows) if rows else math.prod(map(len, grid.values()))}"
                 f" trials, {steps} steps each) on {dataset} -> {folder}")
        tuner = grid_search(hm, splits, os.path.join(folder, "tuner"))
        trials = []
        for t in tuner.oracle.get_best_trials(num_trials=10 ** 6):
            values = hm.rows[t.hyperparameters.get("row")] if rows else {
                n: t.hyperparameters.get(n) for n in hm.choices}
            trials.append({"values": values, "weighted_roc_auc": t.score})
        best = trials[0]
        name = f"table_{table.id.replace('.', '_')}"
        export = os.path.join(self.out_dir, "saved_models", name, "1")
        if not os.path.exists(export):  # exports are atomic: an existing version is complete
            model = load_model(os.path.join(folder, "trials", trial_key(best["values"])))
            export = export_saved_model(model, os.path.join(self.out_dir, "saved_models"), name, version=1)
        return {"dataset": dataset, "split": "validation", "steps": steps, "trials": trials, "best": best,
                "saved_model": export, "grid": grid, "rows": rows}

    # -- variants (Tables 4.9–4.10) -----------------------------------------------------------------

    def _variants(self, table: Table) -> Dict[str, Any]:
        from tfmusictag.evaluation import evaluate_dir

        p, folder = self.preset, os.path.join(self.out_dir, f"table_{table.id.replace('.', '_')}")
        rows = []
        for variant, _ in table.thesis:
            kind = SOURCE_OF[variant]
            source = self.source_model(kind) if kind else None
            trains_cnn = variant == "finetuned_cnn_finetuned_lstm"
            steps = p.target_cnn_steps if trains_cnn else p.steps
            overrides = self._rates(TARGET_CNN_RATES, "target") if trains_cnn else {}
            scores = []
            for seed in range(p.seeds):
                run_dir = self._train(os.path.join(folder, variant, f"seed{seed}"), self.dataset, variant, steps,
                                      seed=seed, init_from=source, trains_cnn=trains_cnn, overrides=overrides)
                from tfmusictag.rundir import RunDir

                report = RunDir(run_dir).read_eval_report("test") or evaluate_dir(run_dir, split="test")
                scores.append({k: report[k] for k in ("weighted_roc_auc", "macro_roc_auc", "macro_pr_auc")})
            row = {"variant": variant, "source": source, "steps": steps, "seeds": scores}
            for k in ("weighted_roc_auc", "macro_roc_auc", "macro_pr_auc"):
                row[k] = dict(zip(("mean", "std"), _mean_std([s[k] for s in scores])))
            rows.append(row)
        return {"dataset": self.dataset, "split": "test", "rows": rows}

    # -- a table ------------------------------------------------------------------------------------

    def run(self, table_id: str) -> Dict[str, Any]:
        """Run (or finish) table ``table_id``; writes ``table_<id>.{json,md,png}`` and returns its result."""
        table = TABLES[table_id]
        t0 = time.time()
        self.log(f"== Table {table.id}: {table.title} (preset {self.preset.name})")
        result = self._search(table) if table.kind in ("grid", "rows") else self._variants(table)
        result = {"table": table.id, "title": table.title, "preset": dataclasses.asdict(self.preset),
                  "seconds": round(time.time() - t0, 1), **result}
        stem = os.path.join(self.out_dir, f"table_{table.id.replace('.', '_')}")
        os.makedirs(self.out_dir, exist_ok=True)
        with open(stem + ".json", "w") as f:
            json.dump(result, f, indent=2, default=str)
        markdown = render_markdown(result)
        with open(stem + ".md", "w") as f:
            f.write(markdown)
        plot_table(result, stem + ".png")
        return result


# -- rendering ------------------------------------------------------------------------------------
