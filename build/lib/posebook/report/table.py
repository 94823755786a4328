"""The book's one table type: HTML in a notebook, Markdown in text (print, files, --help).

Cells are text, numbers or None: None shows as "—", a float with `digits` decimals, anything
else as ``str(cell)`` (format a number yourself where another precision reads better).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

EMPTY = "—"
HTML_CLASS = "posebook-table"


@dataclass(frozen=True)
class Table:
    """A titled table.

    header: column titles; rows: tuples of cells, each as long as `header`; caption: shown
    above it (bold in Markdown); separators: row indices before which a heavier rule is drawn
    (to set measured rows apart from quoted ones); digits: decimals of float cells.
    """
    header: tuple[str, ...]
    rows: tuple[tuple, ...]
    caption: str = ""
    separators: frozenset[int] = field(default_factory=frozenset)
    digits: int = 1

    def __post_init__(self):
        object.__setattr__(self, "header", tuple(self.header))
        object.__setattr__(self, "rows", tuple(tuple(row) for row in self.rows))
        object.__setattr__(self, "separators", frozenset(self.separators))
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"row {row} has {len(row)} cells, header has {len(self.header)}")

    def cell(self, value) -> str:
        """The text of one cell."""
        if value is None:
            return EMPTY
        if isinstance(value, float):
            return f"{value:.{self.digits}f}"
        return str(value)

    def to_markdown(self) -> str:
        """The table as Markdown (caption in bold above it), ending in a newline."""
        def line(cells) -> str:
            return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"
        lines = [line(self.header), "|" + "---|" * len(self.header)]
        for i, row in enumerate(self.rows):
            if i in self.separators and i:
                lines.append(line("" for _ in self.header))
            lines.append(line(self.cell(v) for v in row))
        return ("**" + self.caption + "**\n\n" if self.caption else "") + "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        """The table in a box that scrolls sideways when it is wider than the page (a book
        page cuts a wide output off at its edge otherwise)."""
        out = [f'<div class="{HTML_CLASS}" style="overflow-x: auto; max-width: 100%;"><table>']
        if self.caption:
            out.append(f"<caption>{html.escape(self.caption)}</caption>")
        out.append("<thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in self.header)
                   + "</tr></thead><tbody>")
        for i, row in enumerate(self.rows):
            style = ' style="border-top: 3px double #888"' if i in self.separators else ""
            out.append(f"<tr{style}>" + "".join(
                f"<td>{html.escape(self.cell(v))}</td>" for v in row) + "</tr>")
        out.append("</tbody></table></div>")
        return "".join(out)

    def __str__(self) -> str:
        return self.to_markdown()

    __repr__ = __str__
