"""The package's shape: imports run one way (no cycles, none hidden in functions), no symbolic
links, and the repository's top-level ``datasets/`` never shadows Hugging Face's ``datasets``."""

import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = {"tfmusictag": os.path.join(ROOT, "tfmusictag"), "tfmusictag.tuning": os.path.join(ROOT, "tuning"),
            "tfmusictag.datasets": os.path.join(ROOT, "datasets")}


def _modules():
    mods = {}
    for pkg, base in PACKAGES.items():
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != "__pycache__" and not (pkg == "tfmusictag" and d in ("datasets", "tuning"))]
            for f in filenames:
                if f.endswith(".py") and not f.endswith("_test.py") and "dummy_data" not in dirpath:
                    rel = os.path.relpath(os.path.join(dirpath, f), base)[:-3].replace(os.sep, ".")
                    rel = rel.removesuffix("__init__").rstrip(".")
                    mods[f"{pkg}.{rel}" if rel else pkg] = os.path.join(dirpath, f)
    return mods


def _graph():
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfmusictag"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in mods else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("tfmusictag")}
        # a package importing its own submodules, or a module its parent package, is not a cycle
        graph[name] = {d for d in deps if d in mods and d != name and not name.startswith(d + ".")
                       and not d.startswith(name + ".")}
    return graph


def test_imports_have_no_cycles():
    graph, state, cycles = _graph(), {}, []

    def visit(node, path):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_the_stages_do_not_import_training_or_programs():
    graph = _graph()
    low = [m for m in graph if m.split(".")[1:2] and m.split(".")[1] in
           ("audio", "frontend", "stages", "reduction", "temporal", "classifier", "tagger", "rundir")]
    for m in low:
        bad = [d for d in graph[m] if d.split(".")[1] in ("training", "evaluation", "serving", "cli", "pretrained")]
        assert not bad, (m, bad)


def test_the_library_imports_no_program():
    """Programs (``tfmusictag.cli``) parse flags and print; the library under them — tagging, Beam,
    training — never imports one (the ``python -m tfmusictag.<name>`` shims and ``__main__``
    programs aside)."""
    graph, mods = _graph(), _modules()
    shims = {m for m, path in mods.items() if m.count(".") == 1 and "from tfmusictag.cli." in open(path).read()
             and len(open(path).read().splitlines()) < 12}
    bad = {m: sorted(d for d in deps if d.startswith("tfmusictag.cli")) for m, deps in graph.items()
           if not m.startswith("tfmusictag.cli") and m not in shims and not m.endswith(".__main__")}
    bad = {m: d for m, d in bad.items() if d}
    assert not bad, bad


def test_no_symbolic_links_in_the_package():
    links = [os.path.join(d, f) for base in PACKAGES.values() for d, dirs, files in os.walk(base)
             for f in dirs + files if os.path.islink(os.path.join(d, f))]
    assert not links, links


def test_the_checkout_datasets_folder_does_not_shadow_hugging_face():
    code = "import datasets"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    try:
        import importlib.util

        has_hf = importlib.util.find_spec("datasets") is not None and not importlib.util.find_spec(
            "datasets").origin.startswith(os.path.join(ROOT, "datasets"))
    except ValueError:
        has_hf = False
    if has_hf:
        assert out.returncode == 0
    else:
        assert out.returncode == 1 and "No module named 'datasets'" in out.stderr
    # while the builders are importable as tfmusictag.datasets from anywhere
    out = subprocess.run([sys.executable, "-c", "import tfmusictag.datasets.demo_catalog.compose as c; print(c.__file__)"],
                         cwd="/", capture_output=True, text=True, check=True)
    assert out.stdout.strip() == os.path.join(ROOT, "datasets", "demo_catalog", "compose.py")


#: The package's floors, bottom up (see ``tfmusictag/__init__.py``): a module imports only from its
#: own floor or the floors below. A module belongs to the floor of the longest name that matches it.
FLOORS = (
    ("foundations", ("errors", "constants", "registry", "shapes", "standardize", "metrics", "thresholds", "calibration",
                     "decisions", "taggram", "kernels", "stages",
                     "training.progress", "training.distribute", "pretrained.store")),
    ("representation", ("audio", "frontend")),
    ("stages", ("reduction", "temporal", "classifier")),
    ("model", ("tagger", "variants", "training.config")),
    ("run directories and pretrained models", ("rundir", "pretrained")),
    ("data", ("data", "datasets")),
    ("library", ("evaluation", "serving", "tagging", "beam", "training", "tuning", "library")),
    ("experiments", ("reproduction",)),
    ("programs", ("cli",)),
)


