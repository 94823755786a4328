"""Build the book: pair chapters, execute them with papermill, build the HTML.

``python -m posebook.book [--profile NAME]`` (what ``make book`` runs):

1. every chapter in ``_toc.yml`` is executed with papermill from its committed ``.ipynb`` into
   ``_build/src/chapters/`` with the ``profile`` parameter (a failing cell stops the build and
   its traceback is printed), then the root page (``intro``: its table reads the runs the
   chapters made); outputs are then tidied for readers (`tidy_outputs`): log text folded or
   summarised, repeated lines counted once, the build machine's paths replaced;
2. the executed notebooks are staged with ``_config.yml``/``_toc.yml`` in ``_build/src`` and
   Jupyter Book builds ``_build/html`` from them with ``-W`` (warnings fail).

``--sync-notebooks`` regenerates every ``.ipynb`` (chapters and root page) from its MyST ``.md``.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from . import launch, paths, profiles

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LOG_LINES_SHOWN = 3        # a cell printing more log lines than this is folded or summarised
FOLD_TAG = "hide-output"   # Jupyter Book shows such an output collapsed, behind a toggle
TEXT_MIME = ("text/plain", "text/html", "text/markdown")
KERNEL_START_S = 300       # a busy shared machine can take minutes to start a kernel
# What every page of a `smoke` build says under its title (`smoke_notice`).
SMOKE_NOTICE = """```{admonition} Built with the smoke profile: these numbers are a plumbing check
:class: warning
This page was built with the `smoke` profile: a tiny network trained for seconds on a few
hundred synthetic images, so that every cell runs quickly. Its numbers and figures show that the
code works, not what the method does. For the real book run `make book` (the default profile:
`cpu` without a GPU, `gpu` or `gpu_small` with one), or run a chapter with `profile = "cpu"`.
```"""


def repo() -> Path:
    root = paths.repo_root() or paths.repo_root(Path(__file__).parent)
    if root is None:
        raise FileNotFoundError("cannot find the book's folder (one with _toc.yml and posebook/)")
    return root


def toc_chapters(root: Path) -> list[Path]:
    """Chapter sources (``.md``) listed in ``_toc.yml``, in order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [entry["file"] for entry in toc.get("chapters", [])]
    missing = [f for f in files if not (root / f"{f}.md").is_file()]
    if missing:
        raise FileNotFoundError(f"{root / '_toc.yml'} lists chapters without a .md source: {missing}")
    return [root / f"{f}.md" for f in files]


def root_page(root: Path) -> Path:
    """The MyST source (``.md``) of the book's first page, ``_toc.yml``'s ``root``."""
    page = root / f"{yaml.safe_load((root / '_toc.yml').read_text())['root']}.md"
    if not page.is_file():
        raise FileNotFoundError(f"{root / '_toc.yml'} names root page {page.name}, not found")
    return page


def notebook_from_md(md_path: Path):
    """The output-free notebook that jupytext makes from a MyST chapter."""
    import jupytext
    nb = jupytext.read(md_path, fmt="md:myst")
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,md:myst"
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def sync_notebooks(root: Path) -> list[Path]:
    """Write the configured install cell into every chapter and the root page (each can be opened
    alone on Colab: `launch.write_install_cells`; only where ``_config.yml`` exists), then
    regenerate each ``.ipynb`` that drifted from its ``.md``; returns the files written."""
    import jupytext
    pages = [*sorted((root / "chapters").glob("*.md")), root_page(root)]
    written = launch.write_install_cells(root, pages) if (root / launch.CONFIG).is_file() else []
    for md_path in pages:
        target = md_path.with_suffix(".ipynb")
        if target.is_file() and not drift(md_path):
            continue  # unchanged: keep the file (and its cell ids) as committed
        paths.write_text_atomic(target, jupytext.writes(notebook_from_md(md_path), fmt="ipynb"))
        written.append(target)
    return written


def cell_summary(nb) -> list[tuple]:
    """What must agree between a chapter's .md and .ipynb: type, source and tags of each cell."""
    return [(c.cell_type, c.source.strip(), tuple(c.get("metadata", {}).get("tags", [])))
            for c in nb.cells]


