"""Every chapter runs under the `smoke` profile, and the built book shows its 3D figures.

One session fixture executes each chapter once (papermill, smoke profile) and builds the HTML
book from the executed notebooks into ``_build/test-book``; the per-chapter tests report each
chapter's own failure, and the browser test opens a built page in headless Chromium.
"""
import os
import re
import shutil
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import chromium
import nbformat
import pages
import pytest

from posebook import book, launch, overview

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
        book.execute_chapter(book.root_page(ROOT), "smoke", src)   # its table reads their runs
        html = book.build_html(ROOT, OUT / "_build")
    return results, html


@pytest.mark.slow
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


@pytest.mark.slow
def test_book_has_a_page_per_chapter(built_book):
    _, html = built_book
    assert html is not None, "some chapter failed; see its test"
    assert (html / "index.html").is_file()
    for md_path in CHAPTERS:
        assert (html / "chapters" / f"{md_path.stem}.html").is_file()
    # Markdown tables printed by cells (results tables) must render as tables, not as text
    page = (html / "chapters" / "05_train.html").read_text()
    assert "<table" in page and "|---" not in page
    intro = (html / "intro.html").read_text()        # the overview, computed after the chapters
    assert overview.HEADER[3] in intro and "Parameters" not in intro


@pytest.mark.slow
def test_built_book_has_no_placeholder_and_launch_buttons_only_for_a_repository(built_book):
    _, html = built_book
    assert html is not None, "some chapter failed; see its test"
    has_url = bool(launch.repository_url(ROOT))
    for page in html.rglob("*.html"):
        text = page.read_text()
        assert "OWNER" not in text, f"{page.name} names the placeholder repository"
        for button in (launch.BINDERHUB_URL, launch.COLAB_URL):
            assert (button in text) == (has_url and page.parent.name == "chapters"), \
                f"{page.name}: {button} link {'missing' if has_url else 'without a repository'}"


@pytest.mark.slow
def test_every_page_of_a_smoke_build_says_its_numbers_are_a_plumbing_check(built_book):
    _, html = built_book
    assert html is not None, "some chapter failed; see its test"
    pages = [html / "intro.html"] + [html / "chapters" / f"{p.stem}.html" for p in CHAPTERS]
    for page in pages:
        text = " ".join(page.read_text().split())
        assert "Built with the smoke profile: these numbers are a plumbing check" in text, page.name
        make_book = '<span class="pre">make</span> <span class="pre">book</span>'
        assert 'class="warning admonition"' in text and make_book in text, page.name


MAX_LOG_LINES = 15   # unfolded log text a reader scrolls past per chapter


class LogLines(HTMLParser):
    """Counts the lines of text in a page's cell outputs that are log streams (stdout/stderr),
    separately for outputs shown and outputs folded (inside <details> or a hide-output cell)."""
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack, self.shown, self.folded, self.text = [], 0, 0, None

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        classes = (dict(attrs).get("class") or "").split()
        log = "output" in classes and ("stream" in classes or "stderr" in classes)
        folded = tag == "details" or "tag_hide-output" in classes
        self.stack.append((tag, log, folded))
        if log and self.text is None:
            self.text = []

    def handle_endtag(self, tag):
        while self.stack:
            open_tag, log, _ = self.stack.pop()
            if log and self.text is not None and not any(entry[1] for entry in self.stack):
                lines = sum(1 for line in "".join(self.text).splitlines() if line.strip())
                if any(entry[2] for entry in self.stack):
                    self.folded += lines
                else:
                    self.shown += lines
                self.text = None
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self.text is not None:
            self.text.append(data)


def machine_paths() -> list[str]:
    """Folders of this machine that must not appear in a built page."""
    found = [str(Path.home()) + "/", tempfile.gettempdir() + "/"]
    for name in ("POSEBOOK_CACHE", "POSEBOOK_RUNS", "POSEBOOK_REALDATA"):
        if os.environ.get(name):
            found += [os.environ[name], str(Path(os.environ[name]).resolve())]
    return sorted(set(found))


@pytest.mark.slow
def test_built_pages_show_no_machine_paths_and_little_log(built_book):
    _, html = built_book
    assert html is not None, "some chapter failed; see its test"
    paths = machine_paths()
    for md_path in CHAPTERS:
        page = (html / "chapters" / f"{md_path.stem}.html").read_text()
        leaked = [p for p in paths if p in page]
        assert not leaked, f"{md_path.stem}.html shows this machine's folders {leaked}"
        counter = LogLines()
        counter.feed(page)
        assert counter.shown <= MAX_LOG_LINES, \
            f"{md_path.stem}.html shows {counter.shown} lines of log text unfolded"


def test_log_line_counter_tells_shown_from_folded():
    counter = LogLines()
    counter.feed('<div class="cell tag_hide-output"><details><div class="output stream"><pre>'
                 'a\nb\n</pre></div></details></div><div class="cell"><div class="output stderr">'
                 '<div class="highlight"><pre>c\nd\ne</pre></div></div></div>'
                 '<div class="output text_plain"><pre>x\ny</pre></div>')
    assert (counter.shown, counter.folded) == (3, 2)


