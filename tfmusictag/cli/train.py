"""``python -m tfmusictag.train``: train any variant on any tfmusictag TFDS dataset.

Configuration is resolved in a fixed order: the defaults of :class:`~tfmusictag.training.TrainConfig`,
then ``--config`` (a JSON file of its fields), then ``--variant``/``--dataset``/``--steps``/... flags,
then every ``--set path=value`` (see :mod:`tfmusictag.cli.common`). The resolved config is
written to the run directory with the model's config and tag vocabulary.

A run directory *is* the run: ``--resume`` alone continues it with its own saved config (from
its latest checkpoint, or from the start if it was killed before the first one). Flags given
with ``--resume`` must agree with that config; only ``--steps`` (to train longer),
``--checkpoint_every`` and ``eval_every`` may change — anything else is an error naming both
values.

Examples::

    python -m tfmusictag.train --dataset=demo_catalog/small --variant=mfcc_bof --model_dir=runs/bof
    python -m tfmusictag.train --model_dir=runs/bof --resume              # after a crash or kill
    python -m tfmusictag.train --model_dir=runs/bof --resume --steps=2000 # train longer
    python -m tfmusictag.train --variant=blackbox_cnn_bof --init_from=MTT_musicnn \\
        --set learning_rates.classifier.learning_rate=0.0001 --model_dir=runs/target
    python -m tfmusictag.train --dataset=tagged_catalog --manual_dir=$HOME/music --model_dir=runs/mine
        # no --variant: the small-catalog recipe (tfmusictag.training.recipe)
    python -m tfmusictag.train --strategy=mirrored ...        # every local GPU, one global batch
    TF_CONFIG=... python -m tfmusictag.train --strategy=multi_worker --model_dir=/shared/runs/bof ...

``--strategy`` (:mod:`tfmusictag.training.distribute`): the global ``--batch_size`` is split over
the replicas, so a run computes the same model on one device, several GPUs or several machines
(up to the order of floating-point sums). With ``multi_worker`` every process of ``TF_CONFIG``
runs the same command; ``--model_dir`` must be a folder all of them see, the chief alone writes
it, and a restarted job continues from the chief's latest checkpoint without ``--resume``.
"""

import json

from absl import app, flags

from tfmusictag.cli.common import parse_set, program, say, run_program

FLAGS = flags.FLAGS

#: Flags that set a TrainConfig field of the same name.
CONFIG_FLAGS = ("dataset", "data_dir", "manual_dir", "variant", "steps", "batch_size", "seed", "checkpoint_every",
                "init_from")


def define_flags():
    """Command-line flags (defined only when run as a program, so importing stays side-effect free)."""
    flags.DEFINE_string("model_dir", None, "The run directory: checkpoints, logs, config, tags and the final model.")
    flags.DEFINE_string("config", None, "JSON file with TrainConfig fields.")
    flags.DEFINE_string("dataset", None, "TFDS name, e.g. demo_catalog/small, tagged_catalog, magnatagatune/songs.")
    flags.DEFINE_string("data_dir", None, "TFDS data directory.")
    flags.DEFINE_string("manual_dir", None, "Folder of a manually downloaded dataset (tagged_catalog, magnatagatune).")
    flags.DEFINE_string("variant", None, "Model variant (see --list_variants); without it (or 'recipe'), the "
                        "small-catalog recipe (transfer_stats from MTT_vgg and MSD_musicnn, sized to the catalog: tfmusictag.training.recipe).")
    flags.DEFINE_integer("steps", None, "Training iterations.")
    flags.DEFINE_integer("batch_size", None, "Tracks per batch.")
    flags.DEFINE_integer("seed", None, "Seed of initialisation and data order.")
    flags.DEFINE_integer("checkpoint_every", None, "Steps between checkpoints.")
    flags.DEFINE_string("init_from", None, "A source model to transfer from: a pretrained name (MTT_musicnn, ...), a "
                        "model directory or a .keras file; several joined by commas (MTT_vgg,MSD_musicnn) are read "
                        "out side by side by a CNN variant (same front end needed).")
    flags.DEFINE_multi_string("set", [], "Override a config field: path=value (JSON value; model.* for the model).")
    flags.DEFINE_bool("resume", False, "Continue the run in --model_dir with its own saved config.")
    flags.DEFINE_bool("progress", True, "Show a progress bar.")
    flags.DEFINE_bool("list_variants", False, "Print the registered variants and exit.")
    flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                      "default: one device (a GPU when there is one); mirrored: every local GPU (or --devices); "
                      "multi_worker: the processes of TF_CONFIG, each running this same command.")
    flags.DEFINE_list("devices", None, "With --strategy=mirrored: the devices, e.g. gpu:0,gpu:1 (cpu:0,cpu:1 splits "
                      "the CPU into two replicas).")


def given_settings(f=None):
    """``{dotted path: value}`` of everything the command line sets (``--config``, flags, ``--set``):
    :func:`tfmusictag.training.settings.gather`."""
    from tfmusictag.training.settings import gather

    f = f or FLAGS
    return gather(f.config, {name: getattr(f, name) for name in CONFIG_FLAGS}, parse_set(f.set))


def resolve_config(f=None):
    """The run's :class:`~tfmusictag.training.TrainConfig`: a new one from the defaults and the
    command line, or — with ``--resume`` — the run's saved one, checked against the command line
    (:func:`tfmusictag.training.settings.train_config`)."""
    from tfmusictag.rundir import RunDir
    from tfmusictag.training.settings import train_config

    f = f or FLAGS
    return train_config(given_settings(f), run=RunDir(f.model_dir), resume=f.resume,
                        names={name: f"--{name}" for name in CONFIG_FLAGS}, log=say)


@program
def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    if FLAGS.list_variants:
        from tfmusictag.variants import VARIANTS

        print("\n".join(["recipe"] + VARIANTS.names()))
        return 0
    if not FLAGS.model_dir:
        raise app.UsageError("--model_dir is required")
    from tfmusictag.training import distribute, train

    strategy = distribute.make_strategy(FLAGS.strategy, FLAGS.devices)  # first: before TensorFlow starts
    say(f"devices: {distribute.describe_devices(strategy)}")
    report = train(resolve_config(), FLAGS.model_dir, resume=FLAGS.resume, progress=FLAGS.progress,
                   strategy=strategy, log=say)
    if not report:  # a worker of a cluster: the chief reports
        return 0
    say(f"done: weighted ROC-AUC {report['weighted_roc_auc']:.4f} on {report['tracks']} tracks")
    print(json.dumps({k: report[k] for k in ("weighted_roc_auc", "macro_roc_auc", "macro_pr_auc", "tracks")}))
    return 0


def run(argv=None):
    define_flags()
    run_program(main, __name__, argv)


if __name__ == "__main__":
    run()
