"""``python -m tfmusictag.library update|import|search|page|similar|write|undo|status``: your collection's tags, kept and searched.

``update PATH...`` tags what is new or changed under folders, files and globs into the library
store (one SQLite file, ``--library``, default ``~/.local/share/tfmusictag/library.db``) and skips
what it already holds for the model's version; a killed run continues where it stopped. A file
that cannot be tagged is kept with its error and retried once it changes.

``search [QUERY]`` lists the tracks whose tags match: ``dark piano -vocals`` (decided tags; for a
model without decisions, probability at least ``--cut``), ``dark>0.7``, quotes for a tag of
several words. ``--sort=TAG`` orders by that tag's probability, ``--limit`` keeps the first N,
``--format`` is jsonl, csv or m3u (a playlist players open).

``page [QUERY]`` writes the catalog page (:mod:`tfmusictag.library.page`) into the folder
``--output`` (default ``catalog``): every matching track with its decided tags, filtered, sorted
and searched in the browser, its taggram on a click, a playlist of what is filtered; it opens from
disk (``catalog/index.html``) with no network.

``write [QUERY]`` writes the decided tags of the matching tracks into their files (fields that
players, Picard and beets read; ``--probabilities`` adds every tag's probability): ``--dry_run``
shows what would change; no audio sample changes, a kill leaves every file whole, and ``undo
[PATH...]`` writes back what the files held before.

``similar FILE`` lists the tracks nearest to a track of the store, or to a file not in it (tagged
now, not stored), by their embeddings (``--limit``, default 10).

``import RECORDS.jsonl... --model=M`` keeps records written by ``predict --top_k=0`` or
``predict_beam --top_k=0`` (a catalog tagged on a Beam runner) as if ``update`` had tagged them.

``status`` counts the store's tracks and lists its model versions.

Examples::

    python -m tfmusictag.library update ~/Music --model=MTT_musicnn
    python -m tfmusictag.library search "piano -drums" --sort=piano --limit=50 --format=m3u > calm.m3u
    python -m tfmusictag.library page --output=catalog

Exit status: 0 when every file was tagged (or was already), 1 when some files failed (kept with
their error), 2 for a usage error or when nothing matched.
"""

import json
import sys

from absl import app, flags

from tfmusictag.cli.common import program, run_program, say

FLAGS = flags.FLAGS
COMMANDS = ("update", "import", "search", "page", "similar", "write", "undo", "status")


def define_flags():
    """Command-line flags (defined only when run as a program)."""
    flags.DEFINE_string("library", None, "The library store (default ~/.local/share/tfmusictag/library.db, or "
                        "$TFMUSICTAG_LIBRARY).")
    flags.DEFINE_string("model", None, "update: the model that tags (SavedModel folder, run directory or pretrained "
                        "name). search: which tagged model version (name or digest; default: the latest).")
    flags.DEFINE_float("threshold", None, "update: decide every tag at this probability instead of the model's "
                       "thresholds.")
    flags.DEFINE_enum("format", "jsonl", ["jsonl", "csv", "m3u"], "search: output format.")
    flags.DEFINE_string("sort", None, "search: order by this tag's probability, highest first.")
    flags.DEFINE_integer("limit", None, "search: at most this many tracks.")
    flags.DEFINE_float("cut", 0.5, "search: for a model without decisions, the probability a bare tag needs.")
    flags.DEFINE_string("output", "-", "search: output file ('-': stdout). page: the page's folder ('-': catalog).")
    flags.DEFINE_bool("probabilities", False, "write: also every tag's probability (TFMUSICTAG_PROBS).")
    flags.DEFINE_bool("dry_run", False, "write: show what would change, write nothing.")


