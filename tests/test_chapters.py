"""Every chapter runs under the `smoke` profile, and the built book shows its 3D figures.

One session fixture executes each chapter once (papermill, smoke profile) and builds the HTML
book from the executed notebooks into ``_build/test-book``; the per-chapter tests report each
chapter's own failure, and the browser test opens a built page in headless Chromium.
"""
import shutil
import time

import chromium
import nbformat
import pytest

from posebook import book

ROOT = book.repo()
CHAPTERS = book.toc_chapters(ROOT)
OUT = ROOT / "_build" / "test-book"
ARTIFACTS = ROOT / "_build" / "test-artifacts"


@pytest.fixture(scope="session")
def built_book():
    src = OUT / "_build" / "src"
    if src.exists():
        shutil.rmtree(src)
    results = {}
    for md_path in CHAPTERS:
        start = time.time()
        try:
            book.execute_chapter(md_path, "smoke", src)
            results[md_path.stem] = None
        except Exception as error:  # reported by the chapter's own test
            results[md_path.stem] = error
        print(f"{md_path.stem}: {time.time() - start:.1f} s")
    html = None
    if all(error is None for error in results.values()):
        html = book.build_html(ROOT, OUT / "_build")
    return results, html


@pytest.mark.parametrize("md_path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_under_smoke(built_book, md_path):
    results, _ = built_book
    if results[md_path.stem] is not None:
        pytest.fail(f"{md_path.name} failed under the smoke profile:\n{results[md_path.stem]}")
    executed = nbformat.read(OUT / "_build" / "src" / "chapters" / md_path.with_suffix(".ipynb").name,
                             as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    assert any("profile: smoke" in "".join(o.get("text", "")) for c in executed.cells
               if c.cell_type == "code" for o in c.outputs), "the smoke parameter must reach it"


def test_book_has_a_page_per_chapter(built_book):
    _, html = built_book
    assert html is not None, "some chapter failed; see its test"
    assert (html / "index.html").is_file()
    for md_path in CHAPTERS:
        assert (html / "chapters" / f"{md_path.stem}.html").is_file()
    # Markdown tables printed by cells (results tables) must render as tables, not as text
    page = (html / "chapters" / "05_train.html").read_text()
    assert "<table" in page and "|---" not in page


@pytest.mark.browser
def test_3d_figure_renders_offline_in_chromium(built_book, tmp_path):
    chromium.require()
    _, html = built_book
    assert html is not None, "some chapter failed; see its test"
    page = html / "chapters" / "04_camera.html"
    dom = chromium.run("--dump-dom", page.as_uri(), user_dir=tmp_path / "a").stdout
    assert "js-plotly-plot" in dom, "plotly did not draw the figure"
    assert "gl-container" in dom or "<canvas" in dom, "the 3D scene has no canvas"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "chapter04_3d_figure.png"
    shot.unlink(missing_ok=True)
    # A page that shows only the first 3D figure of the chapter, as the book renders it.
    figure_page = tmp_path / "figure.html"
    figure_page.write_text(_figure_only(page.read_text()))
    chromium.run(f"--screenshot={shot}", "--window-size=900,600", figure_page.as_uri(),
                 user_dir=tmp_path / "b")
    assert shot.is_file(), "chromium wrote no screenshot"
    import matplotlib.image
    pixels = (matplotlib.image.imread(shot)[..., :3] * 255).astype(int)
    blue, orange = chromium.skeleton_pixels(pixels)  # bones are drawn in the side colours
    assert blue > 30 and orange > 30, f"no skeleton drawn in {shot}"


def _figure_only(page_html: str) -> str:
    """The chapter page's plotly.js and its first 3D figure, alone on a page."""
    start = page_html.index("<script type=\"text/javascript\">(function(define, module, exports)")
    end = page_html.index("Plotly.newPlot", start)
    end = page_html.index("</script>", end) + len("</script>")
    return "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>" + \
        page_html[start:end] + "</body></html>"
