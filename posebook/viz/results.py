"""Results tables: the paper's Table 2 (quoted) next to our measured rows, as HTML or Markdown."""
from __future__ import annotations

import html
from pathlib import Path

from ..paper_numbers import TABLE2_MPJPE_MM as TABLE2_QUOTED  # quoted: see posebook.paper_numbers

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
    """`runs.load(name_or_dir)` if that run finished (has metrics.json), else None."""
    from .. import runs
    try:
        run = runs.load(name_or_dir)
    except (FileNotFoundError, ValueError):
        return None
    return run if run.finished else None


# --- chapter 06: Table 1 (occlusion-augmentation probability) -----------------------------------
def _pm(mean: float, std: float, n: int):
    """"mean ± std" over n seeds (the mean alone for one seed)."""
    if mean is None or mean != mean:                      # None or NaN
        return None
    return f"{mean:.1f} ± {std:.1f}" if n > 1 else float(mean)


def table1(summary_rows: list[dict], caption: str = "") -> Table:
    """The paper's Table 1 (quoted) next to our clean/occluded test MPJPE per probability.

    summary_rows: `posebook.ablation.summary` rows (p, n_seeds, paper_mm, clean_mm, ...).
    """
    header = ("occlusion probability p", "paper MPJPE (mm), quoted", "ours: clean test (mm)",
              "ours: occluded test (mm)", "seeds")
    rows = [(f"{r['p']:.0%}" if r["p"] else "0 (no augmentation)", float(r["paper_mm"]),
             _pm(r["clean_mm"], r["clean_std_mm"], r["n_seeds"]),
             _pm(r["occluded_mm"], r["occluded_std_mm"], r["n_seeds"]), str(r["n_seeds"]))
            for r in summary_rows]
    return Table(header, rows, caption=caption)


def covered_table(summary_rows: list[dict], caption: str = "") -> Table:
    """Per p: occluded-test error of joints under an occluder vs the others, and the clean error."""
    header = ("occlusion probability p", "covered joints (mm)", "uncovered joints (mm)",
              "clean test, all joints (mm)")
    rows = [(f"{r['p']:.0%}", _pm(r["covered_mm"], r["covered_std_mm"], r["n_seeds"]),
             _pm(r["uncovered_mm"], r["uncovered_std_mm"], r["n_seeds"]),
             _pm(r["clean_mm"], r["clean_std_mm"], r["n_seeds"])) for r in summary_rows]
    return Table(header, rows, caption=caption)


def count_table(by_p: dict[float, dict[int, float]], caption: str = "") -> Table:
    """Rows: number of occluders in the test image; columns: training p (MPJPE, mm)."""
    ps = list(by_p)
    counts = sorted({n for table in by_p.values() for n in table})
    header = ("occluders in the image", *(f"p = {p:.0%}" for p in ps))
    rows = [(str(n), *(by_p[p].get(n) for p in ps)) for n in counts]
    return Table(header, rows, caption=caption)


def ablation_plot(summary_rows: list[dict], title: str = ""):
    """matplotlib Figure: MPJPE vs training occlusion probability. Left: ours on the clean and
    the occluded test set (mean ± std over seeds as error bars); right: the paper's quoted
    numbers (their own axis: real data, a different scale)."""
    import textwrap

    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 3.8))
    ours, paper = fig.subplots(1, 2, sharex=True, gridspec_kw={"width_ratios": [3, 2]})
    p = [100 * r["p"] for r in summary_rows]
    for key, label, marker in (("clean_mm", "clean test", "o"),
                               ("occluded_mm", "occluded test", "s")):
        ours.errorbar(p, [r[key] for r in summary_rows],
                      yerr=[r[key.replace("_mm", "_std_mm")] for r in summary_rows],
                      marker=marker, capsize=3, label=label)
    ours.set_title("measured (this machine)", fontsize=9)
    ours.set_ylabel("MPJPE (mm)")
    ours.legend()
    paper.plot(p, [r["paper_mm"] for r in summary_rows], "k--", marker="^")
    paper.set_title("paper, quoted (challenge validation)", fontsize=9)
    for ax in (ours, paper):
        ax.set_xlabel("occlusion-augmentation probability p (%)")
        ax.set_xticks(p)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle("\n".join(textwrap.wrap(title, 110)), fontsize=8)
    fig.tight_layout()
    return fig


def count_plot(by_p: dict[float, dict[int, float]], title: str = ""):
    """matplotlib Figure: occluded-test MPJPE vs number of occluders, one line per training p."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    for p, table in by_p.items():
        ax.plot(list(table), list(table.values()), marker="o", label=f"trained with p = {p:.0%}")
    ax.set_xlabel("occluders pasted in the test image")
    ax.set_ylabel("MPJPE (mm)")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        import textwrap
        ax.set_title("\n".join(textwrap.wrap(title, 95)), fontsize=8)
    fig.tight_layout()
    return fig


def real_frames_table(real: dict | None) -> Table | None:
    """Per real frame (`real_frames.evaluate_run`): root-relative MPJPE and facing error (angle
    between predicted and true chest normals; over 90 degrees = turned around). None without
    real frames."""
    if real is None:
        return None
    facing = real.get("per_frame_facing_deg", {})
    rows = [(name, mm, facing.get(name)) for name, mm in real["per_frame_mm"].items()]
    return Table(("frame", "MPJPE (mm)", "facing error (deg)"), rows,
                 caption="Real Human3.6M frames, true boxes and cameras", digits=0)
