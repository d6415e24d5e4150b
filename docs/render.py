"""The generated parts of the documentation and of the README: never written by hand.

* ``<!-- generated: benchmarks -->`` — every results file of ``benchmarks/results/``, with the
  script that wrote it, the machine and the date it was measured on;
* ``<!-- generated: headline -->`` — the README's short table of headline figures;
* ``<!-- generated: config -->`` — every field of the training and model configs, from the dataclasses;
* ``<!-- generated: datasets -->`` — the README of every builder folder in ``datasets/``;
* ``<!-- generated: model_cards -->`` — a card per pretrained model, with its speed and memory here;
* ``<!-- figure: name -->`` — a figure drawn from a results file (``docs/figures.py``).

The MkDocs hook (``docs/hooks.py``) fills the markers at build time; the README's headline table
is written between ``<!-- headline:start -->`` and ``<!-- headline:end -->`` by
``python docs/render.py --readme``, and the test suite fails when it differs from the results.
A table that no results file holds does not appear; a figure whose results file is missing stops
the build.

Usage::

    python docs/render.py --readme        # rewrite the README's headline table
    python docs/render.py --benchmarks    # print the benchmarks page's tables
"""

import dataclasses
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
README = os.path.join(ROOT, "README.md")
MARKER = re.compile(r"<!-- generated: (\w+) -->")


def _load(name):
    path = os.path.join(RESULTS, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _committed(name):
    """The date a results file was last committed (a file written before results recorded their date)."""
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%cs", "--", os.path.join("benchmarks", "results",
                                                                                        f"{name}.json")],
                             cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def measured(name, r):
    """``'<machine>, <date>'`` of a result: recorded in the file (``measured``, ``machine``, ``date``),
    else the date of its last commit."""
    m = r.get("measured", {})
    if m:
        flags = f" ({' '.join(m['cpu_flags'])})" if m.get("cpu_flags") else ""
        machine = f"{m.get('cpu')}{flags}, {m.get('cores')} cores" + (f", {', '.join(m['gpus'])}" if m.get("gpus")
                                                                       else ", no GPU")
        return f"{machine}; {m.get('date')}"
    machine = r.get("machine") or (f"{r['machine_cores']} cores" if "machine_cores" in r else "machine not recorded")
    date = r.get("date") or _committed(name) or "date not recorded"
    return f"{machine}; {date}"


def _table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# -- one renderer per results file ------------------------------------------------------------------

def _musicnn(r, name="musicnn"):
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from render_tagging_table import render  # the README's table before this page existed: one renderer

    return render(name)


def _frontend(r):
    fx, dx, mem = r["file_to_logmel_x_realtime"], r["decode_only_single_process_x_realtime"], r[
        "memory_60min_flac_44k_stereo"]
    rows = [[s, f"{fx[s]:.0f}", f"{dx[s]:.0f}", f"{mem[s]['peak_mb']:.0f} MB"] for s in ("librosa", "tfmusictag")]
    rows.append(["**ratio**", f"**{r['ratio_tfmusictag_over_librosa']:.2f}×**",
                 f"{dx['tfmusictag'] / dx['librosa']:.2f}×",
                 f"{mem['tfmusictag']['peak_mb'] / mem['librosa']['peak_mb']:.2f}×"])
    return (f"File → log-mel over {r['tracks']} tracks ({r['audio_minutes']} min), "
            "tfmusictag's `tf.data` pipeline against `librosa.load` + `librosa.feature.melspectrogram`:\n\n"
            + _table(["pipeline", "file → log-mel, × real time", "decode only, × real time",
                      "peak RSS, one 60-min track"], rows))


def _memory(r):
    models, inputs = [], []
    for e in r["results"]:
        if e["model"] not in models:
            models.append(e["model"])
        if e["input"] not in inputs:
            inputs.append(e["input"])
    cell = {(e["model"], e["input"]): e for e in r["results"]}
    rows = [[m] + [f"{cell[(m, i)]['peak_mb'] / 1000:.2f} GB ({cell[(m, i)]['seconds']:.0f} s)"
                   if (m, i) in cell else "—" for i in inputs] for m in models]
    return (f"Peak resident memory of `predict`, a fresh process per run (importing TensorFlow alone: "
            f"{r['import_tensorflow_mb'] / 1000:.2f} GB):\n\n" + _table(["model"] + inputs, rows))