@program(datasets=False)
def main(argv):
    from tfmusictag.library import query
    from tfmusictag.library.store import Store

    if len(argv) < 2 or argv[1] not in COMMANDS:
        raise app.UsageError(f"give a command: {', '.join(COMMANDS)}")
    command, args = argv[1], argv[2:]
    with Store(FLAGS.library) as store:
        if command == "update":
            from tfmusictag.library.update import update

            if not args:
                raise app.UsageError("update: give at least one folder, file or glob")
            if not FLAGS.model:
                raise app.UsageError("update: --model is required")
            counts = update(args, FLAGS.model, store, threshold=FLAGS.threshold)
            say(f"tagged {counts['tagged']}, unchanged {counts['unchanged']}, failed {counts['failed']}"
                + (f" (and {counts['failed_before']} that failed before, unchanged)" if counts["failed_before"] else "")
                + (f", missing {counts['missing']}" if counts["missing"] else "") + f"; store: {store.path}")
            return 1 if counts["failed"] else 0
        if command == "import":
            from tfmusictag.library.update import import_records

            if not args or not FLAGS.model:
                raise app.UsageError("import: give the records' files and --model (the model that wrote them)")
            counts = import_records(args, FLAGS.model, store)
            say(f"imported {counts['imported']}, failed {counts['failed']}"
                + (f", {counts['unreachable']} not reachable from here" if counts["unreachable"] else "")
                + f"; store: {store.path}")
            return 0
        if command == "status":
            print(json.dumps({"library": store.path, "tracks": store.counts(),
                              "models": [{k: m[k] for k in ("name", "digest", "decides")} for m in store.models()]},
                             indent=1))
            return 0
        if command == "undo":
            from tfmusictag.library.filetags import undo

            reports = undo(store, args or None)
            failed = [r for r in reports if "error" in r]
            for r in failed:
                print(f"error: {r['error']}", file=sys.stderr)
            say(f"restored {len(reports) - len(failed)} files" + (f", {len(failed)} could not be" if failed else ""))
            return 1 if failed else 0
        if command == "similar":
            from tfmusictag.library.similar import similar

            if len(args) != 1:
                raise app.UsageError("similar: give one file")
            sys.stdout.reconfigure(errors="surrogateescape")
            for row in similar(store, args[0], FLAGS.limit or 10, model=FLAGS.model):
                print(json.dumps(row))
            return 0
        if len(args) > 1:
            raise app.UsageError(f"{command}: give the query as one argument (quote it)")
        if command == "page":
            from tfmusictag.library.page import write_page

            written = write_page(store, "catalog" if FLAGS.output == "-" else FLAGS.output,
                                 query=args[0] if args else "", model=FLAGS.model, cut=FLAGS.cut)
            say(f"wrote {written['index']} ({written['tracks']} tracks, {written['bytes'] / 1e6:.1f} MB); open it in a "
                "browser")
            return 0
        if command == "write":
            from tfmusictag.library.filetags import write_tags

            chosen = query.model_version(store, FLAGS.model)
            tracks = query.search(store, args[0] if args else "", model=FLAGS.model, cut=FLAGS.cut)
            reports = write_tags(store, tracks, probabilities=FLAGS.probabilities, dry_run=FLAGS.dry_run,
                                 cut=FLAGS.cut, model=chosen)
            failed = [r for r in reports if "error" in r]
            for r in reports:
                if "error" in r:
                    print(f"error: {r['error']}", file=sys.stderr)
                elif r["changes"] and FLAGS.dry_run:
                    for field, (old, new) in r["changes"].items():
                        print(json.dumps({"path": r["path"], "field": field, "before": old, "after": new}))
            changed = sum(1 for r in reports if r["changes"] and "error" not in r)
            say(f"{'would change' if FLAGS.dry_run else 'wrote'} {changed} files, {len(reports) - changed - len(failed)} "
                f"unchanged" + (f", {len(failed)} could not be written" if failed else ""))
            return 1 if failed else 0
        tracks = query.search(store, args[0] if args else "", model=FLAGS.model, sort=FLAGS.sort, limit=FLAGS.limit,
                              cut=FLAGS.cut)
        text = query.render(tracks, FLAGS.format)
        if FLAGS.output == "-":
            sys.stdout.reconfigure(errors="surrogateescape")  # a file name that is not UTF-8, byte for byte
            sys.stdout.write(text)
        else:
            with open(FLAGS.output, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
                f.write(text)
        say(f"{len(tracks)} tracks")
        return 0


def run(argv=None):
    from tfmusictag.cli.predict import low_memory_process

    args = sys.argv if argv is None else argv
    command = next((a for a in args[1:] if not str(a).startswith("-")), None)
    if command in ("update", "import", "similar"):
        low_memory_process(args)  # tagging as predict tags: the same kernels, as lean
    define_flags()
    run_program(main, __name__, argv)


if __name__ == "__main__":
    run()
