"""The thesis's experiments (Tables 4.3–4.10), each one call, beside the thesis's numbers.

``python -m tfmusictag.experiments`` (:mod:`tfmusictag.cli.experiments`) runs them; this module
holds what they are: the thesis's tables and published numbers (:data:`TABLES`), the budgets
they run at (:data:`PRESETS`) and the runner (:class:`Experiments`).

How each table is made (thesis Chapter 4):

* **4.3** (Z × H of MFCC + BoF) and **4.4** (T × p of MFCC + LSTM, Alg. 24) are KerasTuner grid
  searches (:mod:`tfmusictag.tuning.hypermodels`) on the target catalog, scored by the weighted
  ROC-AUC over whole validation tracks.
* **4.5–4.6** search the CNN's learning rates ``(η, step)`` of layers 1–2 and 3–5 on the *source*
  task: CNN + LSTM (Alg. 25) trained on the source catalog from a pretrained CNN, as the thesis
  started its source training from Choi et al.'s MSD weights [22]. **4.7–4.8** search them on the
  target task, from the source model. These are the thesis's *rows* (``ThesisHyperModel(rows=...)``),
  not the product of their values (e.g. Table 4.8's ``(1e-6; NA)``).
* Every search ends by exporting its best trial's model as a SavedModel (``saved_models/``).
* **4.9** and **4.10** train the seven variants (:data:`tfmusictag.variants.THESIS_VARIANTS`) with
  several seeds through :func:`tfmusictag.training.train` and report mean ± std of weighted
  ROC-AUC, macro ROC-AUC and macro PR-AUC on the test split; nothing is chosen on it. Every
  row but MFCC + BoF starts from a source-task model trained here first (as the thesis did,
  Sec. 4.3.2): MFCC + LSTM for Table 4.9's LSTM rows, CNN + LSTM for Table 4.10 (its black-box
  LSTM rows need an LSTM trained on the source task; no pretrained model has one).

Sizes and steps: the thesis fixed Z = H = T = 1024, p = 0.3 after Tables 4.3–4.4 and the CNN's
rates after 4.6 / 4.8; Tables 4.9–4.10 use those settings, not this run's search results, so
every table can be run alone. A preset scales the sizes (``size_scale``) and the run lengths;
the decay steps of Tables 4.5–4.8 scale with their run length (``decay_scale``), so a step-down
falls at the same fraction of a run as in the thesis. The thesis gives no run lengths; the
``thesis`` preset's are ours (at least its largest step-down, 70K on the source task).

Resuming: a run with ``metrics.json`` is done and skipped, one without continues from its last
checkpoint, and a search continues from KerasTuner's trial records, so an interrupted command
picks up where it stopped when started again with the same ``--out_dir``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from tfmusictag.errors import ParameterError
from tfmusictag.registry import Registry, flatten

__all__ = ["TABLES", "PRESETS", "Preset", "Table", "Experiments", "table_ids", "render_markdown", "plot_table"]

NA = None  # a learning rate that never steps down (the thesis's "NA")


@dataclasses.dataclass(frozen=True)
class Table:
    """One of the thesis's tables.

    ``kind`` is ``'grid'`` (a matrix of two hyper-parameters), ``'rows'`` (learning-rate rows)
    or ``'variants'`` (model variants with seeds). ``thesis`` holds the published numbers in the
    table's own layout: ``{(row value, column value): WAUC}`` for a grid, ``[(row, WAUC)]``
    otherwise.
    """

    id: str
    title: str
    kind: str
    task: str = "target"
    search: Optional[str] = None
    axes: Tuple[str, str] = ()
    thesis: Any = None


def _lr(low, high) -> Dict[str, Any]:
    """A row of Tables 4.5–4.8: ``low``/``high`` are ``(η, step)`` of layers 1–2 / 3–5, None = freeze."""
    low = low or (0.0, NA)
    return {"cnn_low_lr": low[0], "cnn_low_step": low[1], "cnn_high_lr": high[0], "cnn_high_step": high[1]}


_SIZES = (512, 1024, 2048)
TABLES: Dict[str, Table] = {t.id: t for t in (
    Table("4.3", "Classifier hidden dimension (H) × feature dimension (Z), MFCC + BoF", "grid", search="classifier",
          axes=("Z", "H"), thesis={(z, h): v for z, row in zip(_SIZES, ((.63, .64, .63), (.64, .67, .62),
                                                                        (.61, .61, .59)))
                                   for h, v in zip(_SIZES, row)}),
    Table("4.4", "RNN hidden dimension (T) × drop-out probability (p), MFCC + LSTM", "grid", search="lstm",
          axes=("p", "T"), thesis={(p, t): v for p, row in zip((0.0, 0.3, 0.5), ((.66, .61, .59), (.68, .74, .68),
                                                                              (.67, .71, .64)))
                                   for t, v in zip(_SIZES, row)}),
    Table("4.5", "Source task, CNN layers 1–2 frozen: (η, step) of layers 3–5", "rows", task="source",
          search="learning_rate", thesis=[(_lr(None, (1e-3, 30000)), .79), (_lr(None, (1e-3, 50000)), .81),
                                          (_lr(None, (1e-3, 70000)), .74), (_lr(None, (1e-4, 30000)), .79),
                                          (_lr(None, (1e-4, 50000)), .81), (_lr(None, (1e-4, 70000)), .77)]),
    Table("4.6", "Source task, all layers trained: (η, step) of layers 1–2 and 3–5", "rows", task="source",
          search="learning_rate",
          thesis=[(_lr((1e-5, 50000), (1e-3, 50000)), .82), (_lr((1e-5, 50000), (1e-4, 50000)), .79),
                  (_lr((1e-4, 50000), (1e-3, 50000)), .84), (_lr((1e-4, 50000), (1e-4, 50000)), .77),
                  (_lr((1e-4, 70000), (1e-3, 50000)), .82), (_lr((1e-4, 70000), (1e-4, 50000)), .79),
                  (_lr((1e-3, 50000), (1e-3, 50000)), .83), (_lr((1e-3, 50000), (1e-4, 50000)), .76),
                  (_lr((1e-3, 70000), (1e-3, 50000)), .81), (_lr((1e-3, 70000), (1e-4, 50000)), .76)]),
    Table("4.7", "Target task, CNN layers 1–2 frozen: (η, step) of layers 3–5", "rows", search="learning_rate",
          thesis=[(_lr(None, (1e-3, 5000)), .65), (_lr(None, (1e-3, 10000)), .63), (_lr(None, (1e-3, 20000)), .61),
                  (_lr(None, (1e-4, 5000)), .67), (_lr(None, (1e-4, 10000)), .68), (_lr(None, (1e-4, 20000)), .63)]),
    Table("4.8", "Target task, all layers trained: (η, step) of layers 1–2 and 3–5", "rows", search="learning_rate",
          thesis=[(_lr((1e-6, NA), (1e-4, 10000)), .64), (_lr((1e-5, 10000), (1e-4, 10000)), .71),
                  (_lr((1e-5, 20000), (1e-4, 10000)), .69), (_lr((1e-4, 10000), (1e-4, 10000)), .68),
                  (_lr((1e-4, 20000), (1e-4, 10000)), .67)]),
    Table("4.9", "Summary of LSTM analyses", "variants",
          thesis=[("mfcc_bof", .67), ("mfcc_blackbox_lstm", .65), ("mfcc_finetuned_lstm", .74)]),
    Table("4.10", "Summary of CNN + LSTM analyses", "variants",
          thesis=[("blackbox_cnn_bof", .67), ("blackbox_cnn_blackbox_lstm", .63), ("blackbox_cnn_finetuned_lstm", .65),
                  ("finetuned_cnn_finetuned_lstm", .71)]),
)}

#: The thesis's names of the variants (Tables 4.9–4.10).
LABELS = {"mfcc_bof": "MFCC + BoF", "mfcc_blackbox_lstm": "MFCC + Black-box LSTM",
          "mfcc_finetuned_lstm": "MFCC + Fine-tune LSTM", "blackbox_cnn_bof": "Black-box CNN + BoF",
          "blackbox_cnn_blackbox_lstm": "Black-box CNN + Black-box LSTM",
          "blackbox_cnn_finetuned_lstm": "Black-box CNN + Fine-tune LSTM",
          "finetuned_cnn_finetuned_lstm": "Fine-tune CNN + Fine-tune LSTM"}

#: Which source-task model a variant starts from (None: trained from scratch, as the thesis's BoF).
SOURCE_OF = {"mfcc_bof": None, "mfcc_blackbox_lstm": "mfcc_lstm", "mfcc_finetuned_lstm": "mfcc_lstm",
             "blackbox_cnn_bof": "cnn_lstm", "blackbox_cnn_blackbox_lstm": "cnn_lstm",
             "blackbox_cnn_finetuned_lstm": "cnn_lstm", "finetuned_cnn_finetuned_lstm": "cnn_lstm"}

#: The thesis's chosen CNN rates: source task Table 4.6, target task Table 4.8.
SOURCE_CNN_RATES = _lr((1e-4, 50000), (1e-3, 50000))
TARGET_CNN_RATES = _lr((1e-5, 10000), (1e-4, 10000))


def table_ids(spec: str) -> List[str]:
    """``'all'``, ``'4.9'`` or ``'4.3,4.4'`` → table ids, in the thesis's order."""
    ids = list(TABLES) if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [i for i in ids if i not in TABLES]
    if unknown or not ids:
        raise ParameterError(f"--table={spec!r}: choose 'all' or one or more of {', '.join(TABLES)}")
    return ids


