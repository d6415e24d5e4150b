"""Print the README's tagging-speed table from ``benchmarks/results/musicnn.json`` (and
``recipe_predict.json`` when present): the figures come from the results files, never by hand.

Usage::

    .venv/bin/python benchmarks/render_tagging_table.py
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
SYSTEMS = (("musicnn", "musicnn 0.1.0 (its own environment; one warm-up call, then one call per file)"),
           ("essentia", "Essentia 2.1b6 `TensorflowPredictMusiCNN` (same checkpoint frozen; loaded once)"),
           ("predict", "**`predict`** (default: the kernels picked for this CPU)"),
           ("predict --kernels=tensorflow", "`predict --kernels=tensorflow`"),
           ("predict --kernels=onednn", "`predict --kernels=onednn`"),
           ("predict --onednn", "`predict --onednn`"),
           ("predict --precision=bfloat16", "`predict --precision=bfloat16`"))


def render(name: str = "musicnn") -> str:
    """The table of ``results/<name>.json`` (``musicnn.json``: the latest CPU; ``musicnn_*.json``: others)."""
    with open(os.path.join(RESULTS, f"{name}.json")) as f:
        r = json.load(f)
    minutes = r["audio_seconds"] / 60
    lines = [f"**Tagging real tracks, whole processes** (`benchmarks/bench_musicnn.py`, {r['machine']}, {r['date']}): "
             f"the {len(r['files'])} longest `wesnoth-1.16-music` recordings ({minutes:.1f} min, Ogg Vorbis 44.1 kHz "
             f"stereo), one process per system tagging them all, start to exit, median of alternating runs ("
             + ", ".join(f"{m}: {len(e['predict']['all_seconds'])}" for m, e in r["models"].items())
             + "); the tags compared with musicnn's, per 3 s patch and per track (the mean over its patches):", ""]
    models = list(r["models"])
    lines.append("| system | " + " | ".join(f"{m}: s (× real time) | speed vs musicnn | peak RSS" for m in models) + " |")
    lines.append("|---|" + "---|---|---|" * len(models))
    for key, label in SYSTEMS:
        if not all(key in r["models"][m] for m in models):
            continue
        cells = []
        for m in models:
            e = r["models"][m][key]
            cells.append(f"{e['seconds']:.1f} ({e['x_realtime']:.0f}×) | {e['speed_vs_musicnn']:.2f}× | "
                         f"{e['peak_mb'] / 1000:.2f} GB")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    def differences(entry):
        track = entry.get("max_track_tag_difference")
        return f"{entry['max_taggram_difference']:.1e}" + (f" per patch, {track:.1e} per track" if track else "")

    diffs = "; ".join(f"{m} {differences(r['models'][m])}" for m in models)
    ess = "; ".join(f"{m} {differences(r['models'][m]['essentia'])}" for m in models if "essentia" in r["models"][m])
    lines += ["", f"Largest difference from musicnn's tags: `predict` {diffs} (its JSON rounds to 4 decimals)"
              + (f"; Essentia {ess} (its own mel front end and patch alignment)." if ess else ".")]
    low = {m: r["models"][m]["predict --precision=bfloat16"] for m in models
           if "max_patch_difference" in r["models"][m].get("predict --precision=bfloat16", {})}
    if low:
        lines += ["", "bfloat16 against float32 (`predict`'s own tags): " + "; ".join(
            f"{m} {e['max_patch_difference']:.1e} per patch, {e['max_track_difference']:.1e} per track, the same "
            f"decided tags on {e['tracks_with_the_same_decided_tags']} tracks" for m, e in low.items()) + "."]
    default = {r["models"][m].get("default_kernels") for m in models} - {None}
    if default:
        lines += ["", f"The default's kernels on this CPU: {', '.join(sorted(default))}."]
    path = os.path.join(RESULTS, "recipe_predict.json")
    if os.path.exists(path) and name == "musicnn":
        with open(path) as f:
            q = json.load(f)
        lines += ["", f"A small-catalog recipe model (`MTT_vgg` + `MSD_musicnn`, exported; "
                      f"`benchmarks/bench_recipe_predict.py`, {q['date']}, same files): "
                      f"{q['this checkout']['seconds']:.1f} s ({q['this checkout']['x_realtime']:.0f}× real time, "
                      f"{q['this checkout']['peak_mb'] / 1000:.2f} GB) against {q['baseline']['seconds']:.1f} s for "
                      f"commit {q['baseline_commit']} of this package: "
                      f"**{q['this checkout']['speed_vs_baseline']:.2f}×**, "
                      + (f"tags within {q['max_tag_difference']:.1e}." if q["max_tag_difference"] else
                         "the same tags to the 4 decimals of predict's JSON.")]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render())
