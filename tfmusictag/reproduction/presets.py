"""The budgets the thesis's experiments run at (:data:`PRESETS`: ``quick``, ``thesis``)."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional, Tuple

from tfmusictag.errors import ParameterError
from tfmusictag.registry import Registry, override
from tfmusictag.reproduction.tables import NA, TABLES

__all__ = ["Preset", "PRESETS"]

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
        """``{'steps': 500, 'seeds': 5, 'rows': {'4.7': [0, 4]}}`` → a changed preset (``--set``).

        Each field goes through the package's one config walker (:func:`tfmusictag.registry.override`:
        an unknown field or a value of the wrong kind is the same one-line error as in ``train``'s
        ``--set``); then the preset's own rules (positive sizes, rows and grids of real tables)."""
        preset = self
        for path, value in pairs.items():
            try:
                preset = override(preset, path, value)
            except ParameterError as exc:
                raise ParameterError(f"preset: {exc}") from None
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