def drift(md_path: Path) -> list[str]:
    """Differences between ``X.md`` and its committed ``X.ipynb`` (empty = in sync)."""
    import nbformat
    ipynb_path = md_path.with_suffix(".ipynb")
    if not ipynb_path.is_file():
        return [f"{ipynb_path} is missing (run `make notebooks`)"]
    want = cell_summary(notebook_from_md(md_path))
    have = cell_summary(nbformat.read(ipynb_path, as_version=4))
    problems = []
    if len(want) != len(have):
        problems.append(f"{ipynb_path.name}: {len(have)} cells, {md_path.name} makes {len(want)}")
    for i, (a, b) in enumerate(zip(want, have)):
        if a != b:
            problems.append(f"{ipynb_path.name}: cell {i} differs from {md_path.name}")
    kernelspec = nbformat.read(ipynb_path, as_version=4).metadata.get("kernelspec")
    if not kernelspec:
        problems.append(f"{ipynb_path.name}: no kernelspec (papermill needs one)")
    return problems


def execute_chapter(md_path: Path, profile: str | None, out_dir: Path) -> Path:
    """Run one chapter's committed ``.ipynb`` with papermill into ``out_dir/chapters/`` (the
    root page, `root_page`, into ``out_dir``).

    Raises papermill's execution error (it carries the failing cell's traceback) on failure.
    """
    import papermill
    source = md_path.with_suffix(".ipynb")
    target = (out_dir / "chapters" if md_path.parent.name == "chapters" else out_dir) / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    parameters = {"profile": profile} if profile else {}
    papermill.execute_notebook(str(source), str(target), parameters=parameters,
                               cwd=str(source.parent), kernel_name="python3",
                               progress_bar=False, start_timeout=KERNEL_START_S)
    import nbformat
    nb = nbformat.read(target, as_version=4)
    tidy_outputs(nb)
    if md_path.parent.name != "chapters":          # the root page opens the book: no code
        hide_injected_parameters(nb)
    resolved = profile or profiles.default_profile_name()   # what the chapter's kernel chose
    nb.metadata["posebook"] = {"profile": resolved}
    if resolved == "smoke" and nb.cells and nb.cells[0].cell_type == "markdown":
        nb.cells[0].source = smoke_notice(nb.cells[0].source)
    paths.write_text_atomic(target, nbformat.writes(nb))
    return target


def hide_injected_parameters(nb) -> None:
    """Tag papermill's "injected-parameters" cell ``remove-cell`` (in place), so the page does
    not show ``profile = "..."`` as code."""
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]


def smoke_notice(markdown: str) -> str:
    """`markdown` (a page's opening text) with `SMOKE_NOTICE` under its first ``# title``
    (or first, if it has none)."""
    title, sep, rest = markdown.partition("\n")
    if not title.startswith("# "):
        return f"{SMOKE_NOTICE}\n\n{markdown}"
    return f"{title}\n\n{SMOKE_NOTICE}\n{sep}{rest}"


def built_profiles(src: Path) -> set[str]:
    """The profiles the executed chapters under `src` ran with (`execute_chapter` records it)."""
    import nbformat
    return {nbformat.read(path, as_version=4).metadata.get("posebook", {}).get("profile")
            for path in sorted((src / "chapters").glob("*.ipynb"))} - {None}


def machine_paths() -> list[tuple[str, str]]:
    """(path, what readers see instead): the build machine's caches, runs, temp and home
    folders, longest first (so the most specific name wins)."""
    names = {os.environ.get("POSEBOOK_CACHE", ""): "$POSEBOOK_CACHE",
             os.environ.get("POSEBOOK_RUNS", ""): "$POSEBOOK_RUNS",
             os.environ.get("POSEBOOK_REALDATA", ""): "$POSEBOOK_REALDATA",
             tempfile.gettempdir(): "$TMPDIR", str(Path.home()): "~"}
    pairs = [(str(Path(p).resolve()), n) for p, n in names.items() if p] + \
            [(p, n) for p, n in names.items() if p]
    return sorted(set(pairs), key=lambda pair: -len(pair[0]))


def scrub(text: str, pairs: list[tuple[str, str]]) -> str:
    """`text` with each whole path of `pairs` replaced ("/tmp" in "/tmp/x", not in "/tmpx")."""
    for path, name in pairs:
        if len(path) > 1:
            text = re.sub(re.escape(path.rstrip("/")) + r"(?![\w.\-])", lambda _: name, text)
    return text


