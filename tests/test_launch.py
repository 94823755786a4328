"""The book's repository URL lives in one place (`_config.yml`); every chapter's install cell and
the launch buttons are made from it; the install cell does nothing where posebook imports, installs
the checkout it runs in, or installs from a git URL (a local clone standing in for GitHub, as on
Colab) into a fresh environment whose same process then imports posebook; Binder's package list
resolves with CPU-only torch."""
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
import yaml

from posebook import book, launch

ROOT = book.repo()
CHAPTERS = book.toc_chapters(ROOT)
PAGES = [*CHAPTERS, book.root_page(ROOT)]    # every page is a notebook with launch buttons


@pytest.mark.parametrize("md_path", PAGES, ids=lambda p: p.stem)
def test_every_page_opens_with_the_configured_install_cell(md_path):
    nb = nbformat.read(md_path.with_suffix(".ipynb"), as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source == launch.install_cell(launch.repository_url(ROOT)), \
        "run `make notebooks` after changing _config.yml's repository.url"
    assert len(first.source.splitlines()) <= 15


def _book_root(tmp_path, url):
    (tmp_path / "chapters").mkdir()
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["repository"]["url"] = url
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    md = tmp_path / "chapters" / CHAPTERS[0].name
    shutil.copy(CHAPTERS[0], md)
    return md


def test_make_notebooks_writes_the_configured_url_into_the_install_cell(tmp_path):
    url = "https://github.com/someone/posebook"
    md = _book_root(tmp_path, url)
    assert launch.write_install_cells(tmp_path, [md]) == ([md] if launch.repository_url(ROOT) != url
                                                          else [])
    assert f"REPOSITORY = {url!r}" in md.read_text()
    assert launch.write_install_cells(tmp_path, [md]) == []        # written once, then in sync
    assert md.read_text().count("```{code-cell}") == CHAPTERS[0].read_text().count("```{code-cell}")


def test_a_url_that_is_no_url_is_one_clear_error(tmp_path):
    _book_root(tmp_path, "OWNER/posebook")
    with pytest.raises(ValueError, match=r"_config.yml: repository.url 'OWNER/posebook' is not a URL"):
        launch.repository_url(tmp_path)


def test_launch_buttons_exist_only_for_a_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    none = launch.book_config(config, "")
    assert "launch_buttons" not in none and "repository" not in none
    assert none["html"]["use_repository_button"] is False
    url = "https://github.com/someone/posebook"
    some = launch.book_config(config, url)
    assert some["repository"]["url"] == url and some["html"]["use_repository_button"] is True
    assert some["launch_buttons"]["binderhub_url"] and some["launch_buttons"]["colab_url"]
    assert some["repository"].get("path_to_book", "") in ("", None)   # links without "/./"
    assert "OWNER" not in json.dumps(none) + json.dumps(some)


def test_install_cell_does_nothing_where_posebook_imports(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"the install cell ran {args} although posebook imports")
    monkeypatch.setattr(subprocess, "run", refuse)
    exec(launch.install_cell("file:///nowhere/posebook.git"), {})


# --- a fresh environment, as Colab's kernel is before the first cell --------------------------
@pytest.fixture()
def venv(tmp_path):
    """A new venv whose interpreter sees this machine's installed packages (torch, pip, ...) on
    its path but not posebook: the system site-packages folders are added as plain paths, so the
    .pth file of an editable posebook there is never read. pip installs into the venv."""
    folder = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True,
                   timeout=300)
    python = folder / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    system = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(site) / "_system_packages.pth").write_text("\n".join(sorted(system)) + "\n")
    return python


def _run_cell(python: Path, url: str, cwd: Path) -> subprocess.CompletedProcess:
    """The install cell, then `import posebook`, in one process (one kernel) of `python`."""
    code = ("import importlib.util\nassert importlib.util.find_spec('posebook') is None\n" +
            launch.install_cell(url) + "\nimport posebook\nprint('POSEBOOK', posebook.__file__)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(python), "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def _imported_from(proc) -> Path:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.split("POSEBOOK", 1)[1].strip())


def test_fresh_venv_cannot_import_posebook_before_the_cell(venv, tmp_path):
    proc = _run_cell(venv, "", tmp_path)          # not in a checkout, no repository: one error
    assert proc.returncode != 0
    assert "RuntimeError: posebook is not installed, this notebook is not in its checkout" in proc.stderr