@dataclasses.dataclass(frozen=True)
class Preset:
    """The budget the tables run at.

    Attributes:
        size_scale: Z, H and T are the thesis's values × this (the grids of 4.3–4.4 too).
        search_steps: supervised steps of a trial of Tables 4.3–4.4.
        steps: steps of a Table 4.9–4.10 run, and of the source MFCC + LSTM.
        source_steps / target_cnn_steps: steps of a source-task CNN run (4.5–4.6 and the source
            CNN + LSTM) / a target-task CNN fine-tuning (4.7–4.8, Fine-tune CNN rows).
        thesis_source_steps / thesis_target_steps: the run lengths the thesis's step-downs refer
            to; ``decay_scale`` (our run length / theirs) scales them.
        finetune_seconds: training crop (s) when the CNN is trained (it then runs in every step).
        max_seconds: training crop of the other runs (None: whole tracks).
        rows / grid: which of the thesis's rows (indices) / grid values each table runs (None: all).
        learning_rate: η of the temporal stage and classifier (thesis 1e-3, Table 4.2).
        bof_epochs: k-means passes of the BoF codebook.
        seeds: seeds per variant in Tables 4.9–4.10.
        source_dataset: the source task's catalog (Tables 4.5–4.6 and the source models).
        cnn: the pretrained CNN the source task starts from.
    """

    name: str
    size_scale: float = 1.0
    search_steps: int = 10000
    steps: int = 10000
    source_steps: int = 100000
    target_cnn_steps: int = 20000
    thesis_source_steps: int = 100000
    thesis_target_steps: int = 20000
    finetune_seconds: Optional[float] = None
    max_seconds: Optional[float] = None
    rows: Dict[str, Tuple[int, ...]] = dataclasses.field(default_factory=dict)
    grid: Dict[str, Dict[str, Tuple]] = dataclasses.field(default_factory=dict)
    learning_rate: float = 1e-3
    bof_epochs: int = 10
    batch_size: int = 8
    seeds: int = 3
    source_dataset: str = "magnatagatune/songs"
    cnn: str = "choi2016_cnn"

    def with_overrides(self, pairs: Dict[str, Any]) -> "Preset":
        """``{'steps': 500, 'seeds': 5, 'rows': {'4.7': [0, 4]}}`` → a changed preset (``--set``)."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(pairs) - set(fields))
        if unknown:
            raise ParameterError(f"unknown preset field(s) {unknown}; allowed: {sorted(fields)}")
        preset = dataclasses.replace(self, **pairs)
        for name in ("search_steps", "steps", "source_steps", "target_cnn_steps", "thesis_source_steps",
                     "thesis_target_steps", "batch_size", "seeds", "bof_epochs"):
            value = getattr(preset, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(f"preset field {name}={value!r} must be a positive integer")
        if not preset.size_scale > 0 or not preset.learning_rate > 0:
            raise ParameterError("preset fields size_scale and learning_rate must be positive")
        for table_id in list(preset.rows) + list(preset.grid):
            if table_id not in TABLES:
                raise ParameterError(f"preset rows/grid name table {table_id!r}; tables are {', '.join(TABLES)}")
        for table_id, chosen in preset.rows.items():
            n = len(TABLES[table_id].thesis) if TABLES[table_id].kind == "rows" else 0
            if not n or not chosen or any(not isinstance(i, int) or not 0 <= i < n for i in chosen):
                raise ParameterError(f"rows[{table_id!r}]={chosen!r}: Table {table_id} "
                                     + (f"has rows 0 to {n - 1}" if n else "has no learning-rate rows"))
        return preset

    def scaled_row(self, row: Dict[str, Any], task: str) -> Dict[str, Any]:
        """A row of Tables 4.5–4.8 with its step-downs scaled to this preset's run length."""
        return {"cnn_low_lr": row["cnn_low_lr"], "cnn_low_step": self.decay(row["cnn_low_step"], task),
                "cnn_high_lr": row["cnn_high_lr"], "cnn_high_step": self.decay(row["cnn_high_step"], task)}

    def size(self, thesis_value: int) -> int:
        return max(8, int(round(thesis_value * self.size_scale)))

    def decay(self, thesis_step, task: str) -> int:
        if thesis_step is NA:
            return 10 ** 9
        ours, theirs = ((self.source_steps, self.thesis_source_steps) if task == "source"
                        else (self.target_cnn_steps, self.thesis_target_steps))
        return max(1, int(round(thesis_step * ours / theirs)))


