"""The book's structure: chapters paired, in sync, parametrised; a failing chapter stops the build."""
import shutil
import tempfile
import textwrap

import nbformat
import pytest

from posebook import book

ROOT = book.repo()
CHAPTERS = book.toc_chapters(ROOT)


def test_toc_lists_the_eight_chapters_of_the_design():
    names = [p.stem for p in CHAPTERS]
    assert [n[:2] for n in names] == [f"{i:02d}" for i in range(1, 9)]


@pytest.mark.parametrize("md_path", CHAPTERS, ids=lambda p: p.stem)
def test_notebook_matches_its_markdown(md_path):
    assert book.drift(md_path) == [], "run `make notebooks` and commit the .ipynb"


@pytest.mark.parametrize("md_path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_opens_with_bootstrap_and_parameters(md_path):
    nb = nbformat.read(md_path.with_suffix(".ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert 'find_spec("posebook") is None' in code[0].source  # no-op where installed
    assert "parameters" in code[1].metadata.get("tags", [])
    assert code[1].source.startswith("profile = None")
    assert all(not c.outputs for c in code), "commit notebooks without outputs"
    assert nb.cells[0].cell_type == "markdown", "prose comes before the first cell"


@pytest.mark.parametrize("md_path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_cells_hold_no_definitions(md_path):
    nb = nbformat.read(md_path.with_suffix(".ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not any(line.startswith(("def ", "class ")) for line in cell.source.splitlines())


def test_root_page_is_a_notebook_in_sync_run_after_the_chapters(tmp_path, monkeypatch):
    page = book.root_page(ROOT)
    assert page == ROOT / "intro.md" and book.drift(page) == [], "run `make notebooks`"
    nb = nbformat.read(page.with_suffix(".ipynb"), as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    ran = []
    monkeypatch.setattr(book, "execute_chapter", lambda md, profile, out: ran.append(md) or md)
    book.execute(ROOT, "smoke", tmp_path)
    assert ran == [*CHAPTERS, page]


def test_drift_is_detected(tmp_path):
    md = tmp_path / "chapters" / "x.md"
    md.parent.mkdir()
    shutil.copy(CHAPTERS[0], md)
    shutil.copy(CHAPTERS[0].with_suffix(".ipynb"), md.with_suffix(".ipynb"))
    assert book.drift(md) == []
    md.write_text(md.read_text() + "\n```{code-cell} ipython3\n1 + 1\n```\n")
    assert book.drift(md)


def test_failing_chapter_stops_the_build_with_its_traceback(tmp_path):
    (tmp_path / "posebook").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/bad\n")
    (tmp_path / "intro.md").write_text("# Intro\n")
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "bad.md").write_text(textwrap.dedent("""\
        ---
        jupytext:
          text_representation: {extension: .md, format_name: myst}
        kernelspec: {display_name: Python 3, language: python, name: python3}
        ---
        # Bad

        ```{code-cell} ipython3
        :tags: [parameters]
        profile = None
        ```

        ```{code-cell} ipython3
        1 / 0
        ```
        """))
    book.sync_notebooks(tmp_path)
    with pytest.raises(Exception) as error:
        book.execute(tmp_path, "smoke", tmp_path / "out")
    assert "ZeroDivisionError" in str(error.value)


def test_tidy_outputs_folds_logs_counts_repeats_and_hides_machine_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path / "cache"))
    warning = f"no pretrained weights; looked at: {tmp_path / 'cache'}/x.pth\n"
    log_only = nbformat.v4.new_code_cell("train()")
    log_only.outputs = [nbformat.v4.new_output("stream", name="stderr", text=warning * 6),
                        nbformat.v4.new_output("stream", name="stdout",
                                               text="".join(f"step {i}\n" for i in range(9)))]
    mixed = nbformat.v4.new_code_cell("run()")
    mixed.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                            text=f"a\nb\nc\nwrote {tmp_path}/tmp1x/a.html\n"),
                     nbformat.v4.new_output("execute_result", data={"text/plain": str(tmp_path)})]
    quiet = nbformat.v4.new_code_cell("print(1)")
    quiet.outputs = [nbformat.v4.new_output("stream", name="stdout", text="profile: smoke\n")]
    nb = nbformat.v4.new_notebook(cells=[log_only, mixed, quiet])
    book.tidy_outputs(nb)
    assert book.FOLD_TAG in log_only.metadata["tags"]
    text = log_only.outputs[0]["text"]
    assert "(6 times)" in text and "$POSEBOOK_CACHE/x.pth" in text and str(tmp_path) not in text
    assert "tags" not in mixed.metadata
    assert mixed.outputs[0]["text"] == "[3 log lines left out]\nwrote $TMPDIR/" + \
        f"{tmp_path.relative_to(tempfile.gettempdir())}/tmp1x/a.html\n"
    assert str(tmp_path) not in mixed.outputs[1]["data"]["text/plain"]
    assert quiet.outputs[0]["text"] == "profile: smoke\n" and "tags" not in quiet.metadata


def test_smoke_notice_sits_under_the_title_and_names_the_real_build():
    page = book.smoke_notice("# Training\n\nThe network of chapter 2 ...")
    title, notice = page.split("\n\n", 2)[:2]
    assert title == "# Training" and notice.startswith("```{admonition} Built with the smoke profile")
    assert "plumbing check" in notice and "make book" in notice and 'profile = "cpu"' in notice
    assert page.endswith("\nThe network of chapter 2 ...")
    assert book.smoke_notice("No title here.").startswith("```{admonition}")


def test_hide_injected_parameters_tags_only_papermills_cell():
    injected = nbformat.v4.new_code_cell('profile = "smoke"', metadata={"tags": ["injected-parameters"]})
    other = nbformat.v4.new_code_cell("1 + 1")
    nb = nbformat.v4.new_notebook(cells=[injected, other])
    book.hide_injected_parameters(nb)
    book.hide_injected_parameters(nb)
    assert injected.metadata["tags"] == ["injected-parameters", "remove-cell"]
    assert "tags" not in other.metadata
