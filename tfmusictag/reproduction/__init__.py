"""The thesis's experiments (Tables 4.3–4.10), each one call, beside the thesis's numbers.

``python -m tfmusictag.experiments`` (:mod:`tfmusictag.cli.experiments`) runs them; this module
holds what they are, one module each: the thesis's tables and published numbers (:data:`TABLES`), the budgets
they run at (:data:`PRESETS`) and the runner (:class:`Experiments`).

How each table is made (thesis Chapter 4):

* **4.3** (Z × H of MFCC + BoF) and **4.4** (T × p of MFCC + LSTM, Alg. 24) are KerasTuner grid
  searches (:mod:`tfmusictag.tuning.hypermodels`) on the target catalog, scored by the weighted
  ROC-AUC over whole validation tracks.
* **4.5–4.6** search the CNN's learning rates ``(η, step)`` of layers 1–2 and 3–5 on the *source*
  task: CNN + LSTM (Alg. 25) trained on the source catalog from a pretrained CNN, as the thesis
  started its source training from Choi et al.'s MSD weights [22]. **4.7–4.8** search them on the
  target task, from the source model. These are the thesis's *rows* (``ThesisHyperModel(rows=...)``),
  not the product of their values (e.g. Table 4.8's ``(1e-6; NA)``).
* Every search ends by exporting its best trial's model as a SavedModel (``saved_models/``).
* **4.9** and **4.10** train the seven variants (:data:`tfmusictag.variants.THESIS_VARIANTS`) with
  several seeds through :func:`tfmusictag.training.train` and report mean ± std of weighted
  ROC-AUC, macro ROC-AUC and macro PR-AUC on the test split; nothing is chosen on it. Every
  row but MFCC + BoF starts from a source-task model trained here first (as the thesis did,
  Sec. 4.3.2): MFCC + LSTM for Table 4.9's LSTM rows, CNN + LSTM for Table 4.10 (its black-box
  LSTM rows need an LSTM trained on the source task; no pretrained model has one).

Sizes and steps: the thesis fixed Z = H = T = 1024, p = 0.3 after Tables 4.3–4.4 and the CNN's
rates after 4.6 / 4.8; Tables 4.9–4.10 use those settings, not this run's search results, so
every table can be run alone. A preset scales the sizes (``size_scale``) and the run lengths;
the decay steps of Tables 4.5–4.8 scale with their run length (``decay_scale``), so a step-down
falls at the same fraction of a run as in the thesis. The thesis gives no run lengths; the
``thesis`` preset's are ours (at least its largest step-down, 70K on the source task).

Resuming: a run with ``metrics.json`` is done and skipped, one without continues from its last
checkpoint, and a search continues from KerasTuner's trial records, so an interrupted command
picks up where it stopped when started again with the same ``--out_dir``.
"""

from tfmusictag.reproduction.presets import PRESETS, Preset
from tfmusictag.reproduction.report import plot_table, render_markdown
from tfmusictag.reproduction.runner import Experiments
from tfmusictag.reproduction.tables import TABLES, Table, table_ids

__all__ = ["TABLES", "PRESETS", "Preset", "Table", "Experiments", "table_ids", "render_markdown", "plot_table"]