PRESETS = Registry("preset")


@PRESETS.register("quick")
def _quick() -> Preset:
    """A reduced run of every table on ``demo_catalog/small`` within 45 minutes on 2 CPU cores."""
    return Preset(name="quick", size_scale=1 / 8, search_steps=150, steps=300, source_steps=40, target_cnn_steps=30,
                  finetune_seconds=6.0, max_seconds=60.0, learning_rate=3e-3, bof_epochs=2, seeds=3,
                  rows={"4.5": (1, 4), "4.6": (0, 2), "4.7": (3, 4), "4.8": (1, 3)},
                  grid={"4.3": {"Z": (64, 128), "H": (64, 128)}, "4.4": {"T": (64, 128), "p": (0.0, 0.3)}},
                  source_dataset="demo_catalog/source", cnn="MTT_musicnn")


@PRESETS.register("thesis")
def _thesis() -> Preset:
    """The thesis's sizes, grids and rows, and run lengths of its order (Sec. 4.3)."""
    return Preset(name="thesis")


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

def _rate(lr, step) -> str:
    if lr == 0:
        return "Freeze"
    return f"({lr:g}; {'NA' if step is NA or step >= 10 ** 9 else step})"


def render_markdown(result: Dict[str, Any]) -> str:
    """The table laid out as the thesis's, ``ours (thesis)`` in each cell or a thesis column."""
    table = TABLES[result["table"]]
    preset = Preset(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in result["preset"].items()
                       if k not in ("rows", "grid")})
    head = (f"### Table {table.id}: {table.title}\n\n"
            f"Preset `{result['preset']['name']}` on `{result['dataset']}`, weighted ROC-AUC on the "
            f"{result['split']} split ({result['seconds']:.0f} s)")
    if table.kind == "grid":
        a_row, a_col = table.axes
        got = {(t["values"][a_row], t["values"][a_col]): t["weighted_roc_auc"] for t in result["trials"]}
        thesis_rows = sorted({k[0] for k in table.thesis})
        thesis_cols = sorted({k[1] for k in table.thesis})
        ours = lambda a, v: v if a == "p" else preset.size(v)  # noqa: E731
        label = lambda a, v: f"{a} = {v}" if a == "p" else f"{a} = {ours(a, v)} ({v})"  # noqa: E731
        lines = [head + "; each cell: ours (thesis). Our sizes are the thesis's × "
                 f"{preset.size_scale:g}; — = not run in this preset.\n",
                 "| | " + " | ".join(label(a_col, c) for c in thesis_cols) + " |",
                 "|---|" + "---|" * len(thesis_cols)]
        for r in thesis_rows:
            cells = []
            for c in thesis_cols:
                v = got.get((ours(a_row, r), ours(a_col, c)))
                cell = f"{v:.3f} ({table.thesis[(r, c)]:.2f})" if v is not None else f"— ({table.thesis[(r, c)]:.2f})"
                cells.append(f"**{cell}**" if v is not None and v == result["best"]["weighted_roc_auc"] else cell)
            lines.append(f"| {label(a_row, r)} | " + " | ".join(cells) + " |")
        extra = sorted(set(got) - {(ours(a_row, r), ours(a_col, c)) for r in thesis_rows for c in thesis_cols})
        for k in extra:
            lines.append(f"| {a_row} = {k[0]}, {a_col} = {k[1]} (not in the thesis) | {got[k]:.3f} |")
    elif table.kind == "rows":
        got = {json.dumps(t["values"], sort_keys=True): t["weighted_roc_auc"] for t in result["trials"]}
        lines = [head + f"; step-downs scaled to our run length ({result['steps']} steps). — = not run in this "
                 "preset.\n", "| Layer = 1,2 | Layer = 3,4,5 | ours (scaled steps) | WAUC ours | WAUC thesis |",
                 "|---|---|---|---|---|"]
        for row, wauc in table.thesis:
            scaled = preset.scaled_row(row, table.task)
            v = got.get(json.dumps(scaled, sort_keys=True))
            mark = "**" if v is not None and v == result["best"]["weighted_roc_auc"] else ""
            lines.append(f"| {_rate(row['cnn_low_lr'], row['cnn_low_step'])} | "
                         f"{_rate(row['cnn_high_lr'], row['cnn_high_step'])} | "
                         f"{_rate(scaled['cnn_low_lr'], scaled['cnn_low_step'])} / "
                         f"{_rate(scaled['cnn_high_lr'], scaled['cnn_high_step'])} | "
                         f"{mark}{'—' if v is None else f'{v:.3f}'}{mark} | {wauc:.2f} |")
    else:
        seeds = result["preset"]["seeds"]
        lines = [head.replace("weighted ROC-AUC on the", "on the") + f"; mean ± std over {seeds} seeds.\n",
                 "| Model | WAUC ours | WAUC thesis | macro ROC-AUC | macro PR-AUC | starts from |",
                 "|---|---|---|---|---|---|"]
        thesis = dict(table.thesis)
        for row in result["rows"]:
            w, m, pr = row["weighted_roc_auc"], row["macro_roc_auc"], row["macro_pr_auc"]
            source = os.path.basename(row["source"]) if row["source"] else "—"
            lines.append(f"| {LABELS[row['variant']]} (`{row['variant']}`) | {w['mean']:.3f} ± {w['std']:.3f} | "
                         f"{thesis[row['variant']]:.2f} | {m['mean']:.3f} ± {m['std']:.3f} | "
                         f"{pr['mean']:.3f} ± {pr['std']:.3f} | {source} |")
    if result.get("saved_model"):
        lines.append(f"\nBest model exported: `{result['saved_model']}`")
    return "\n".join(lines) + "\n"


