"""The experiments' results beside the thesis's numbers: a Markdown report and one figure per table."""

from __future__ import annotations

import json
import os
from typing import Any, Dict

from tfmusictag.reproduction.presets import Preset
from tfmusictag.reproduction.tables import LABELS, NA, TABLES

__all__ = ["render_markdown", "plot_table"]

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
