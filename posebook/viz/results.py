"""Results tables: the paper's Table 2 (quoted) next to our measured rows, as HTML or Markdown."""
from __future__ import annotations

import html
from pathlib import Path

# Table 2 of Sárándi et al. 2018 (arXiv:1809.04987): full Human3.6M, protocol 1, MPJPE in mm;
# columns: trained on Human3.6M only / with extra 2D pose data. QUOTED from the paper (see
# ../shared/paper/tables.md for how single-number rows were assigned to a column); these are
# not measured by posebook.
TABLE2_QUOTED: tuple[tuple[str, float | None, float | None], ...] = (
    ("Tekin et al. (CVPR'16)", 125.0, None),
    ("Zhou et al. (CVPR'16)", 113.0, None),
    ("Zhou, Xingyi et al. (ECCV'16)", 107.3, None),
    ("Sun et al. (ICCV'17)", 92.4, 59.1),
    ("Martinez et al. (ICCV'17)", None, 62.9),
    ("Zhou et al. (ICCV'17)", None, 55.9),
    ("Pavlakos et al. (CVPR'18)", 71.9, 56.2),
    ("Sun et al. (arXiv'17, integral regression)", 64.1, 49.6),
    ("paper, no occlusion augmentation", 65.7, None),
    ("paper, full", 55.4, None),
)
HEADER = ("method", "source", "H36M only (mm)", "+ extra 2D data (mm)")


class Table:
    """A table that shows as HTML in notebooks and prints as Markdown.

    rows: tuples of cells (str, float or None); `separators`: row indices before which a
    heavier rule is drawn (to set measured rows apart from quoted ones).
    """

    def __init__(self, header, rows, caption: str = "", separators=(), digits: int = 1):
        self.header, self.rows, self.caption = tuple(header), [tuple(r) for r in rows], caption
        self.separators, self.digits = set(separators), digits
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"row {row} has {len(row)} cells, header has {len(self.header)}")

    def _cell(self, value) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:.{self.digits}f}"
        return str(value)

    def to_markdown(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        for i, row in enumerate(self.rows):
            if i in self.separators and i:
                lines.append("| " + " | ".join("" for _ in self.header) + " |")
            lines.append("| " + " | ".join(self._cell(v) for v in row) + " |")
        return ("**" + self.caption + "**\n\n" if self.caption else "") + "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        out = ["<table>"]
        if self.caption:
            out.append(f"<caption>{html.escape(self.caption)}</caption>")
        out.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
                   + "</tr></thead><tbody>")
        for i, row in enumerate(self.rows):
            style = ' style="border-top: 3px double #888"' if i in self.separators else ""
            out.append(f"<tr{style}>" + "".join(
                f"<td>{html.escape(self._cell(v))}</td>" for v in row) + "</tr>")
        out.append("</tbody></table>")
        return "".join(out)

    def __str__(self) -> str:
        return self.to_markdown()


def table2(measured: list[tuple[str, float | None, str]], caption: str = "") -> Table:
    """Table 2: the quoted literature rows, then `measured` rows below a rule.

    Args:
        measured: (label, MPJPE mm or None = not run, source note) per measured row; the MPJPE
            goes in the "H36M only" column (posebook trains on Human3.6M or synthetic data only).
    """
    rows = [(name, "quoted from the paper", a, b) for name, a, b in TABLE2_QUOTED]
    first = len(rows)
    for label, value, note in measured:
        rows.append((label, note, "not run" if value is None else float(value), None))
    return Table(HEADER, rows, caption=caption, separators=(first,))


def per_action_table(per_action_mm: dict[str, float], caption: str = "") -> Table:
    """One row per action (and "Average" last), MPJPE in mm."""
    return Table(("action", "MPJPE (mm)"), [(k, float(v)) for k, v in per_action_mm.items()],
                 caption=caption)


def find_run(name_or_dir: str | Path):
    """`evaluate.load_run(name_or_dir)` if that run finished (has metrics.json), else None."""
    from .. import evaluate
    try:
        run = evaluate.load_run(name_or_dir)
    except (FileNotFoundError, ValueError, KeyError):
        return None
    return run if run.metrics else None


def protocol1_average(metrics: dict, split: str = "test") -> float | None:
    """Mean over actions of a run's per-action MPJPE (protocol 1), None if not a H36M run."""
    per_family = (metrics.get(split) or {}).get("per_family_mm") or {}
    if metrics.get("dataset") != "h36m" or not per_family:
        return None
    return float(sum(per_family.values()) / len(per_family))