def plot_table(result: Dict[str, Any], path: str) -> None:
    """A bar chart of ours against the thesis's numbers (error bars: std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = TABLES[result["table"]]
    if table.kind == "variants":
        thesis = dict(table.thesis)
        labels = [LABELS[r["variant"]].replace(" + ", "\n+ ") for r in result["rows"]]
        ours = [r["weighted_roc_auc"]["mean"] for r in result["rows"]]
        err = [r["weighted_roc_auc"]["std"] for r in result["rows"]]
        theirs = [thesis[r["variant"]] for r in result["rows"]]
    else:
        trials = sorted(result["trials"], key=lambda t: json.dumps(t["values"], sort_keys=True))
        labels = ["\n".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["values"].items())
                  for t in trials]
        ours, err = [t["weighted_roc_auc"] for t in trials], None
        theirs = None
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(labels)), 4))
    x = list(range(len(labels)))
    width = 0.4 if theirs else 0.6
    ax.bar([i - (width / 2 if theirs else 0) for i in x], ours, width, yerr=err, label="ours", color="tab:blue")
    if theirs:
        ax.bar([i + width / 2 for i in x], theirs, width, label="thesis", color="tab:gray")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylim(0.4, 1.0)
    ax.axhline(0.5, color="k", ls=":", lw=1)
    ax.set(ylabel=f"weighted ROC-AUC ({result['split']})", title=f"Table {table.id} ({result['preset']['name']})")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