def _models(r):
    rows = [[v, f"{e['parameters'] / 1e6:.1f} M", f"{e['s_per_min']:.3f}", f"{e['x_realtime']:.0f}"]
            for v, e in sorted(r["variants"].items(), key=lambda kv: kv[1]["s_per_min"])]
    return (f"Forward pass (waveform → tags, front end included, thesis sizes), one {r['track_minutes']:.0f}-minute "
            f"track; the front end alone: {r['front_end_s_per_min']:.4f} s per minute:\n\n"
            + _table(["variant", "parameters", "s per minute of audio", "× real time"], rows))


def _pipeline(r):
    rows = [[v, f"{s:.0f}", f"{r['pipeline_audio_s_per_s'] / s:.2f}"] for v, s in r["consumption_audio_s_per_s"].items()]
    return (f"The data pipeline delivers {r['pipeline_audio_s_per_s']:.0f} s of audio per second; training consumes:\n\n"
            + _table(["variant (thesis sizes)", "audio s per s consumed", "pipeline / training"], rows))


def _predict(r):
    return _table(["tracks", "audio", "decode only, × real time", "`predict`, × real time", "predict / decode"],
                  [[r["tracks"], f"{r['audio_minutes']} min", f"{r['decode_only_x_realtime']:.0f}",
                    f"{r['tagging_x_realtime']:.0f}", f"{r['tagging_over_decode']:.2f}"]])


def _experiments_cost(r):
    rows = [[t, f"{s / 86400:.1f}"] for t, s in r["estimated_seconds_per_table"].items()]
    rows.append(["**all**", f"**{r['estimated_total_days']:.1f}**"])
    steps = ", ".join(f"{k} {v['seconds_per_step']:.2f} s" for k, v in r["seconds_per_step"].items())
    return (f"`--preset=thesis --table=all`, estimated from seconds per training step ({steps}):\n\n"
            + _table(["table", "days"], rows))


def _distributed(r):
    t = r["tagging"]
    rows = [["training, tracks per second", f"{r['training_tracks_per_second']['1 process']:.1f}",
             f"{r['training_tracks_per_second']['2 workers']:.1f}", f"{r['training_2_workers_over_1_process']:.2f}"],
            [f"tagging {t['tracks']} tracks ({t['audio_minutes']:.0f} min), tracks per second",
             f"`predict` {t['predict_tracks_per_second']:.2f}",
             f"`predict_beam` {t['predict_beam_2_workers_tracks_per_second']:.2f}", f"{t['beam_over_predict']:.2f}"]]
    grads = [[v, f"{e['trainable_parameters']:,}", f"{e['gradient_megabytes_per_step']:.1f}"]
             for v, e in sorted(r["allreduce_per_step"].items(), key=lambda kv: kv[1]["trainable_parameters"])]
    return (f"`{r['variant']}`, global batch {r['global_batch']}, {r['steps']} steps:\n\n"
            + _table(["", "1 process", "2 workers (localhost)", "ratio"], rows)
            + "\n\nGradient volume all-reduced per step (thesis sizes):\n\n"
            + _table(["variant", "trainable parameters", "MB per step"], grads))


def _small_catalog(r):
    rows = [[s, f"{e['weighted_roc_auc_mean']:.3f} ± {e['weighted_roc_auc_std']:.3f}",
             " ".join(f"{x:.3f}" for x in e["per_fold"])] for s, e in r["systems"].items()]
    g = r["recipe_minus_probe"]
    return (f"`{r['dataset']}` ({r['tracks']} tracks, {r['tags']} tags), {r['folds']} folds, weighted ROC-AUC on "
            f"held-out tracks (`recipe`: `train` without `--variant`; `probe*`: scikit-learn logistic regression "
            f"on the same networks):\n\n"
            + _table(["system", "mean ± std over folds", "per fold"], rows)
            + f"\n\nRecipe − probe on `MTT_vgg`'s last layer: {g['mean']:+.3f} (worst fold {g['min_fold']:+.3f}, "
              f"{g['folds_won']} of {r['folds']} folds won)." + _bof(r))