def _floor(module, shims):
    if module == "tfmusictag":
        return 0
    if module in shims or module.endswith(".__main__"):
        return len(FLOORS) - 1
    name = module.removeprefix("tfmusictag.")
    best = max(((len(p), i) for i, (_, prefixes) in enumerate(FLOORS) for p in prefixes
                if name == p or name.startswith(p + ".")), default=None)
    assert best is not None, f"{module} is on no floor of FLOORS: add it"
    return best[1]


def test_every_module_imports_only_from_its_floor_or_below():
    """The whole import order, not only the bottom: programs → experiments → library (training,
    evaluation, serving, tagging, Beam, tuning) → data → run directories/pretrained → model →
    stages → representation → foundations."""
    graph, mods = _graph(), _modules()
    shims = {m for m, path in mods.items() if m.count(".") == 1 and "from tfmusictag.cli." in open(path).read()
             and len(open(path).read().splitlines()) < 12}
    bad = []
    for m, deps in graph.items():
        for d in deps:
            if _floor(d, shims) > _floor(m, shims):
                bad.append(f"{m} ({FLOORS[_floor(m, shims)][0]}) imports {d} ({FLOORS[_floor(d, shims)][0]})")
    assert not bad, "\n".join(sorted(bad))


def test_every_package_and_its_files_are_installed_by_setup_cfg():
    """A normal (not editable) install gets every package of the source tree and the files they read:
    ``setup.cfg`` lists each folder with an ``__init__.py`` and each non-Python file a module opens."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    listed = {p.strip() for p in cfg["options"]["packages"].splitlines() if p.strip() and not p.strip().startswith("#")}
    found = set()
    for top, installed in (("tfmusictag", "tfmusictag"), ("datasets", "tfmusictag.datasets"), ("tuning", "tfmusictag.tuning")):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            rel = os.path.relpath(folder, os.path.join(ROOT, top))
            if "__init__.py" in files and "__pycache__" not in rel and "dummy_data" not in rel:
                found.add(installed if rel == "." else f"{installed}.{rel.replace(os.sep, '.')}")
    assert found - listed == set(), f"packages missing from setup.cfg: {sorted(found - listed)}"
    data = dict(cfg["options.package_data"])
    assert "catalog.html" in data.get("tfmusictag.library", "")  # the catalog page's template


#: Library modules tested in another test module: that module, and why.
TESTED_ELSEWHERE = {
    "constants": "test_frontend.py: the front end's defaults are the thesis's (Table 4.1)",
}


def test_every_library_module_has_its_test_module():
    """``tests/`` mirrors the package: each library module (or package) ``tfmusictag/<name>`` has
    ``tests/test_<name>.py``; a program (``tfmusictag/<name>.py`` running ``tfmusictag/cli/<name>.py``)
    is tested by ``test_cli.py`` and ``test_documented_commands.py``; ``constants``' values by
    ``test_frontend.py``."""
    tests = os.path.join(ROOT, "tests")
    package = os.path.join(ROOT, "tfmusictag")
    missing = []
    for entry in sorted(os.listdir(package)):
        name = entry.removesuffix(".py")
        if name.startswith("__") or not (entry.endswith(".py") or os.path.isfile(os.path.join(package, entry, "__init__.py"))):
            continue
        if os.path.exists(os.path.join(package, "cli", f"{name}.py")):
            continue  # a program
        if name in TESTED_ELSEWHERE:
            assert os.path.exists(os.path.join(tests, TESTED_ELSEWHERE[name].split(":")[0])), name
        elif not os.path.exists(os.path.join(tests, f"test_{name}.py")):
            missing.append(name)
    assert not missing, f"library modules without tests/test_<name>.py: {missing}"
    for program in ("test_cli.py", "test_documented_commands.py"):
        assert os.path.exists(os.path.join(tests, program))
