"""KerasTuner hypermodels for the thesis's searches (Tables 4.3–4.8).

* ``classifier``: feature size Z (the BoF codebook) × hidden size H of MFCC + BoF (Table 4.3);
* ``lstm``: LSTM size T × dropout p of MFCC + LSTM (Table 4.4);
* ``learning_rate``: (η, step) of CNN layers 1–2 (η = 0: frozen) and 3–5 (Tables 4.5–4.8; pass
  ``rows=`` for the thesis's rows rather than a product of their values);
* ``small_catalog`` (beyond the thesis): the L2 penalty of the small-catalog recipe
  (``transfer_stats`` from ``MTT_vgg`` and ``MSD_musicnn``, class-balanced loss;
  :mod:`tfmusictag.training.recipe`),
  chosen on the validation split.

A hypermodel only maps ``hp`` onto a :class:`~tfmusictag.training.TrainConfig` (the variant's
model overrides, the per-group learning rates, a seed); a trial *is* a training run,
:func:`tfmusictag.training.train` with that config — the same data order, unsupervised stages,
class weights, step loop, checkpoints and evaluation — so a tuned setting means in ``train`` what
it meant in the search. Its score is the validation split's weighted ROC-AUC, the thesis's
criterion (``val_weighted_auc``, to maximise). The dataset is opened once per search and its
features computed once (:class:`~tfmusictag.data.Splits`, which :func:`grid_search` hands to
every trial). The thesis's grids are the defaults; pass ``grid`` to search smaller ones.
``init_from`` starts every trial from a source-task model, e.g. the pretrained MagnaTagATune CNN
(``'MTT_musicnn'``): the thesis's learning-rate searches (Tables 4.7–4.8) fine-tune a source CNN.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import time
import zlib
from typing import Dict, List, Optional, Sequence

import keras_tuner as kt

from tfmusictag.errors import ParameterError
from tfmusictag.frontend import get_front_end
from tfmusictag.registry import Registry
from tfmusictag.rundir import RunDir
from tfmusictag.tagger import TrackTagger
from tfmusictag.training import GroupSchedule, LearningRates, TrainConfig, train_model, transfer_config
from tfmusictag.training import transfer_weights
from tfmusictag.training.config import CLASS_WEIGHTS
from tfmusictag.training.recipe import RECIPE_SOURCE
from tfmusictag.training.transfer import load_source
from tfmusictag.variants import variant_config

#: The thesis's grids: name → (variant, {hyper-parameter: choices}).
SEARCHES = Registry("search")
SEARCHES.add("classifier", ("mfcc_bof", {"Z": [512, 1024, 2048], "H": [512, 1024, 2048]}))
SEARCHES.add("lstm", ("mfcc_finetuned_lstm", {"T": [512, 1024, 2048], "p": [0.0, 0.3, 0.5]}))
SEARCHES.add("learning_rate", ("finetuned_cnn_finetuned_lstm", {
    "cnn_low_lr": [0.0, 1e-5, 1e-4, 1e-3], "cnn_low_step": [10000, 20000, 50000, 70000],
    "cnn_high_lr": [1e-3, 1e-4], "cnn_high_step": [5000, 10000, 20000, 30000, 50000, 70000]}))
SEARCHES.add("small_catalog", ("transfer_stats", {"l2": [1e-4, 1e-3, 1e-2]}))
_PATHS = {"Z": "temporal.bof.num_clusters", "H": "classifier.hidden", "T": "temporal.lstm.units",
          "p": "temporal.lstm.dropout", "l2": "classifier.l2"}
OBJECTIVE = kt.Objective("val_weighted_auc", direction="max")


class ThesisHyperModel(kt.HyperModel):
    """One of :data:`SEARCHES` for a tag vocabulary.

    Args:
        search: ``'classifier'``, ``'lstm'`` or ``'learning_rate'``.
        tags: the dataset's tags.
        grid: replaces the thesis's choices for some hyper-parameters (e.g. ``{"Z": [16, 32]}``).
        overrides: fixed model-config overrides (dotted paths), e.g. smaller sizes.
        variant: replaces the search's variant.
        steps: supervised steps per trial.
        learning_rates: the trainer's defaults for the groups the search does not vary.
        init_from: a source-task model (pretrained name, model directory or ``.keras`` file)
            every trial starts from (``train --init_from``'s transfer); the ``small_catalog``
            search starts from the recipe's sources (``'MTT_vgg,MSD_musicnn'``: several joined by
            commas are read out side by side) unless one is given.
        class_weight: ``'none'`` or ``'balanced'`` (the trainer's class-balanced loss); default
            ``'balanced'`` for ``small_catalog``, ``'none'`` (the thesis's loss) for the others.
        rows: in place of a grid, the exact combinations to try, one dict of the search's
            hyper-parameters per row (the thesis's Tables 4.5–4.8 list rows, not a product); the
            oracle then searches the row index ``row``.
        save_dir: where each trial's training run is kept (``<save_dir>/<trial_key(values)>``, a
            :class:`~tfmusictag.rundir.RunDir`), so the best one can be exported afterwards and an
            interrupted trial continues from its last checkpoint; ``None``: a temporary folder.
        config: the settings every trial shares, as ``train`` takes them (batch size,
            ``max_seconds``, shuffling, checkpoints, ``train_split``/``eval_split``, determinism…);
            the dataset is the one of the :class:`~tfmusictag.data.Splits` the trial is given, and
            the model, steps, learning rates, source, class weights and seed are the trial's.

    A trial whose CNN is frozen (black-box) computes it once per training track, not in every step,
    as ``train`` does. Its decision thresholds are fitted on the validation split (the score does
    not depend on them).
    """

    def __init__(self, search: str, tags: Sequence[str], grid: Dict = None, overrides: Dict = None,
                 variant: str = None, steps: int = 1000, learning_rates: LearningRates = LearningRates(),
                 init_from: str = None, class_weight: str = None, rows: Sequence[Dict] = None,
                 save_dir: str = None, config: Optional[TrainConfig] = None):
        default_variant, choices = SEARCHES.get(search)
        super().__init__(name=f"thesis_{search}")
        unknown = sorted(set(grid or {}).union(*[set(r) for r in rows or ()]) - set(choices))
        if grid and rows:
            raise ParameterError("give grid or rows, not both")
        if unknown:
            raise ParameterError(f"grid names {unknown} are not searched by {search!r}; it searches {sorted(choices)}")
        self.search, self.tags, self.steps = search, tuple(tags), int(steps)
        self.variant = variant or default_variant
        self.choices = {**choices, **(grid or {})}
        self.rows = [dict(r) for r in rows] if rows else None
        if self.rows:
            missing = sorted(set(choices) - set().union(*map(set, self.rows)))
            self.rows = [{**{k: choices[k][0] for k in missing}, **r} for r in self.rows]
            self.choices = {k: sorted({r[k] for r in self.rows}, key=str) for k in choices}
        self.save_dir = save_dir
        self.overrides = dict(overrides or {})
        self.learning_rates = learning_rates
        if search == "small_catalog":
            init_from = init_from or RECIPE_SOURCE
        self.class_weight = class_weight or ("balanced" if search == "small_catalog" else "none")
        if self.class_weight not in CLASS_WEIGHTS:
            raise ParameterError(f"class_weight={self.class_weight!r} must be one of {CLASS_WEIGHTS}")
        self.init_from = init_from
        self.config = config or TrainConfig()
        self.source = load_source(init_from) if init_from else None

    @property
    def front_end(self):
        """The front end the trials' models take (the source's when ``init_from`` is given)."""
        if self.source is not None:
            return (self.source[0] if isinstance(self.source, tuple) else self.source).front_end_config
        return get_front_end(variant_config(self.variant, self.tags, self.overrides).front_end)

    def values(self, hp) -> Dict:
        """The trial's hyper-parameter values (its grid point, or the row it was given)."""
        if self.rows:
            return dict(self.rows[hp.Choice("row", list(range(len(self.rows))))])
        return {name: hp.Choice(name, list(options)) for name, options in self.choices.items()}

    def _overrides(self, values: Dict) -> Dict:
        overrides = dict(self.overrides)
        overrides.update({_PATHS[k]: v for k, v in values.items() if k in _PATHS})
        return overrides

    def build(self, hp):
        """The trial's model before training (KerasTuner builds it to size it and to load a trial's
        kept weights into; the trial itself trains the one ``train`` builds from the same config)."""
        values = self.values(hp)
        config = variant_config(self.variant, self.tags, self._overrides(values))
        if self.source is None:
            model = TrackTagger(config, name=self.variant)
        else:
            model = TrackTagger(transfer_config(config, self.source), name=self.variant)
            transfer_weights(self.source, model)
        model.build()  # its weights exist: KerasTuner loads a trial's kept weights into it
        return model

    def trial_config(self, values: Dict, splits) -> TrainConfig:
        """The training run of the trial with hyper-parameter ``values`` on ``splits``.

        Its seed is :func:`trial_seed`: a trial's result depends on its hyper-parameters alone, not
        on which trials ran before it in the process, so a distributed search (any worker runs any
        trial) equals a one-process one.
        """
        return dataclasses.replace(
            self.config, dataset=splits.dataset, data_dir=splits.data_dir, manual_dir=splits.manual_dir,
            variant=self.variant, model_overrides=self._overrides(values), steps=self.steps,
            learning_rates=self._learning_rates(values), init_from=self.init_from, class_weight=self.class_weight,
            seed=trial_seed(values), thresholds="validation", keep_best=False, patience=0).validate()

    def _learning_rates(self, values: Dict) -> LearningRates:
        lr = self.learning_rates
        if self.search == "learning_rate":
            lr = dataclasses.replace(
                lr, cnn_low=GroupSchedule(values["cnn_low_lr"], values["cnn_low_step"]),
                cnn_high=GroupSchedule(values["cnn_high_lr"], values["cnn_high_step"]))
        return lr

    def fit(self, hp, model, splits, callbacks=(), **kwargs):
        """The trial: :func:`tfmusictag.training.train` with :meth:`trial_config` on ``splits`` (a
        :class:`~tfmusictag.data.Splits`), then the validation weighted AUC.

        ``callbacks``: Keras callbacks (KerasTuner passes its own here: the one that keeps the
        trial's best weights, so that ``tuner.get_best_models()`` gives the trained model). A
        trial is one epoch to them: ``on_train_begin`` and ``on_epoch_begin(0)`` with the model
        KerasTuner built, then ``on_epoch_end(0, {"val_weighted_auc": ...})`` and
        ``on_train_end`` with the trained one. Other keyword arguments of ``tuner.search`` are
        refused: a trial's settings are the hypermodel's.
        """
        if kwargs:
            raise ParameterError(f"ThesisHyperModel.fit takes no {sorted(kwargs)}: a trial's settings are the "
                                 "hypermodel's (steps, learning_rates, class_weight, config)")
        callbacks = list(callbacks or ())
        for callback in callbacks:
            callback.set_model(model)
            callback.on_train_begin()
            callback.on_epoch_begin(0)
        values = self.values(hp)
        with contextlib.ExitStack() as scope:
            folder = self.save_dir or scope.enter_context(tempfile.TemporaryDirectory(prefix="tfmusictag-trial-"))
            run_dir = os.path.join(folder, trial_key(values))
            trained, report = train_model(self.trial_config(values, splits), run_dir, resume=RunDir(run_dir).has_run(),
                                          progress=False, splits=splits)
            logs = {"val_weighted_auc": report["weighted_roc_auc"]}
            for callback in callbacks:
                callback.set_model(trained)
                callback.on_epoch_end(0, dict(logs))
            for callback in callbacks:
                callback.on_train_end(dict(logs))
        return logs


def write_best(directory: str, best: Dict) -> str:
    """Write a search's result to ``directory/best.json`` through a temporary file and a rename (a
    kill leaves the previous file or the new one, never half of one); returns its path."""
    path = os.path.join(directory, "best.json")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(best, f, indent=2)
    os.replace(tmp, path)
    return path


def trial_key(values: Dict) -> str:
    """A folder name for the trial with hyper-parameter ``values`` (``H-64_Z-128``)."""
    return "_".join(f"{k}-{values[k]}" for k in sorted(values))


def trial_seed(values: Dict) -> int:
    """The seed of the trial with hyper-parameter ``values`` (a CRC of their JSON)."""
    return zlib.crc32(json.dumps(values, sort_keys=True, default=str).encode()) & 0x7FFFFFFF


def distributed_role() -> Optional[str]:
    """``'chief'``, a worker's tuner id, or ``None`` (one process), from KerasTuner's variables.

    KerasTuner's distributed mode: every process runs the same search; ``KERASTUNER_TUNER_ID``
    (``chief``, ``tuner0``, ``tuner1``...), ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``
    say which one it is and where the chief's oracle (a gRPC server, KerasTuner's) listens.

    Raises:
        ParameterError: some of the three are set and some not.
    """
    names = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
    given = [n for n in names if os.environ.get(n)]
    if not given:
        return None
    if len(given) < len(names):
        missing = sorted(set(names) - set(given))
        raise ParameterError(f"KerasTuner's distributed mode needs {', '.join(names)}; {', '.join(given)} "
                             f"{'is' if len(given) == 1 else 'are'} set but not {', '.join(missing)}")
    tuner_id = os.environ["KERASTUNER_TUNER_ID"]
    return "chief" if "chief" in tuner_id else tuner_id


class ThesisGridSearch(kt.GridSearch):
    """KerasTuner's ``GridSearch``, with what its distributed mode lacks.

    * A worker asks the chief for a trial; while the grid is exhausted but other trials are still
      running, the oracle answers ``IDLE`` and KerasTuner asks again at once, in a loop that keeps
      a core and the chief busy until the last trial ends (keras-team/keras-tuner#915). Here a
      worker waits ``idle_poll_seconds`` before asking again.
    * :attr:`ran` lists the trials this process ran (a worker's share of a distributed search),
      :attr:`idle_answers` how often it was told to wait.
    """

    idle_poll_seconds = 2.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ran: List[str] = []
        self.idle_answers = 0
        if distributed_role() not in (None, "chief"):  # self.oracle is KerasTuner's OracleClient
            ask = self.oracle.create_trial

            def create_trial(tuner_id):
                trial = ask(tuner_id)
                if trial.status == kt.engine.trial.TrialStatus.IDLE:
                    self.idle_answers += 1
                    time.sleep(self.idle_poll_seconds)
                return trial

            self.oracle.create_trial = create_trial

    def on_trial_begin(self, trial):
        self.ran.append(trial.trial_id)
        super().on_trial_begin(trial)


def grid_search(hypermodel: ThesisHyperModel, splits, directory: str, overwrite: bool = False) -> ThesisGridSearch:
    """Run every combination of ``hypermodel``'s grid (KerasTuner's ``GridSearch`` oracle), each a
    training run on ``splits`` (a :class:`~tfmusictag.data.Splits`, shared by all the trials).

    In KerasTuner's distributed mode (:func:`distributed_role`) the chief serves the oracle and
    returns when every trial has run (its ``tuner.oracle`` then holds them all); a worker runs
    trials until the grid is done (``tuner.ran``: which). ``directory`` must be one folder all of
    them see. The chief needs no data (pass ``None``).
    """
    tuner = ThesisGridSearch(hypermodel, objective=OBJECTIVE, directory=directory,
                             project_name=hypermodel.name, overwrite=overwrite)
    tuner.search(splits=splits)
    return tuner
