"""A built book page as its reader meets it: the text shown, each cell output's text, the
scripts it loads and the formulas it holds; and what a reader must never meet there (used by
tests/test_chapters.py on the smoke book that `make test` builds)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
UNSHOWN = {"script", "style", "template", "noscript", "title"}   # text a browser never shows
MACHINE_PATH = re.compile(r"/tmp/|/root/|/home/|\$TMPDIR|\.pyenv")
PYTHON_WARNING = re.compile(r"\b[A-Z]\w*Warning: |\bwarnings\.warn\(")
BARE_NUMBER = re.compile(r"-?\d[\d_,]*(\.\d*)?([eE][-+]?\d+)?")
REPR = re.compile(r"'[^']*'|\('.*\)", re.S)     # a str's or a tuple's repr as the whole output


class Page(HTMLParser):
    """Reads one page: `text` (every shown text run), `outputs` (each cell output, in order, as
    (kind, text): kind "text" for printed or returned plain text, else "rich"), `scripts` (each <script src>) and `formulas` (how many math spans MathJax
    typesets)."""

    def __init__(self, html: str):
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.text: list[str] = []
        self.outputs: list[tuple[str, str]] = []
        self.scripts: list[str] = []
        self.formulas = 0
        self._output: list[str] | None = None
        self._output_depth, self._output_kind = 0, ""
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        if tag in VOID:
            return
        classes = (attrs.get("class") or "").split()
        if "math" in classes and "notranslate" in classes:
            self.formulas += 1
        self.stack.append((tag, tag in UNSHOWN))
        if "output" in classes and "cell_output" not in classes and self._output is None:
            self._output, self._output_depth = [], len(self.stack)
            plain = {"text_plain", "stream", "stderr"} & set(classes)
            self._output_kind = "text" if plain else "rich"

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while self.stack:
            open_tag, _ = self.stack.pop()
            if self._output is not None and len(self.stack) < self._output_depth:
                self.outputs.append((self._output_kind, "".join(self._output).strip()))
                self._output = None
            if open_tag == tag:
                break

    def handle_data(self, data):
        if any(unshown for _, unshown in self.stack):
            return
        self.text.append(data)
        if self._output is not None:
            self._output.append(data)


def remote_scripts(page: Page) -> list[str]:
    """Scripts a page loads from the network (it must work offline)."""
    return [src for src in page.scripts if re.match(r"(https?:)?//", src)]


def reader_problems(page: Page) -> list[str]:
    """What a reader must not meet on a page: a remote script, a machine path or a Python
    warning in the shown text, a raw dict anywhere in a plain-text cell output, and a bare
    number or the repr of a str or tuple as a whole one."""
    problems = [f"loads a remote script {src}" for src in remote_scripts(page)]
    text = "".join(page.text)
    problems += [f"shows a machine path: ...{text[max(0, m.start() - 40):m.end() + 40]}..."
                 for m in MACHINE_PATH.finditer(text)]
    problems += [f"shows a Python warning: ...{text[m.start():m.end() + 80]}..."
                 for m in PYTHON_WARNING.finditer(text)]
    for kind, output in page.outputs:
        if kind != "text":
            continue
        if "{'" in output:
            problems.append(f"a cell output shows a raw dict: {output[:80]!r}")
        if BARE_NUMBER.fullmatch(output) or REPR.fullmatch(output):
            problems.append(f"a cell output is a bare value: {output[:80]!r}")
    return problems