def _clone(tmp_path) -> Path:
    if not (ROOT / ".git").exists():
        pytest.skip(f"{ROOT} is not a git checkout")
    clone = tmp_path / "posebook"
    subprocess.run(["git", "clone", "-q", f"file://{ROOT}", str(clone)], check=True, timeout=120)
    return clone


@pytest.mark.slow
def test_colab_cell_installs_from_the_git_url_and_the_same_kernel_imports_it(venv, tmp_path):
    clone = _clone(tmp_path)          # stands in for GitHub; the kernel runs outside any checkout
    (tmp_path / "content").mkdir()
    # file://localhost/...: pip 23's requirement parser refuses a git+file:/// URL without a host
    where = _imported_from(_run_cell(venv, f"file://localhost{clone}", tmp_path / "content"))
    assert venv.parent.parent in where.parents, f"imported {where}, not the venv's install"


@pytest.mark.slow
def test_cell_installs_the_checkout_it_runs_in(venv, tmp_path):
    clone = _clone(tmp_path)          # Binder, or a clone whose package is not installed
    where = _imported_from(_run_cell(venv, "", clone / "chapters"))
    assert venv.parent.parent in where.parents and clone not in where.parents


# --- Binder ------------------------------------------------------------------------------------
def resolve(requirements: list[str], tmp_path: Path) -> dict:
    """pip's dry-run install report of `requirements`, resolved as on a machine with nothing
    installed (``--ignore-installed``). An index that cannot be reached is skipped at once."""
    listing = tmp_path / "requirements.txt"
    listing.write_text("\n".join(requirements) + "\n")
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                           "--retries", "0", "--quiet", "--report", str(report), "-r", str(listing)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"pip cannot resolve {requirements}:\n{proc.stderr[-3000:]}"
    return json.loads(report.read_text())


def test_binder_environment_pins_cpu_torch_and_installs_this_checkout(tmp_path):
    binder = launch.binder_environment(ROOT)
    assert re.fullmatch(r"3\.\d+", binder.python)
    assert any(re.fullmatch(r"torch==[\d.]+\+cpu", line) for line in binder.requirements)
    assert f"-e {ROOT}[book]" in binder.requirements
    (tmp_path / "environment.yml").write_text("dependencies: [python=3.11]\n")
    with pytest.raises(ValueError, match="environment.yml: expected python=X.Y and a pip: list"):
        launch.binder_environment(tmp_path)


def _reachable(url: str) -> bool:
    import urllib.request
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10).close()
        return True
    except (OSError, ValueError):
        return False


@pytest.mark.slow
def test_binder_environment_resolves_with_cpu_torch_and_no_cuda_wheel(tmp_path):
    binder = launch.binder_environment(ROOT)
    if binder.python != f"{sys.version_info.major}.{sys.version_info.minor}":
        pytest.skip(f"environment.yml asks for Python {binder.python}; this is {sys.version.split()[0]}")
    assert any(re.fullmatch(r"torchvision==[\d.]+\+cpu", line) for line in binder.requirements)
    requirements = list(binder.requirements)
    index = next((line.split()[-1] for line in requirements if "download.pytorch.org" in line), "")
    if not _reachable(index):
        # No PyTorch CPU index here: its torchvision +cpu wheel stands as PyPI's of the same
        # version, which depends on torch alone (the torch pin keeps +cpu: /opt/wheels has it).
        requirements = [re.sub(r"^(torchvision==[\d.]+)\+cpu$", r"\1", r) for r in requirements]
    installs = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                for item in resolve(requirements, tmp_path)["install"]}
    cuda = sorted(name for name in installs if name.startswith("nvidia-") or name == "triton")
    assert not cuda, f"Binder's environment pulls CUDA wheels: {cuda}"
    assert installs["torch"].endswith("+cpu"), installs["torch"]
    assert {"posebook", "torchvision", "jupyter-book", "papermill"} <= set(installs)


# --- README's ways in ----------------------------------------------------------------------------
def test_readme_test_commands_work_with_the_install_it_gives():
    tomllib = pytest.importorskip("tomllib")    # Python 3.11+
    readme = (ROOT / "README.md").read_text()
    for command in ('pip install -e ".[test]"', "pytest --nbmake chapters/", "make test-quick"):
        assert command in readme, f"README does not show {command}"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    test_packages = {re.split(r"[<>=\[ ]", req)[0] for req in extras["test"]}
    assert {"pytest", "nbmake", "posebook"} <= test_packages    # posebook[book]: papermill, ...
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r'^test-quick:.*\n\t\$\(PYTHON\) -m pytest -m "not slow"$', makefile, re.M)
