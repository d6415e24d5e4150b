"""``python -m tfmusictag.experiments``: the thesis's Tables 4.3–4.10, each by one command.

Every table is printed and written to ``--out_dir`` as Markdown, JSON and a PNG plot, laid out as
the thesis's with its published numbers beside ours (:mod:`tfmusictag.reproduction` says how each
is made). Run the same command again to continue an interrupted one: finished runs are skipped,
others resume from their checkpoints, searches from KerasTuner's records.

Examples::

    python -m tfmusictag.experiments --table=all                      # quick preset, demo_catalog/small
    python -m tfmusictag.experiments --table=4.9 --seeds=5 --set steps=1000
    python -m tfmusictag.experiments --table=4.10 --preset=thesis --dataset=tagged_catalog/thesis_target \\
        --manual_dir=$HOME/thesis_songs --source_manual_dir=$HOME/mtt --strategy=mirrored   # thesis sizes, GPUs

Presets: ``quick`` (reduced sizes and steps: all tables on ``demo_catalog/small`` in under 45
minutes on 2 CPU cores; its source task is ``demo_catalog/source``, other compositions with the same
tags, and its CNN ``MTT_musicnn``), ``thesis`` (the thesis's sizes, grids and rows; source task
``magnatagatune/songs``, CNN ``choi2016_cnn``).
"""

from absl import app, flags

from tfmusictag.cli.common import program, say, run_program

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("table", "all", "Which tables: all, or 4.3 ... 4.10 (comma-separated).")
    flags.DEFINE_string("preset", "quick", "quick (reduced) or thesis (the thesis's sizes and grids).")
    flags.DEFINE_string("dataset", "demo_catalog/small", "The target catalog (TFDS name).")
    flags.DEFINE_string("source_dataset", None, "The source-task catalog (default: the preset's).")
    flags.DEFINE_string("data_dir", None, "TFDS data directory.")
    flags.DEFINE_string("manual_dir", None, "Folder of the manually downloaded target catalog (tagged_catalog).")
    flags.DEFINE_string("source_manual_dir", None, "Folder of the manually downloaded source catalog (magnatagatune).")
    flags.DEFINE_string("cnn", None, "The pretrained CNN the source task starts from (default: the preset's).")
    flags.DEFINE_integer("seeds", None, "Seeds per variant in Tables 4.9-4.10 (default: the preset's, 3).")
    flags.DEFINE_string("out_dir", None, "Where runs, searches, tables and SavedModels go "
                                         "(default experiments/<preset>).")
    flags.DEFINE_multi_string("set", [], "Change a preset field: name=value (JSON), e.g. steps=1000, seeds=5, "
                                         "rows={\"4.7\":[3,4]} (see tfmusictag.reproduction.Preset).")
    flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                      "tf.distribute strategy of the training runs (see python -m tfmusictag.train).")


@program
def main(argv):
    del argv
    import os
    import time

    from tfmusictag.cli.common import parse_set
    from tfmusictag.reproduction import PRESETS, Experiments, render_markdown, table_ids
    from tfmusictag.training import distribute

    ids = table_ids(FLAGS.table)
    preset = PRESETS.get(FLAGS.preset)().with_overrides(parse_set(FLAGS.set))
    if FLAGS.seeds is not None and FLAGS.seeds < 1:
        raise app.UsageError("--seeds must be at least 1")
    strategy = distribute.make_strategy(FLAGS.strategy) if FLAGS.strategy != "default" else None
    out_dir = FLAGS.out_dir or os.path.join("experiments", preset.name)
    runner = Experiments(preset, out_dir, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
                         source_dataset=FLAGS.source_dataset, cnn=FLAGS.cnn, seeds=FLAGS.seeds, strategy=strategy,
                         log=say, manual_dir=FLAGS.manual_dir, source_manual_dir=FLAGS.source_manual_dir)
    t0 = time.time()
    for table_id in ids:
        result = runner.run(table_id)
        print("\n" + render_markdown(result), flush=True)
    say(f"done in {time.time() - t0:.0f} s; tables in {out_dir}/table_*.{{md,json,png}}")
    return 0


def run(argv=None):
    define_flags()
    run_program(main, __name__, argv)


if __name__ == "__main__":
    run()