def count_repeats(lines: list[str]) -> list[str]:
    """Each distinct line once, in first-seen order, with "(N times)" where it repeated."""
    counts: dict[str, int] = {}
    for line in lines:
        counts[line] = counts.get(line, 0) + 1
    return [f"{line} ({n} times)" if n > 1 else line for line, n in counts.items()]


def tidy_outputs(nb) -> None:
    """Make an executed notebook read like a page, not a log (in place).

    Text outputs lose the build machine's paths (`machine_paths`). Each cell's log text (stdout
    and stderr streams) is merged, repeated lines counted once (`count_repeats`); a cell with
    more than `LOG_LINES_SHOWN` lines is folded (tagged `FOLD_TAG`) when it shows nothing else,
    else its log is summarised to its last line and a count of the lines left out."""
    import nbformat
    pairs = machine_paths()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        streams, others = [], []
        for out in cell.outputs:
            if out.output_type == "stream":
                streams.append(out)
                continue
            for mime in TEXT_MIME:
                if isinstance(out.get("data", {}).get(mime), str):
                    out["data"][mime] = scrub(out["data"][mime], pairs)
            others.append(out)
        if not streams:
            continue
        lines = count_repeats([line for out in streams
                               for line in scrub(out.text, pairs).splitlines() if line.strip()])
        if len(lines) > LOG_LINES_SHOWN and not others:
            tags = cell.metadata.setdefault("tags", [])
            tags += [FOLD_TAG] if FOLD_TAG not in tags else []
        elif len(lines) > LOG_LINES_SHOWN:
            lines = [f"[{len(lines) - 1} log lines left out]", lines[-1]]
        log = {"output_type": "stream", "name": "stdout", "text": "\n".join(lines) + "\n"}
        cell.outputs = [nbformat.from_dict(log)] + others if lines else others


def execute(root: Path, profile: str | None, out_dir: Path) -> list[Path]:
    """Run every chapter in ``_toc.yml`` order, then the root page (whose table reads the
    chapters' runs); the first failure stops everything."""
    def timed(md_path: Path) -> Path:
        start = time.time()
        print(f"[book] executing {md_path.with_suffix('.ipynb').relative_to(root)} "
              f"(profile={profile or 'default'})", flush=True)
        target = execute_chapter(md_path, profile, out_dir)
        print(f"[book]   done in {time.time() - start:.0f} s", flush=True)
        return target
    executed = [timed(md_path) for md_path in toc_chapters(root)]
    return executed + [timed(root_page(root))]


def build(root: Path, profile: str | None, out: Path | None = None) -> Path:
    """Execute every chapter and build the HTML book into ``<out>/_build/html`` (default: the
    repository root, i.e. ``_build/html``)."""
    build_dir = (out or root) / "_build"
    src = build_dir / "src"
    if src.exists():
        shutil.rmtree(src)
    execute(root, profile, src)
    return build_html(root, build_dir)


def build_html(root: Path, build_dir: Path) -> Path:
    """Jupyter Book over the executed notebooks in ``<build_dir>/src`` -> ``<build_dir>/html``."""
    src = build_dir / "src"
    shutil.copy(root / "_toc.yml", src / "_toc.yml")
    page = root_page(root)
    if not (src / page.with_suffix(".ipynb").name).is_file():    # not executed: the source
        text = page.read_text()
        smoke = "smoke" in built_profiles(src)              # every page of a smoke build says so
        (src / page.name).write_text(smoke_notice(text) if smoke else text)
    config = launch.book_config(yaml.safe_load((root / "_config.yml").read_text()),
                                launch.repository_url(root))
    config["execute"]["execute_notebooks"] = "off"
    config["exclude_patterns"] = ["_build", "**.ipynb_checkpoints"]
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = ["jupyter-book", "build", str(src), "--path-output", str(build_dir.parent), "-W",
           "-n", "--keep-going"]
    print("[book]", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return build_dir / "html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m posebook.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None, help=f"one of {list(profiles.PROFILES)}")
    parser.add_argument("--sync-notebooks", action="store_true")
    args = parser.parse_args(argv)
    root = repo()
    if args.sync_notebooks:
        for path in sync_notebooks(root):
            print("wrote", path.relative_to(root))
        return 0
    if args.profile:
        profiles.check_name(args.profile)
    start = time.time()
    html = build(root, args.profile)
    print(f"[book] built {html / 'index.html'} in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