@pytest.mark.slow
def test_built_pages_are_what_a_reader_should_meet(built_book):
    _, html = built_book
    assert html is not None, "some chapter failed; see its test"
    for path in [html / "intro.html", *(html / "chapters" / f"{p.stem}.html" for p in CHAPTERS)]:
        problems = pages.reader_problems(pages.Page(path.read_text()))
        assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_page_checks_catch_what_a_reader_must_not_meet():
    clean = pages.Page('<script src="../_static/mathjax/tex-chtml.js"></script><p>In 2018 the '
                       'error was 55 mm (see <code>/data/h36m</code>).</p><div class="cell_output">'
                       '<div class="output text_html"><table><td>12.5</td></table></div>'
                       '<div class="output stream"><pre>profile: smoke</pre></div></div>'
                       '<span class="math notranslate nohighlight">\\(p = 1\\)</span>')
    assert pages.reader_problems(clean) == [] and clean.formulas == 1
    assert clean.outputs == [("rich", "12.5"), ("text", "profile: smoke")]
    for bad, problem in [
            ('<script src="https://cdn.example/mathjax.js"></script>', "remote script"),
            ("<p>wrote $TMPDIR/tmp1/a.html</p>", "machine path"),
            ("<pre>auto.py:21: TqdmWarning: IProgress not found</pre>", "warning"),
            ('<div class="output text_plain"><pre>{\'n\': 3.0}</pre></div>', "raw dict"),
            ('<div class="output text_plain"><pre>0</pre></div>', "bare value"),
            ('<div class="output text_plain"><pre>(\'a\', \'b\')</pre></div>', "bare value"),
            ("<p>see /root/posebook/runs</p>", "machine path")]:
        problems = pages.reader_problems(pages.Page(bad))
        assert len(problems) == 1 and problem in problems[0], (bad, problems)
    hidden = pages.Page("<script>var p = '/tmp/x'; // Warning: </script><style>/* /home/ */</style>")
    assert pages.reader_problems(hidden) == []


@pytest.mark.slow
@pytest.mark.browser
def test_formulas_render_offline_in_chromium(built_book, tmp_path):
    chromium.require()
    _, html = built_book
    assert html is not None, "some chapter failed; see its test"
    page = html / "chapters" / "03_soft_argmax.html"
    read = pages.Page(page.read_text())
    assert read.formulas > 0 and not pages.remote_scripts(read), "MathJax must come with the book"
    dom = chromium.run("--dump-dom", page.as_uri(), user_dir=tmp_path / "a").stdout
    assert dom.count("<mjx-container") == read.formulas, "MathJax did not typeset every formula"
    assert "<mjx-merror" not in dom, "MathJax could not typeset a formula"


@pytest.mark.slow
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


# --- chapters only call the package (static checks; no execution) -------------------------------
MAX_CELL_LINES = 15
RUN_FILE_PARSING = re.compile(
    r"\bjson\.loads?\(|\bnp\.load\(|\btorch\.load\(|\bpickle\.|"        # parsing a file
    r"(?:metrics|config|history|ablation)\.json|\blast\.pt\b|snapshot_\d+\.pt|"  # a run's files
    r"\.metrics\s*\[|\.metrics\.get\(")                                # metrics.json's raw dict


def code_cells(md_text: str) -> list[str]:
    """The source of every code cell of a MyST chapter, cell options (``:tags:``) left out."""
    cells = re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```\s*$", md_text, flags=re.S | re.M)
    return ["\n".join(line for line in cell.splitlines() if not re.match(r":\w+:", line))
            for cell in cells]


def long_cells(md_text: str, limit: int = MAX_CELL_LINES) -> list[int]:
    """Line counts of the code cells longer than `limit` lines."""
    return [n for n in (len(cell.strip("\n").splitlines()) for cell in code_cells(md_text))
            if n > limit]


def run_file_parsing(md_text: str) -> list[str]:
    """Lines of code cells that read a run's files or metrics.json's keys themselves."""
    return [line.strip() for cell in code_cells(md_text) for line in cell.splitlines()
            if RUN_FILE_PARSING.search(line)]


@pytest.mark.parametrize("md_path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_cells_are_short_and_call_the_package(md_path):
    text = md_path.read_text()
    assert not long_cells(text), f"{md_path.name}: code cells of {long_cells(text)} lines " \
        f"(at most {MAX_CELL_LINES}; move the logic into the package)"
    assert not run_file_parsing(text), f"{md_path.name} reads a run's files itself (use " \
        f"posebook.report / runs): {run_file_parsing(text)}"


def test_the_chapter_checks_catch_long_cells_and_file_parsing():
    def cell(body: str) -> str:
        return f"```{{code-cell}} ipython3\n:tags: [remove-cell]\n{body}\n```\n"
    assert long_cells(cell("\n".join(["x = 1"] * 15))) == []
    assert long_cells(cell("\n".join(["x = 1"] * 16))) == [16]
    for line in ('m = json.loads((run_dir / "metrics.json").read_text())',
                 'run.metrics["test"]["mpjpe_mm"]', 'run.metrics.get("backbone_weights")',
                 'cfg = (run_dir / "config.json").read_text()', "np.load(real / 'frames.npz')"):
        assert run_file_parsing(cell(line)) == [line], line
    assert run_file_parsing("Prose may name `metrics.json`.\n" + cell("m = report.read(d)")) == []