def _bof(r):
    rows = [[z, f"{e['weighted_roc_auc_mean']:.3f}", e.get("nonzero_bins_per_track", "—"), e.get("patches_per_track", "—")]
            for z, e in r.get("bof_over_last_layer", {}).items()]
    if not rows:
        return ""
    return ("\n\nThe thesis's Bag of Frames over `MTT_vgg`'s patch vectors on the same folds (a codebook of Z "
            "centres fitted on the training folds, each track's histogram, the same probe on it):\n\n"
            + _table(["codebook", "weighted ROC-AUC", "non-zero bins per track", "patches per track"], rows))


def _ablations(r):
    rows = [[name, f"{e['weighted_roc_auc_mean']:.3f}", f"{e['gain_over_probe_mean']:+.3f}",
             f"{e['gain_worst_fold']:+.3f}", f"{e['folds_won']} of {r['folds']}"] for name, e in r["designs"].items()]
    return (f"Changes of the recipe written in scikit-learn on the same patch vectors, `{r['dataset']}` "
            f"({r['tracks']} tracks), {r['folds']} random folds:\n\n"
            + _table(["design", "weighted ROC-AUC", "gain over the probe", "worst fold", "folds won"], rows))


def _lstm(r):
    rows = []
    for run in r["runs"]:
        for rec in run["records"]:
            rows.append([("standardised" if run["standardize"] else "raw MFCC") + f", seed {run['seed']}", rec["step"],
                         f"{rec['loss']:.3f}", f"{rec['segment_fraction_with_gradient_above_1e-3_of_last']:.1f}",
                         f"{rec['gate_saturation']:.2f}"])
    return (f"`{r['variant']}` on `{r['dataset']}` (T = {r['T']}): how much of each 29.1 s segment the frame "
            "LSTM's gradient reaches (the fraction of the segment, from its end, whose input gradient exceeds "
            "1e-3 of the last frames'), and the share of saturated gates:\n\n"
            + _table(["input", "step", "training loss", "segment reached", "gates saturated"], rows))


def _decisions(r):
    names = {"decided": "the model's decided tags (calibrated, its thresholds)", "flat_0.5": "0.5 for every tag",
             "flat_0.5_calibrated": "0.5 on the calibrated probabilities", "top_k": "top-k (k: mean tags per training track)"}
    rows = [[names.get(rule, rule), f"{e['micro_f1_mean']:.3f} ± {e['micro_f1_std']:.3f}", f"{e['macro_f1_mean']:.3f} ± "
             f"{e['macro_f1_std']:.3f}"] for rule, e in r["rules"].items()]
    folds = [[k + 1, f["held_out_tracks"], f["rule"], f["calibration"],
              f"{f['decided']['micro_f1']:.3f} / {f['decided']['macro_f1']:.3f}",
              f"{f['flat_0.5']['micro_f1']:.3f} / {f['flat_0.5']['macro_f1']:.3f}",
              f"{f['top_k']['micro_f1']:.3f} / {f['top_k']['macro_f1']:.3f}",
              f"{f['calibration_figures']['ece_before']:.3f} → {f['calibration_figures']['ece_after']:.3f}",
              f"{f['threshold_range'][0]:.3f}–{f['threshold_range'][1]:.3f}"] for k, f in enumerate(r["per_fold"])]
    c = r["calibration_pooled"]
    return (f"Decided tags of the small-catalog recipe on `{r['dataset']}`, {r['folds']} folds (every track held out "
            f"once), micro and macro F1 of the held-out tracks:\n\n"
            + _table(["decision rule", "micro F1", "macro F1"], rows)
            + f"\n\nThe decided tags beat both 0.5 and top-k on micro *and* macro F1 in "
            f"{r['folds_decided_beats_flat_and_top_k_on_both']} of {r['folds']} folds. Calibration of the held-out "
            f"probabilities (every track × tag of every fold): expected calibration error {c['network']['ece']:.3f} → "
            f"{c['calibrated']['ece']:.3f}, Brier score {c['network']['brier']:.3f} → {c['calibrated']['brier']:.3f}, "
            f"probabilities below 0.02 or above 0.98 {c['network']['extreme_fraction']:.1%} → "
            f"{c['calibrated']['extreme_fraction']:.1%}. Per fold:\n\n"
            + _table(["fold", "held-out tracks", "threshold rule", "calibration", "decided micro / macro F1",
                      "0.5", "top-k", "ECE (network → shown)", "thresholds"], folds))


