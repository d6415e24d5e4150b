"""The documentation's figures, drawn when the site is built from ``benchmarks/results/``.

``<!-- figure: name -->`` in a page becomes a ``<figure>`` holding the SVG drawn from that figure's
results file (inline, as a ``data:`` URI: the site stays one folder that opens offline) and a
caption naming the file and the machine it was measured on. Like the tables, no figure is drawn
by hand; a figure whose results file is missing stops the build with the command that writes it.
"""

import base64
import io
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


class MissingResults(RuntimeError):
    """A figure's results file is not in ``benchmarks/results/``."""


def _load(name, script):
    path = os.path.join(RESULTS, f"{name}.json")
    if not os.path.exists(path):
        raise MissingResults(f"the figure needs benchmarks/results/{name}.json: run python benchmarks/{script}")
    with open(path) as f:
        return json.load(f)


def _catalogs(name, script):
    """``[(title, result)]`` of the demo catalog's results file, and of the real recordings' when
    it exists (``<name>_real.json``)."""
    catalogs = [("demo catalog", _load(name, script))]
    if os.path.exists(os.path.join(RESULTS, f"{name}_real.json")):
        catalogs.append(("real recordings", _load(f"{name}_real", f"{script} --catalog=real")))
    return catalogs


def _figure(width=7.0, height=3.6):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    fig.set_layout_engine("constrained")
    return fig


def speed():
    """Speed of tagging the same real tracks, against musicnn and Essentia (``musicnn.json``)."""
    r = _load("musicnn", "bench_musicnn.py")
    systems = ("musicnn", "essentia", "predict", "predict --kernels=tensorflow", "predict --kernels=onednn",
               "predict --onednn", "predict --precision=bfloat16")
    names = {"musicnn": "musicnn 0.1.0", "essentia": "Essentia", "predict": "tfmusictag predict",
             **{s: s for s in systems[3:]}}
    fig = _figure(7.0, 1.2 + 0.9 * len(r["models"]))
    ax = fig.add_subplot()
    labels, values, colours = [], [], []
    for model, e in r["models"].items():
        for s in systems:
            if s in e and e[s].get("seconds"):
                labels.append(f"{model}: {names[s]}")
                values.append(e[s]["speed_vs_musicnn"])
                colours.append("tab:blue" if s.startswith("predict") else "0.6")
    y = range(len(values))[::-1]
    ax.barh(list(y), values, color=colours)
    for yi, v in zip(y, values):
        ax.text(v + 0.03, yi, f"{v:.2f}×", va="center", fontsize=8)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.axvline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xlim(0, max(values) * 1.12)
    ax.set_xlabel("speed, × musicnn 0.1.0 (whole processes, same files)")
    minutes = r["audio_seconds"] / 60
    cpu = r.get("measured", {}).get("cpu", "")
    return fig, (f"Tagging {len(r['files'])} real tracks ({minutes:.0f} min) with each model, whole processes"
                 + (f" ({cpu}, {', '.join(f for f in r['measured'].get('cpu_flags') or () if 'vnni' in f or 'bf16' in f or 'amx' in f) or 'no VNNI/BF16/AMX'})" if cpu else ""))


def memory():
    """Peak memory of ``predict`` against the track's length (``memory.json``)."""
    r = _load("memory", "bench_memory.py")
    fig = _figure(7.0, 3.4)
    ax = fig.add_subplot()
    by_model = {}
    for row in r["results"]:
        if row["input"].startswith("one ") and row.get("exit") == 0:
            minutes = float(row["input"].split()[1].split("-")[0])
            by_model.setdefault(row["model"], []).append((minutes, row["peak_mb"] / 1000))
    for model, points in by_model.items():
        points.sort()
        ax.plot([m for m, _ in points], [g for _, g in points], "o-", label=model)
    ax.axhline(1.0, color="tab:red", lw=1, ls="--", label="1 GB")
    ax.set(xlabel="track length (minutes)", ylabel="peak memory (GB)", ylim=(0, 1.2))
    ax.legend(fontsize=7, loc="lower right")
    return fig, "Peak memory of one predict process against the track's length: bounded, whatever the length"


