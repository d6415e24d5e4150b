"""The documentation cannot drift from the code: the site builds in strict mode (broken links and
anchors, missing API pages and docstrings that do not parse fail), every command shown in the
README and the docs names flags its program knows, the generated tables are the results files'
figures, and the README stays short."""

import functools
import glob
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "docs"))

import render  # noqa: E402
from support import ENV  # noqa: E402

#: The programs (``python -m tfmusictag.<name>`` and ``tfmusictag <name>``) that take absl flags.
PROGRAMS = ("train", "predict", "evaluate", "export", "tune", "experiments", "predict_beam", "demo", "transfer_demo",
            "library")
PAGES = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def test_the_site_builds_in_strict_mode(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    for page in ("index.html", "tagging/index.html", "api/tagging/index.html", "benchmarks/index.html",
                 "config/index.html"):
        assert os.path.exists(tmp_path / "site" / page), page
    api = (tmp_path / "site" / "api" / "tagging" / "index.html").read_text()
    assert "tag_files" in api and "one record per track" in api  # generated from the docstring
    config = (tmp_path / "site" / "config" / "index.html").read_text()
    assert "embedding_views" in config and "model.classifier.l2" in config
    # the docstrings' Sphinx markup is rendered: roles as links (or code), `::` blocks as code
    raw = []
    for page in glob.glob(str(tmp_path / "site" / "api" / "**" / "*.html"), recursive=True):
        html = open(page).read()
        raw += [f"{os.path.relpath(page, tmp_path)}: {m}" for m in
                re.findall(r":(?:mod|func|class|meth|attr|data|exc|obj):(?:<code>|`)[^<`]*", html)]
        raw += [f"{os.path.relpath(page, tmp_path)}: {m}" for m in re.findall(r"[^\s>]*::</p>", html)]
    assert not raw, "\n".join(raw[:20])
    assert api.count('class="autorefs autorefs-internal"') >= 5  # e.g. InferenceModel, track_record
    # the figures are drawn from the results files at build time, inline (the site works offline)
    import base64

    bench = (tmp_path / "site" / "benchmarks" / "index.html").read_text()
    tagging = (tmp_path / "site" / "tagging" / "index.html").read_text()
    for name, html in (("speed", bench), ("memory", bench), ("decisions", bench), ("small_catalog", bench),
                       ("taggram", tagging)):
        m = re.search(rf'id="figure-{name}"><img alt="[^"]+" src="data:image/svg\+xml;base64,([^"]+)"', html)
        assert m, name
        svg = base64.b64decode(m.group(1)).decode()
        assert svg.count("<path") > 20 and "benchmarks/results/" in html[m.end():m.end() + 400], name


def test_every_pretrained_model_has_a_card_with_its_vocabulary_and_figures():
    from tfmusictag import pretrained
    from tfmusictag.pretrained import choi2016, musicnn
    from tfmusictag.pretrained.cards import CARDS

    assert list(CARDS) == pretrained.names()
    for name, card in CARDS.items():
        vocabulary = musicnn.MODELS[name][1] if name in musicnn.MODELS else choi2016.MSD_LABELS
        assert tuple(card["tags"]) == tuple(vocabulary) and len(card["tags"]) == 50
        assert {"network", "input", "trained_on", "published", "licence", "citation", "weights"} <= set(card)
    page = render.model_cards()
    assert all(f"## {name}" in page for name in CARDS)
    ratio = render._load("musicnn")["models"]["MTT_vgg"]["predict"]["speed_vs_musicnn"]
    assert f"{ratio:.2f}× musicnn 0.1.0" in page.split("## MTT_vgg")[1].split("## ")[0]  # from musicnn.json
    assert page.count("| peak memory here |") == page.count("| speed here |") == len(CARDS)
    mtt = page.split("## MTT_musicnn")[1].split("## ")[0]
    peak = [r["peak_mb"] for r in render._load("memory")["results"]
            if r["model"] == "MTT_musicnn" and r["input"] == "one 60-min track"][0]
    assert f"one 60-min track: {peak / 1000:.2f} GB" in mtt  # from memory.json


def test_a_figure_without_its_results_file_stops_the_build(tmp_path, monkeypatch):
    import figures

    assert "figure-decisions" in render.fill("<!-- figure: decisions -->")
    monkeypatch.setattr(figures, "RESULTS", str(tmp_path))
    with pytest.raises(figures.MissingResults, match="run python benchmarks/bench_decisions.py"):
        render.fill("text\n\n<!-- figure: decisions -->\n")
    with pytest.raises(KeyError, match="unknown figure"):
        render.fill("<!-- figure: nothing -->")


def _commands():
    """``(page, program, command line)`` of every tfmusictag command shown in code (blocks and spans)."""
    found = []
    for page in PAGES:
        text = open(page).read()
        blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
        spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        for chunk in blocks + spans:
            for line in chunk.replace("\\\n", " ").splitlines():
                line = line.split(" #")[0]
                m = re.search(r"(?:python -m tfmusictag\.|(?<![\w./-])tfmusictag )([a-z_]+)", line)
                if m and m.group(1) in PROGRAMS:
                    found.append((os.path.relpath(page, ROOT), m.group(1), line[m.start():]))
    return found


@functools.lru_cache(maxsize=None)
def _known_flags(program):
    out = subprocess.run([sys.executable, "-m", f"tfmusictag.{program}", "--helpfull"], cwd=ROOT, capture_output=True,
                         text=True, env=ENV, timeout=300)
    assert out.returncode in (0, 1) and f"tfmusictag.{program}" in out.stdout, (program, out.stderr[-2000:])  # absl: 1
    known = set(re.findall(r"--(?:\[no\])?([A-Za-z0-9_]+)", out.stdout))
    if program == "predict_beam":  # the rest of its flags are Beam's pipeline options
        from apache_beam.options.pipeline_options import PipelineOptions

        known |= set(PipelineOptions([]).get_all_options())
    return frozenset(known)


def test_every_documented_command_uses_flags_its_program_knows():
    commands = _commands()
    programs = {p for _, p, _ in commands}
    assert {"train", "predict", "evaluate", "export", "tune", "experiments", "predict_beam"} <= programs, programs
    unknown = []
    for page, program, line in commands:
        known = _known_flags(program)
        for flag in re.findall(r"(?<![\w-])--([A-Za-z][A-Za-z0-9_]*)", line):
            if flag not in known and not (flag.startswith("no") and flag[2:] in known):
                unknown.append(f"{page}: --{flag} in `{line.strip()}`")
    assert not unknown, "\n".join(unknown)


def test_a_flag_that_does_not_exist_is_caught():
    """The check above can fail: a misspelt flag is not among the program's flags."""
    assert "model_dir" in _known_flags("train") and "modeldir" not in _known_flags("train")


def test_the_readme_headline_table_is_rendered_from_the_results():
    text = open(os.path.join(ROOT, "README.md")).read()
    assert render.readme_with_headline(text) == text, "run: python docs/render.py --readme"
    table = text[text.index("<!-- headline:start -->"):text.index("<!-- headline:end -->")]
    assert table.count("\n|") >= 4  # the figures are there


def test_every_results_file_is_on_the_benchmarks_page_with_its_machine_and_date():
    page = render.benchmarks()
    for path in glob.glob(os.path.join(ROOT, "benchmarks", "results", "*.json")):
        name = os.path.basename(path)
        assert f"`benchmarks/results/{name}`; measured on " in page, name
    assert "date not recorded" not in page  # every file has its date (recorded, or its commit's)
    m = render._load("musicnn")
    speed = f"{m['models']['MTT_musicnn']['predict']['speed_vs_musicnn']:.2f}×"
    assert speed in page and speed in render.headline()


def test_the_readme_is_short_and_says_the_essentials():
    text = open(os.path.join(ROOT, "README.md")).read()
    assert len(text.splitlines()) <= 200
    for needed in ("make demo", "make test", "make docs", "python -m tfmusictag.predict", "python -m tfmusictag.train",
                   "tags.csv", "tensorflow/serving", "tensorflow-io"):
        assert needed in text, needed


@pytest.mark.parametrize("page", [p for p in PAGES if p.endswith(".md")], ids=os.path.basename)
def test_no_page_quotes_a_figure_of_this_repository_by_hand(page):
    """Figures of our measurements live in results files and come onto the benchmarks page when it
    is built; pages describe. (Thesis figures, sizes and versions are fine: they do not drift.)"""
    text = open(page).read()
    for phrase in ("× real time", "GB)", "s per minute", "Measured here", "measured here", "session notes",
                   "before this change"):
        assert phrase not in text.replace("<!-- generated: benchmarks -->", ""), (page, phrase)


def test_every_documented_set_path_is_a_config_field():
    """``--set path=value`` of ``train`` and ``tune`` in the README and docs names a real field."""
    from tfmusictag.errors import ParameterError
    from tfmusictag.registry import flatten, get_path
    from tfmusictag.tagger import TaggerConfig
    from tfmusictag.training.config import TrainConfig

    fields, bad, checked = set(flatten(TrainConfig())), [], 0
    for page, program, line in _commands():
        if program not in ("train", "tune"):
            continue
        for path in re.findall(r"--set[= ]([A-Za-z_][\w.]*)=", line):
            checked += 1
            try:
                if path.startswith("model."):
                    get_path(TaggerConfig(), path[len("model."):])
                elif path not in fields:
                    bad.append(f"{page}: --set {path}")
            except ParameterError:
                bad.append(f"{page}: --set {path}")
    assert checked >= 3 and not bad, bad
