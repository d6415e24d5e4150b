"""The thesis's tables (4.3–4.10) as data: what each one varies and the numbers it published."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

from tfmusictag.errors import ParameterError

__all__ = ["NA", "Table", "TABLES", "LABELS", "SOURCE_OF", "SOURCE_CNN_RATES", "TARGET_CNN_RATES", "table_ids"]

NA = None  # a learning rate that never steps down (the thesis's "NA")


@dataclasses.dataclass(frozen=True)
class Table:
    """One of the thesis's tables.

    ``kind`` is ``'grid'`` (a matrix of two hyper-parameters), ``'rows'`` (learning-rate rows)
    or ``'variants'`` (model variants with seeds). ``thesis`` holds the published numbers in the
    table's own layout: ``{(row value, column value): WAUC}`` for a grid, ``[(row, WAUC)]``
    otherwise.
    """

    id: str
    title: str
    kind: str
    task: str = "target"
    search: Optional[str] = None
    axes: Tuple[str, str] = ()
    thesis: Any = None


def _lr(low, high) -> Dict[str, Any]:
    """A row of Tables 4.5–4.8: ``low``/``high`` are ``(η, step)`` of layers 1–2 / 3–5, None = freeze."""
    low = low or (0.0, NA)
    return {"cnn_low_lr": low[0], "cnn_low_step": low[1], "cnn_high_lr": high[0], "cnn_high_step": high[1]}


_SIZES = (512, 1024, 2048)
TABLES: Dict[str, Table] = {t.id: t for t in (
    Table("4.3", "Classifier hidden dimension (H) × feature dimension (Z), MFCC + BoF", "grid", search="classifier",
          axes=("Z", "H"), thesis={(z, h): v for z, row in zip(_SIZES, ((.63, .64, .63), (.64, .67, .62),
                                                                        (.61, .61, .59)))
                                   for h, v in zip(_SIZES, row)}),
    Table("4.4", "RNN hidden dimension (T) × drop-out probability (p), MFCC + LSTM", "grid", search="lstm",
          axes=("p", "T"), thesis={(p, t): v for p, row in zip((0.0, 0.3, 0.5), ((.66, .61, .59), (.68, .74, .68),
                                                                              (.67, .71, .64)))
                                   for t, v in zip(_SIZES, row)}),
    Table("4.5", "Source task, CNN layers 1–2 frozen: (η, step) of layers 3–5", "rows", task="source",
          search="learning_rate", thesis=[(_lr(None, (1e-3, 30000)), .79), (_lr(None, (1e-3, 50000)), .81),
                                          (_lr(None, (1e-3, 70000)), .74), (_lr(None, (1e-4, 30000)), .79),
                                          (_lr(None, (1e-4, 50000)), .81), (_lr(None, (1e-4, 70000)), .77)]),
    Table("4.6", "Source task, all layers trained: (η, step) of layers 1–2 and 3–5", "rows", task="source",
          search="learning_rate",
          thesis=[(_lr((1e-5, 50000), (1e-3, 50000)), .82), (_lr((1e-5, 50000), (1e-4, 50000)), .79),
                  (_lr((1e-4, 50000), (1e-3, 50000)), .84), (_lr((1e-4, 50000), (1e-4, 50000)), .77),
                  (_lr((1e-4, 70000), (1e-3, 50000)), .82), (_lr((1e-4, 70000), (1e-4, 50000)), .79),
                  (_lr((1e-3, 50000), (1e-3, 50000)), .83), (_lr((1e-3, 50000), (1e-4, 50000)), .76),
                  (_lr((1e-3, 70000), (1e-3, 50000)), .81), (_lr((1e-3, 70000), (1e-4, 50000)), .76)]),
    Table("4.7", "Target task, CNN layers 1–2 frozen: (η, step) of layers 3–5", "rows", search="learning_rate",
          thesis=[(_lr(None, (1e-3, 5000)), .65), (_lr(None, (1e-3, 10000)), .63), (_lr(None, (1e-3, 20000)), .61),
                  (_lr(None, (1e-4, 5000)), .67), (_lr(None, (1e-4, 10000)), .68), (_lr(None, (1e-4, 20000)), .63)]),
    Table("4.8", "Target task, all layers trained: (η, step) of layers 1–2 and 3–5", "rows", search="learning_rate",
          thesis=[(_lr((1e-6, NA), (1e-4, 10000)), .64), (_lr((1e-5, 10000), (1e-4, 10000)), .71),
                  (_lr((1e-5, 20000), (1e-4, 10000)), .69), (_lr((1e-4, 10000), (1e-4, 10000)), .68),
                  (_lr((1e-4, 20000), (1e-4, 10000)), .67)]),
    Table("4.9", "Summary of LSTM analyses", "variants",
          thesis=[("mfcc_bof", .67), ("mfcc_blackbox_lstm", .65), ("mfcc_finetuned_lstm", .74)]),
    Table("4.10", "Summary of CNN + LSTM analyses", "variants",
          thesis=[("blackbox_cnn_bof", .67), ("blackbox_cnn_blackbox_lstm", .63), ("blackbox_cnn_finetuned_lstm", .65),
                  ("finetuned_cnn_finetuned_lstm", .71)]),
)}

#: The thesis's names of the variants (Tables 4.9–4.10).
LABELS = {"mfcc_bof": "MFCC + BoF", "mfcc_blackbox_lstm": "MFCC + Black-box LSTM",
          "mfcc_finetuned_lstm": "MFCC + Fine-tune LSTM", "blackbox_cnn_bof": "Black-box CNN + BoF",
          "blackbox_cnn_blackbox_lstm": "Black-box CNN + Black-box LSTM",
          "blackbox_cnn_finetuned_lstm": "Black-box CNN + Fine-tune LSTM",
          "finetuned_cnn_finetuned_lstm": "Fine-tune CNN + Fine-tune LSTM"}

#: Which source-task model a variant starts from (None: trained from scratch, as the thesis's BoF).
SOURCE_OF = {"mfcc_bof": None, "mfcc_blackbox_lstm": "mfcc_lstm", "mfcc_finetuned_lstm": "mfcc_lstm",
             "blackbox_cnn_bof": "cnn_lstm", "blackbox_cnn_blackbox_lstm": "cnn_lstm",
             "blackbox_cnn_finetuned_lstm": "cnn_lstm", "finetuned_cnn_finetuned_lstm": "cnn_lstm"}

#: The thesis's chosen CNN rates: source task Table 4.6, target task Table 4.8.
SOURCE_CNN_RATES = _lr((1e-4, 50000), (1e-3, 50000))
TARGET_CNN_RATES = _lr((1e-5, 10000), (1e-4, 10000))


def table_ids(spec: str) -> List[str]:
    """``'all'``, ``'4.9'`` or ``'4.3,4.4'`` → table ids, in the thesis's order."""
    ids = list(TABLES) if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [i for i in ids if i not in TABLES]
    if unknown or not ids:
        raise ParameterError(f"--table={spec!r}: choose 'all' or one or more of {', '.join(TABLES)}")
    return ids
