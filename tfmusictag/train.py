"""``python -m tfmusictag.train``: train any variant on any tfmusictag TFDS dataset.

Configuration is resolved in a fixed order: the defaults of :class:`TrainConfig`, then
``--config`` (a JSON file of its fields), then ``--variant``/``--dataset``/``--steps``/... flags,
then every ``--set path=value`` (dotted path, JSON value; ``model.*`` paths change the model,
e.g. ``--set model.temporal.lstm.units=64``). The resolved config is written to the model
directory with the model's config and tag vocabulary.

Examples::

    python -m tfmusictag.train --dataset=demo_catalog/small --variant=mfcc_bof --model_dir=runs/bof
    python -m tfmusictag.train --model_dir=runs/bof --resume          # after a crash or kill
    python -m tfmusictag.train --variant=blackbox_cnn_bof --init_from=MTT_musicnn \\
        --set learning_rates.classifier.learning_rate=0.0001 --model_dir=runs/target
"""

import json
import sys

from absl import app, flags, logging

FLAGS = flags.FLAGS


def define_flags():
    """Command-line flags (defined only when run as a program, so importing stays side-effect free)."""
    flags.DEFINE_string("model_dir", None, "Directory for checkpoints, logs, config, tags and the final model.")
    flags.DEFINE_string("config", None, "JSON file with TrainConfig fields.")
    flags.DEFINE_string("dataset", None, "TFDS name, e.g. demo_catalog/small, tagged_catalog, magnatagatune/songs.")
    flags.DEFINE_string("data_dir", None, "TFDS data directory.")
    flags.DEFINE_string("manual_dir", None, "Folder of a manually downloaded dataset (tagged_catalog, magnatagatune).")
    flags.DEFINE_string("variant", None, "Model variant (see tfmusictag.variants).")
    flags.DEFINE_integer("steps", None, "Training iterations.")
    flags.DEFINE_integer("batch_size", None, "Tracks per batch.")
    flags.DEFINE_integer("seed", None, "Seed of initialisation and data order.")
    flags.DEFINE_integer("checkpoint_every", None, "Steps between checkpoints.")
    flags.DEFINE_string("init_from", None, "A source model to transfer from: a pretrained name (MTT_musicnn, ...), a "
                        "model directory or a .keras file.")
    flags.DEFINE_multi_string("set", [], "Override a config field: path=value (JSON value).")
    flags.DEFINE_bool("resume", False, "Continue the run found in --model_dir.")
    flags.DEFINE_bool("progress", True, "Show a progress bar.")
    flags.DEFINE_bool("list_variants", False, "Print the registered variants and exit.")


def parse_set(items):
    out = {}
    for item in items:
        path, sep, value = item.partition("=")
        if not sep:
            raise app.UsageError(f"--set {item!r} must look like path=value")
        try:
            out[path.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[path.strip()] = value
    return out


def resolve_config(argv_flags=None):
    from tfmusictag.training import TrainConfig

    f = argv_flags or FLAGS
    config = TrainConfig()
    if f.config:
        with open(f.config) as fh:
            config = TrainConfig.from_dict(json.load(fh))
    names = ("dataset", "data_dir", "manual_dir", "variant", "steps", "batch_size", "seed", "checkpoint_every",
             "init_from")
    direct = {name: getattr(f, name) for name in names}
    config = config.with_overrides({k: v for k, v in direct.items() if v is not None})
    return config.with_overrides(parse_set(f.set)).validate()


def main(argv):
    del argv
    if FLAGS.list_variants:
        from tfmusictag.variants import VARIANTS

        print("\n".join(VARIANTS.names()))
        return
    if not FLAGS.model_dir:
        raise app.UsageError("--model_dir is required")
    from tfmusictag.errors import ParameterError
    from tfmusictag.training import train

    try:
        report = train(resolve_config(), FLAGS.model_dir, resume=FLAGS.resume, progress=FLAGS.progress)
    except (ParameterError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.info("done: weighted ROC-AUC %.4f on %d tracks", report["weighted_roc_auc"], report["tracks"])
    print(json.dumps({k: report[k] for k in ("weighted_roc_auc", "macro_roc_auc", "macro_pr_auc", "tracks")}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
