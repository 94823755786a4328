"""The reading layer: a finished run's numbers as typed values, the book's one table type, and
every computed sentence. `evaluate` computes, `viz` draws, `report` words.

- `metrics`: `RunMetrics` (with a `SplitMetrics` per test set and the `EnsembleChoice`), read
  from the dict that `runs.load` gives (`read`, `find`, `of`); no other module knows
  metrics.json's keys.
- `table`: `Table`, HTML in a notebook and Markdown in text.
- `tables`: the tables of measured numbers (a run's results, Table 1, Table 2, ...).
- `sentences`: captions (where numbers come from) and verdicts (what a comparison selects).
- `paper`: the paper's quoted numbers beside a run's, and what differs in how they were made.
- `table1`: chapter 06's sentences: Table 1's protocol, its gains against the seed noise, the
  training fit and the generalisation gap.
"""
from . import metrics, paper, sentences, table, table1, tables  # noqa: F401
from .metrics import EnsembleChoice, RunMetrics, SplitMetrics, find, of, read  # noqa: F401
from .table import Table  # noqa: F401
