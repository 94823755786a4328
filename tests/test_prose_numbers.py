"""Every number in a chapter's prose is glued from a run, or labelled as quoted or configured.

The convention (chapters/*.md, Markdown text only: code cells, front matter, HTML comments,
inline code, math and glue roles are not prose):

- measured: glued from the run the chapter shows, {glue:text}`name`;
- configured: a value of posebook's code or config, in a sentence that names where it lives
  as inline code (`occlusion_p`, `augment.draw_geometry`, `occluder_count_max = 8`); the
  value itself may be written as inline code too;
- quoted: a number from the paper, in a sentence that says so ("the paper", "paper's",
  "Sárándi", "authors'", "quoted");
- a name, not a quantity: chapter, Table, Figure, Section, protocol, camera, subject and step
  numbers, years in citations, numbered list markers, and digits inside a word (3D, ResNet-50,
  S9, VOC2012, H36M-17);
- formulas go in math ($[0, 1]$, $(i + 0.5) / n$).

Anything else is a typed number that may not be true of the run the reader builds.
"""
import re

import pytest

from posebook import book

CHAPTERS = book.toc_chapters(book.repo())

QUOTED = re.compile(r"\bpaper\b|paper's|Sárándi|authors'|\bquoted\b", re.I)
NAMES = re.compile(r"\b(?:[Cc]hapters?|Table|Figure|Section|Sec\.|[Pp]rotocol|[Cc]ameras?|"
                   r"[Ss]ubjects?|[Ss]teps?|ECCV|CVPR|ICCV|arXiv:?)\s+\(?\d[\d.:]*"
                   r"|\b[A-Z][\w.]*(?: et al\.)?,? (?:19|20)\d\d\b")   # citations: "Smith 2017"
NUMBER = re.compile(r"(?<![\w.\-/])[-−±~]?\d+(?:[.,]\d+)*(?![\w\-])")


def prose(md_text: str) -> str:
    """The Markdown text of a chapter with everything that is not prose blanked out."""
    text = re.sub(r"\A---\n.*?\n---\n", "", md_text, flags=re.S)         # front matter
    text = re.sub(r"^(`{3,}|~{3,}).*?^\1\s*$", "", text, flags=re.S | re.M)  # code cells
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"\{glue:text\}`[^`]*`", "GLUED", text)
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]+\$", "MATH", text, flags=re.S)
    text = re.sub(r"^\s*\d+\.\s", "- ", text, flags=re.M)                 # numbered lists
    return text


def sentences(text: str):
    for paragraph in re.split(r"\n\s*\n", text):
        yield from re.split(r"(?<=[.!?:;])\s+(?=[A-Z*(`{])", " ".join(paragraph.split()))


def unlabelled_numbers(md_text: str) -> list[tuple[str, str]]:
    """(number, sentence) for every number that is neither glued nor labelled."""
    bad = []
    for sentence in sentences(prose(md_text)):
        if QUOTED.search(sentence) or "`" in sentence:   # quoted, or names its code/config
            continue
        plain = NAMES.sub(" NAME ", sentence)
        bad += [(m.group(), sentence) for m in NUMBER.finditer(plain)]
    return bad


@pytest.mark.parametrize("md_path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_prose_has_no_typed_numbers(md_path):
    bad = unlabelled_numbers(md_path.read_text())
    assert not bad, "typed numbers (glue them, or label them as quoted/configured):\n" + \
        "\n".join(f"  {n!r} in: {s[:160]}" for n, s in bad)


@pytest.mark.parametrize("text, typed", [
    ("The model is off by 35 mm per joint.", ["35"]),
    ("The model is off by {glue:text}`mpjpe` mm per joint.", []),
    ("The paper pastes 1 to 8 occluders.", []),
    ("Each run pastes up to `occluder_count_max` occluders, 8 by default.", []),
    ("Chapter 05 trains it; Table 1 shows it (Smith 2017), in 3D with ResNet-50.", []),
    ("Soft-argmax maps to $[0, 1]$.", []),
    ("```{code-cell} ipython3\nx = 35\n```\nNothing here.", []),
    ("An untrained head is off by about 120 mm.\n\nThe paper says 49.5 mm.", ["120"]),
])
def test_the_checker_itself(text, typed):
    assert [n for n, _ in unlabelled_numbers(text)] == typed