def decisions():
    """Decided tags' F1 against a flat 0.5 and top-k, per catalog (``decisions*.json``)."""
    catalogs = _catalogs("decisions", "bench_decisions.py")
    fig = _figure(7.0, 3.2)
    rules = ("decided", "flat_0.5", "flat_0.5_calibrated", "top_k")
    names = ("decided (calibrated thresholds)", "0.5", "0.5, calibrated", "top-k")
    colours = ("tab:blue", "0.55", "0.75", "tab:orange")
    for i, (title, r) in enumerate(catalogs):
        ax = fig.add_subplot(1, len(catalogs), i + 1)
        for k, (rule, colour) in enumerate(zip(rules, colours)):
            e = r["rules"][rule]
            ax.bar([k * 0.2 - 0.3, 1 + k * 0.2 - 0.3], [e["micro_f1_mean"], e["macro_f1_mean"]], 0.18,
                   yerr=[e["micro_f1_std"], e["macro_f1_std"]], color=colour, label=names[k] if i == 0 else None)
        ax.set_xticks([0, 1], ["micro F1", "macro F1"])
        ax.set(ylim=(0, 1), title=f"{title} ({r['folds']} folds)")
    fig.legend(fontsize=7, loc="outside lower center", ncols=4)
    return fig, "F1 of the decided tags of held-out tracks against a flat 0.5 and top-k (mean ± std over folds)"


def small_catalog():
    """The small-catalog recipe against its probes, fold by fold (``small_catalog*.json``)."""
    catalogs = _catalogs("small_catalog", "bench_small_catalog.py")
    fig = _figure(7.0, 3.2)
    for i, (title, r) in enumerate(catalogs):
        ax = fig.add_subplot(1, len(catalogs), i + 1)
        for system, e in r["systems"].items():
            folds = range(1, len(e["per_fold"]) + 1)
            style = dict(lw=2.2, color="tab:blue") if system == "recipe" else dict(lw=1, alpha=0.7)
            ax.plot(list(folds), e["per_fold"], "o-", ms=3, label=system if i == 0 else None, **style)
        ax.set(xlabel="fold", ylabel="weighted ROC-AUC" if i == 0 else None, title=f"{title} ({r['tracks']} tracks)")
        ax.set_xticks(list(folds))
    fig.legend(fontsize=7, loc="outside lower center", ncols=4)
    return fig, "The small-catalog recipe against the probes a user would write, on the same held-out folds"


def taggram():
    """A real track's taggram (``taggram.json``: segment probabilities saved by the benchmark)."""
    import sys

    r = _load("taggram", "taggram_example.py")
    sys.path.insert(0, ROOT)
    from tfmusictag.taggram import taggram_figure

    fig = taggram_figure(r["segment_probabilities"], r["segment_start_seconds"], r["tags"],
                         segment_seconds=r["segment_seconds"], track_probabilities=r["probabilities"],
                         decided=r["decided"], max_tags=15, title=f"{r['file']} — {r['model']}")
    return fig, f"The taggram of {r['file']} ({r['source']}), tagged by {r['model']}; its decided tags marked"


#: figure name → (drawing function, its results file)
FIGURES = {"speed": (speed, "musicnn"), "memory": (memory, "memory"), "decisions": (decisions, "decisions"),
           "small_catalog": (small_catalog, "small_catalog"), "taggram": (taggram, "taggram")}


def render(name):
    """The Markdown (raw HTML) of figure ``name``: an inline SVG and its caption."""
    if name not in FIGURES:
        raise KeyError(f"unknown figure {name!r}; known: {sorted(FIGURES)}")
    draw, results = FIGURES[name]
    fig, caption = draw()
    caption = f"{caption} (<code>benchmarks/results/{results}.json</code>)"
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})  # no date: the same results give the same page
    data = base64.b64encode(buf.getvalue().encode()).decode()
    alt = caption.split(" (<code>")[0]
    return (f'<figure class="tfm-figure" id="figure-{name}"><img alt="{alt}" '
            f'src="data:image/svg+xml;base64,{data}"/><figcaption>{caption}</figcaption></figure>')