def _generic(r):
    """Any other results file: its scalar fields."""
    flat = {}

    def walk(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            elif isinstance(v, (int, float, str, bool)) and k not in ("machine", "date", "note", "what"):
                flat[f"{prefix}{k}"] = v

    walk({k: v for k, v in r.items() if k != "measured"})
    return _table(["field", "value"], [[f"`{k}`", v] for k, v in list(flat.items())[:40]])


def _library(r):
    f, rescan, s, big, w = r["first_tagging"], r["rescan"], r["search_100k"], r["similar_1m"], r["file_tags"]
    rows = [["first tagging of a collection: `library update` against `predict` (medians of "
             f"{len(f['predict_seconds'])} alternating runs, {f['tracks']} tracks of {f['seconds_each']:.0f} s)",
             f"{statistics_median(f['library_update_seconds']):.1f} s against {statistics_median(f['predict_seconds']):.1f} s: "
             f"{100 * f['overhead']:+.1f} %"],
            [f"rescan of {rescan['files']:,} unchanged files (the model's loading apart: "
             f"{rescan['model_load_seconds']} s)", f"{rescan['seconds_per_1000_files']} s per 1,000 files"]]
    for key, value in s.items():
        if key.startswith("search: "):
            rows.append([f"{key} at {s['tracks']:,} tracks", f"{value['median_seconds'] * 1000:.1f} ms ({value['found']} found)"])
    rows.append([f"similar tracks at {s['tracks']:,} tracks ({s['embedding_dim']}-d)",
                 f"{s['similar: median seconds per query'] * 1000:.1f} ms a query; "
                 f"{s['similar: matrix rebuild seconds']} s to rebuild the matrix after a change"])
    rows.append([f"similar tracks at {big['tracks']:,} tracks ({big['embedding_dim']}-d)",
                 f"{big['median_seconds_per_query'] * 1000:.0f} ms a query (median; slowest {big['max_seconds_per_query'] * 1000:.0f} ms)"])
    rows.append([f"tags into {w['files']} files (MP3, FLAC, Ogg, WAV; audio checked before each rename)",
                 f"{w['files_per_second']} files per second"])
    return _table(["what", "figure"], rows)


def _catalog_page(r):
    n = f"{r['tracks']:,}"
    rows = [[f"write the page of {n} tracks ({r['tags']} tags)",
             f"{r['write_page_seconds']} s; index.html {r['index_html_mb']} MB, taggrams {r['taggram_files_mb']} MB beside it"],
            ["open it from disk until it answers (median of 3)",
             f"{r['load_ms_median']:,} ms ({r['load_ms_inside_page']:,} ms of it in the page's script); "
             f"JavaScript heap {r['js_heap_mb']} MB"],
            [f"filter all {n} by tags (`guitar -vocals`: {r['matches_after_guitar_minus_vocals']:,} match) and draw "
             "the first page", f"{r['filter_by_tags_ms']:.1f} ms"],
            ["filter by a probability cut (`techno>0.3 fast`)", f"{r['filter_probability_cut_ms']:.1f} ms"],
            ["search by name", f"{r['name_search_ms']:.1f} ms"],
            [f"sort all {n} by a tag's probability", f"{r['sort_by_tag_ms']:.1f} ms"],
            ["next page of 100 rows", f"{r['next_page_ms']:.1f} ms"],
            ["open a taggram (its file of 500 read on first use; first, middle, last)",
             ", ".join(f"{v:.0f}" for v in r["taggram_open_ms"]) + f" ms; again {r['taggram_open_again_ms']:.0f} ms"]]
    return _table(["what", "figure"], rows) + f"\n\nIn {r['browser']}; every interaction is timed inside the page, median of 5."


def statistics_median(values):
    import statistics

    return statistics.median(values)


#: results file → (title, script, renderer); files not listed here render with :func:`_generic`.
PAGES = {
    "musicnn": ("Tagging against musicnn and Essentia", "bench_musicnn.py", _musicnn),
    "musicnn_amd_avx512": ("Tagging against musicnn and Essentia, on an AMD CPU with AVX-512 (VNNI, BF16; no AMX)",
                           "bench_musicnn.py", lambda r: _musicnn(r, "musicnn_amd_avx512")),
    "musicnn_amd_avx2": ("Tagging against musicnn and Essentia, on a CPU with AVX2 only", "bench_musicnn.py",
                         lambda r: _musicnn(r, "musicnn_amd_avx2")),
    "decisions": ("Decided tags and calibrated probabilities: thresholds, 0.5 and top-k", "bench_decisions.py", _decisions),
    "decisions_real": ("Decided tags, real recordings", "bench_decisions.py --catalog=real", _decisions),
    "small_catalog": ("Small catalogs: the recipe against a linear probe", "bench_small_catalog.py", _small_catalog),
    "small_catalog_real": ("Small catalogs, real recordings", "bench_small_catalog.py --catalog=real", _small_catalog),
    "frontend": ("File → log-mel against librosa", "bench_frontend.py", _frontend),
    "predict": ("Tagging throughput against decoding", "bench_predict.py", _predict),
    "recipe_predict": ("Tagging with a recipe model against an earlier version", "bench_recipe_predict.py", _generic),
    "memory": ("Peak memory of predict", "bench_memory.py", _memory),
    "models": ("Forward pass per variant", "bench_models.py", _models),
    "pipeline": ("Data pipeline against training", "bench_pipeline.py", _pipeline),
    "distributed": ("One process against two workers", "bench_distributed.py", _distributed),
    "experiments_cost": ("The thesis preset's cost", "bench_experiments_cost.py", _experiments_cost),
    "small_catalog_ablations": ("Small catalogs: what else was tried", "small_catalog_ablations.py", _ablations),
    "small_catalog_ablations_real": ("Small catalogs, real recordings: what else was tried",
                                     "small_catalog_ablations.py --catalog=real", _ablations),
    "lstm_diagnostics": ("How far back the frame LSTM learns", "lstm_diagnostics.py", _lstm),
    "library": ("The tagged library: store, rescan, search, similar tracks, file tags", "bench_library.py", _library),
    "catalog_page": ("The catalog page in a browser", "bench_catalog_page.py", _catalog_page),
}


def benchmarks():
    names = sorted(f[:-5] for f in os.listdir(RESULTS) if f.endswith(".json"))
    ordered = [n for n in PAGES if n in names] + [n for n in names if n not in PAGES]
    parts = []
    for name in ordered:
        r = _load(name)
        title, script, renderer = PAGES.get(name, (name.replace("_", " ").capitalize(), None, _generic))
        script = script or next((s for s in sorted(os.listdir(os.path.join(ROOT, "benchmarks")))
                                 if s.endswith(".py") and name.split("_real")[0] in s), "benchmarks/")
        parts.append(f"## {title}\n\n`benchmarks/{script}` → `benchmarks/results/{name}.json`; "
                     f"measured on {measured(name, r)}.\n\n{renderer(r)}\n")
    return "\n".join(parts)


def _vs_essentia(e):
    """How many times Essentia's wall time ``predict``'s is, in one model's entry of ``musicnn*.json``."""
    return e["essentia"]["seconds"] / e["predict"]["seconds"]


def _cpu_kind(r, name):
    """``'(Intel Xeon, AMX)'``: the CPU of a ``musicnn*.json`` result and its widest matrix
    instructions (recorded flags, else the file's name)."""
    m = r.get("measured", {})
    cpu = m.get("cpu") or r.get("machine", "").split(",")[0] or "CPU not recorded"
    cpu = cpu.replace("(R)", "").replace(" Processor", "").split(" (")[0]
    flags = m.get("cpu_flags") or []
    if any(f.startswith("amx") for f in flags):
        kind = "AMX"
    elif any(f.startswith("avx512") for f in flags) or name.endswith("avx512"):
        kind = "AVX-512"
    elif "avx2" in flags or name.endswith("avx2"):
        kind = "AVX2 only"
    else:
        kind = None
    return f"({cpu}, {kind})" if kind else f"({cpu})"


def headline():
    """The README's short table: a few figures, each from a results file."""
    rows = []
    m = _load("musicnn")
    if m:
        e = m["models"]["MTT_musicnn"]
        others = []  # the same model on the other CPUs measured (musicnn_<cpu>.json)
        for n in sorted(PAGES):
            r = _load(n) if n.startswith("musicnn_") else None
            o = r and r["models"].get("MTT_musicnn")
            if o and o.get("essentia"):
                others.append(f"{o['predict']['speed_vs_musicnn']:.2f}× and {_vs_essentia(o):.2f}× {_cpu_kind(r, n)}")
        others = "; ".join(others)
        low = e.get("predict --precision=bfloat16")
        rows.append(["tagging with MagnaTagATune's musicnn (`predict --model=MTT_musicnn`)",
                     f"{e['predict']['speed_vs_musicnn']:.2f}× the speed of musicnn 0.1.0, "
                     f"{_vs_essentia(e):.2f}× Essentia's {_cpu_kind(m, 'musicnn')}, "
                     f"the same tags (largest difference {e['max_track_tag_difference']:.2e} per track)"
                     + (f"; with `--precision=bfloat16` {low['speed_vs_musicnn']:.2f}× musicnn" if low else "")
                     + (f". Other CPUs: {others}" if others else ""),
                     "`musicnn*.json`" if others else "`musicnn.json`"])
    d = _load("decisions")
    if d:
        c, g, k = (d["rules"][x] for x in ("decided", "flat_0.5", "top_k"))
        rows.append([f"decided tags on `{d['dataset']}`, micro (macro) F1 of held-out tracks",
                     f"{c['micro_f1_mean']:.2f} ({c['macro_f1_mean']:.2f}) with the calibrated thresholds, "
                     f"{g['micro_f1_mean']:.2f} ({g['macro_f1_mean']:.2f}) at 0.5, {k['micro_f1_mean']:.2f} "
                     f"({k['macro_f1_mean']:.2f}) top-k", "`decisions.json`"])
    s = _load("small_catalog")
    if s:
        rows.append([f"small catalog ({s['tracks']} tracks): `train` without `--variant`",
                     f"weighted ROC-AUC {s['systems']['recipe']['weighted_roc_auc_mean']:.3f} against "
                     f"{s['systems']['probe']['weighted_roc_auc_mean']:.3f} for a scikit-learn probe", "`small_catalog.json`"])
    f = _load("frontend")
    if f:
        rows.append(["audio file → log-mel", f"{f['ratio_tfmusictag_over_librosa']:.2f}× librosa's speed",
                     "`frontend.json`"])
    mem = _load("memory")
    if mem:
        peak = max(e["peak_mb"] for e in mem["results"] if e["system"] == "tfmusictag")
        rows.append(["peak memory of `predict`, any model, tracks up to 60 min", f"largest peak {peak:.1f} MB",
                     "`memory.json`"])
    page = _load("catalog_page")
    if page:
        rows.append([f"the catalog page (`library page`) of {page['tracks']:,} tracks in Chromium",
                     f"ready in {page['load_ms_median']:,} ms from disk; filter by tags {page['filter_by_tags_ms']:.0f} ms, "
                     f"sort by a tag {page['sort_by_tag_ms']:.0f} ms", "`catalog_page.json`"])
    return _table(["what", "figure", "results file"], rows)


def config():
    """Every field of ``TrainConfig`` and of the model config (``model.<path>``), with defaults."""
    sys.path.insert(0, ROOT)
    from tfmusictag.registry import flatten
    from tfmusictag.tagger import TaggerConfig
    from tfmusictag.training.config import TrainConfig

    def doc(cls):
        text = (cls.__doc__ or "").strip().split("\n\n")[0]
        return " ".join(line.strip() for line in text.splitlines())

    def rows(config, prefix=""):
        out = []
        for path, value in flatten(config).items():
            if path.startswith("model."):
                continue
            out.append([f"`{prefix}{path}`", f"`{json.dumps(value, default=str)}`"])
        return out

    parts = [f"### Training (`TrainConfig`)\n\n{doc(TrainConfig)}\n\n" + _table(["path", "default"], rows(TrainConfig()))]
    model = TaggerConfig()
    parts.append(f"### The model (`model.*`, `TaggerConfig`)\n\n{doc(TaggerConfig)} The defaults below are the bare "
                 "config's; each variant sets its own (`python -m tfmusictag.train --list_variants`).\n\n"
                 + _table(["path", "default"], rows(model, "model.")))
    for f in dataclasses.fields(model):
        value = getattr(model, f.name)
        if dataclasses.is_dataclass(value):
            parts.append(f"- `model.{f.name}` — `{type(value).__name__}`: {doc(type(value))}")
    return "\n\n".join(parts)


def datasets():
    """The README of every builder folder in ``datasets/``, headings moved one level down."""
    parts = []
    for name in sorted(os.listdir(os.path.join(ROOT, "datasets"))):
        path = os.path.join(ROOT, "datasets", name, "README.md")
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            text = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", text, flags=re.M)
            parts.append(f'<a id="{name}"></a>\n\n' + text.strip())
    return "\n\n".join(parts)


def model_cards():
    """One card per pretrained model (:mod:`tfmusictag.pretrained.cards`), with its speed and peak
    memory here from ``musicnn.json`` and ``memory.json`` where they were measured."""
    sys.path.insert(0, ROOT)
    from tfmusictag.pretrained.cards import CARDS

    speed, memory = _load("musicnn") or {}, _load("memory") or {}
    parts = []
    for name, card in CARDS.items():
        rows = [["network", card["network"]], ["input", card["input"]], ["trained on", card["trained_on"]],
                ["published scores", card["published"]],
                ["decided tags here", "per track, the tags of highest expected F1 (no labels of the source data "
                                      "are at hand to fit thresholds; `decided_by` says so in every output)"],
                ["weights", card["weights"]], ["licence", card["licence"]], ["cite", card["citation"]]]
        e = speed.get("models", {}).get(name)
        if e and e.get("predict"):
            rows.append(["speed here", f"{e['predict']['x_realtime']:.0f}× real time, {e['predict']['speed_vs_musicnn']:.2f}× "
                         f"musicnn 0.1.0" + (f", {e['predict']['seconds'] and e['essentia']['seconds'] / e['predict']['seconds']:.2f}× "
                                             f"Essentia" if e.get("essentia") else "") + f" (`musicnn.json`; {measured('musicnn', speed)})"])
        peaks = [r for r in memory.get("results", []) if r["model"] == name and r.get("exit") == 0]
        rows.append(["peak memory here", "; ".join(f"{r['input']}: {r['peak_mb'] / 1000:.2f} GB" for r in peaks)
                     + " (`memory.json`)" if peaks else "not measured yet (`benchmarks/bench_memory.py`)"])
        if not (e and e.get("predict")):
            rows.insert(-1, ["speed here", "not measured yet (`benchmarks/bench_musicnn.py` compares the MagnaTagATune "
                                           "models with the original musicnn)"])
        tags = ", ".join(f"`{t}`" for t in card["tags"])
        parts.append(f"## {name}\n\n" + _table(["", ""], rows) + f"\n\n**Tags** ({len(card['tags'])}, in output "
                     f"order): {tags}.\n")
    return "\n".join(parts)


RENDERERS = {"benchmarks": benchmarks, "headline": headline, "config": config, "datasets": datasets,
             "model_cards": model_cards}


FIGURE = re.compile(r"<!-- figure: (\w+) -->")


def fill(markdown):
    """``markdown`` with every ``<!-- generated: name -->`` marker replaced by its rendering and
    every ``<!-- figure: name -->`` by its figure (:mod:`figures`; a missing results file raises)."""
    markdown = MARKER.sub(lambda m: RENDERERS[m.group(1)](), markdown)
    if FIGURE.search(markdown):
        if os.path.dirname(os.path.abspath(__file__)) not in sys.path:  # MkDocs loads the hooks apart
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import figures

        markdown = FIGURE.sub(lambda m: figures.render(m.group(1)), markdown)
    return markdown


def readme_with_headline(text):
    start, end = "<!-- headline:start -->", "<!-- headline:end -->"
    i, j = text.index(start) + len(start), text.index(end)
    return text[:i] + "\n" + headline() + "\n" + text[j:]


if __name__ == "__main__":
    if "--readme" in sys.argv:
        with open(README) as fh:
            updated = readme_with_headline(fh.read())
        with open(README, "w") as fh:
            fh.write(updated)
    elif "--benchmarks" in sys.argv:
        print(benchmarks())
    else:
        print(__doc__)
