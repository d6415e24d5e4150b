"""``python -m tfmusictag.tune``: the thesis's KerasTuner grid searches from the command line.

Runs one of :data:`tfmusictag.tuning.hypermodels.SEARCHES` — ``classifier`` (Z × H, Table 4.3),
``lstm`` (T × p, Table 4.4), ``learning_rate`` (η and steps of CNN layers 1–2 and 3–5, Tables
4.5–4.8), and ``small_catalog`` (the L2 penalty of the small-catalog recipe) — with KerasTuner's
``GridSearch`` oracle, each trial scored by the weighted ROC-AUC on
``--eval_split``. Every trial is a training run, exactly as ``python -m tfmusictag.train`` with
its settings, kept in ``--directory``/``runs/<trial>`` (exportable with ``export --model_dir``).
Prints every trial and the best, and writes ``best.json`` to ``--directory``; KerasTuner's own
trial records are kept there too, so an interrupted search continues, a trial cut short from its
last checkpoint.

Examples::

    python -m tfmusictag.tune --search=classifier --dataset=demo_catalog/small \\
        --grid=Z=64,128,256 --grid=H=64,128 --steps=300 --directory=runs/tune_zh
    python -m tfmusictag.tune --search=learning_rate --init_from=MTT_musicnn --set max_seconds=15 \\
        --grid=cnn_low_lr=0,1e-5 --grid=cnn_high_lr=1e-4 --grid=cnn_low_step=10000 \\
        --grid=cnn_high_step=10000 --steps=100 --directory=runs/tune_lr

Distributed (KerasTuner's own mode): the same command in every process, with
``KERASTUNER_TUNER_ID`` (``chief``; ``tuner0``, ``tuner1``... for the workers),
``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` (where the chief's oracle listens) set, and
``--directory`` a folder all of them see. The chief serves the grid and, when every trial has run,
prints the table and writes ``best.json``; each worker runs trials and says which. Every trial is
seeded from its hyper-parameters, so the result equals a one-process search. Prepare the dataset
once (``tfds build``) before starting the processes.
"""

import json
import os

from absl import app, flags

from tfmusictag.cli.common import parse_set, program, say, run_program

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_enum("search", None, ["classifier", "lstm", "learning_rate", "small_catalog"],
                      "Which search: the thesis's (classifier, lstm, learning_rate) or the small-catalog recipe's l2.")
    flags.DEFINE_string("dataset", None, "TFDS name (default demo_catalog/small).")
    flags.DEFINE_string("data_dir", None, "TFDS data directory.")
    flags.DEFINE_string("manual_dir", None, "Folder of a manually downloaded dataset.")
    flags.DEFINE_string("train_split", None, "Split the trials train on (default train).")
    flags.DEFINE_string("eval_split", None, "Split the trials are scored on (default validation).")
    flags.DEFINE_multi_string("grid", [], "name=v1,v2,... replaces the thesis's choices for one hyper-parameter.")
    flags.DEFINE_multi_string("set", [], "Fixed setting path=value, as in train: model.* for the model (e.g. "
                                         "model.temporal.bof.epochs=2), max_seconds=15 crops training tracks.")
    flags.DEFINE_string("variant", None, "Replaces the search's variant.")
    flags.DEFINE_string("init_from", None, "Start every trial from this source model (pretrained name or run; "
                        "several joined by commas, as in train).")
    flags.DEFINE_integer("steps", None, "Supervised steps per trial (default 1000).")
    flags.DEFINE_integer("batch_size", None, "Tracks per batch (default 8).")
    flags.DEFINE_string("config", None, "A JSON file of the fixed settings (as train's --config; flags and --set "
                        "override it).")
    flags.DEFINE_string("directory", None, "Where KerasTuner keeps the trials, and best.json.")
    flags.DEFINE_bool("overwrite", False, "Start the search afresh.")


def parse_grid(items):
    """``["Z=64,128", "p=0,0.3"]`` → ``{"Z": [64, 128], "p": [0, 0.3]}`` (JSON numbers or strings)."""
    grid = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not values:
            raise app.UsageError(f"--grid {item!r} must look like name=v1,v2")
        choices = [json.loads(v) if v.strip()[:1] in "-0123456789." else v.strip() for v in values.split(",")]
        if any(isinstance(c, float) for c in choices) and all(isinstance(c, (int, float)) for c in choices):
            choices = [float(c) for c in choices]  # `0,1e-5`: one type, as KerasTuner's Choice requires
        grid[name.strip()] = choices
    return grid


def base_config():
    """The fixed settings every trial shares (``--config``, flags, ``--set``), as a
    :class:`~tfmusictag.training.TrainConfig`: :func:`tfmusictag.training.settings.search_config`."""
    from tfmusictag.training.settings import gather, search_config

    direct = {"dataset": FLAGS.dataset, "data_dir": FLAGS.data_dir, "manual_dir": FLAGS.manual_dir,
              "train_split": FLAGS.train_split, "eval_split": FLAGS.eval_split, "steps": FLAGS.steps,
              "batch_size": FLAGS.batch_size, "init_from": FLAGS.init_from}
    return search_config(gather(FLAGS.config, direct, parse_set(FLAGS.set)))


@program
def main(argv):
    del argv
    if not FLAGS.search or not FLAGS.directory:
        raise app.UsageError("--search and --directory are required")
    from tfmusictag import data
    from tfmusictag.tuning.hypermodels import ThesisHyperModel, distributed_role, grid_search

    role = distributed_role()
    config = base_config()
    splits = data.Splits(config.dataset, config.data_dir, config.manual_dir)
    _, tags = splits.split(config.train_split)
    hm = ThesisHyperModel(FLAGS.search, tags, grid=parse_grid(FLAGS.grid), overrides=config.model_overrides,
                          variant=FLAGS.variant, steps=config.steps, learning_rates=config.learning_rates,
                          init_from=config.init_from, save_dir=os.path.join(FLAGS.directory, "runs"), config=config)
    if role == "chief":
        say(f"chief: serving the search's oracle on {os.environ['KERASTUNER_ORACLE_IP']}:"
            f"{os.environ['KERASTUNER_ORACLE_PORT']} until every trial has run")
        tuner = grid_search(hm, None, FLAGS.directory, FLAGS.overwrite)
    else:
        tuner = grid_search(hm, splits, FLAGS.directory, FLAGS.overwrite)
    if role not in (None, "chief"):  # a worker: the chief reports the search
        say(f"{role} ran trial{'s' if len(tuner.ran) != 1 else ''} {', '.join(tuner.ran) or 'none'}")
        print(json.dumps({"tuner_id": role, "trials": tuner.ran, "idle_answers": tuner.idle_answers}))
        return 0
    trials = tuner.oracle.get_best_trials(num_trials=10 ** 6)
    names = sorted(hm.choices)
    print("| " + " | ".join(names) + " | weighted ROC-AUC |")
    print("|" + "---|" * (len(names) + 1))
    for t in trials:
        print("| " + " | ".join(str(t.hyperparameters.get(n)) for n in names) + f" | {t.score:.4f} |")
    best = {"search": FLAGS.search, "dataset": config.dataset, "eval_split": config.eval_split,
            "best": trials[0].hyperparameters.values, "weighted_roc_auc": trials[0].score, "trials": len(trials)}
    from tfmusictag.tuning.hypermodels import write_best

    write_best(FLAGS.directory, best)
    print(json.dumps(best))
    return 0


def run(argv=None):
    define_flags()
    run_program(main, __name__, argv)


if __name__ == "__main__":
    run()
