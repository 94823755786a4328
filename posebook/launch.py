"""Where the book lives, and how a reader opens a chapter elsewhere (Colab, Binder, a bare kernel).

The book's repository URL has one home: ``repository.url`` in ``_config.yml`` (`repository_url`).
Everything that points at the repository is made from it:

- the first code cell of every chapter and of the root page (`install_cell`), which installs
  posebook where it is missing: from the checkout the notebook runs in (Binder, a clone whose
  package is not installed), else from the repository (Colab opens the notebook alone); where
  posebook imports, it does nothing.
  ``make notebooks`` writes it into every page (`write_install_cells`), a test checks it;
- the launch buttons of the built book (`book_config`): Binder, Colab and the repository button
  exist only when the URL is set, so a book built without one shows no dead buttons.

Binder builds its environment from ``environment.yml`` (CPU-only torch) and chapters start there
with the ``smoke`` profile (`posebook.profiles.DEFAULT_RULE`).
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

from . import paths

CONFIG = "_config.yml"
ENVIRONMENT = "environment.yml"   # Binder's (and conda's) environment
BINDERHUB_URL = "https://mybinder.org"
COLAB_URL = "https://colab.research.google.com"
# The install cell's source; {url!r} is the repository URL ("" = none set).
INSTALL_CELL = '''\
import importlib.util, pathlib, subprocess, sys
REPOSITORY = {url!r}  # _config.yml's repository.url, written here by `make notebooks`
if importlib.util.find_spec("posebook") is None:  # Colab, Binder, a kernel without posebook
    here = pathlib.Path.cwd()
    checkout = next((d for d in (here, *here.parents) if (d / "posebook" / "__init__.py").is_file()
                     and (d / "pyproject.toml").is_file()), None)
    if checkout is None and not REPOSITORY:
        raise RuntimeError("posebook is not installed, this notebook is not in its checkout, and "
                           "_config.yml names no repository.url to install it from")
    source = checkout.as_uri() if checkout else f"git+{{REPOSITORY}}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"posebook[book] @ {{source}}"],
                   check=True)
    importlib.invalidate_caches()  # the next cell imports posebook in this same kernel'''
# The first code cell of a MyST chapter (hidden input), whose body `write_install_cells` replaces.
FIRST_CELL = re.compile(r"(```\{code-cell\} ipython3\n:tags: \[hide-input\]\n)(.*?)(\n```\n)",
                        re.DOTALL)


def repository_url(root: Path) -> str:
    """``repository.url`` of ``<root>/_config.yml``, stripped; "" when it is unset or empty."""
    config = yaml.safe_load((root / CONFIG).read_text()) or {}
    url = str((config.get("repository") or {}).get("url") or "").strip()
    if url and not re.match(r"^(https?|file|ssh|git)://\S+$", url):
        raise ValueError(f"{root / CONFIG}: repository.url {url!r} is not a URL "
                         f"(expected e.g. https://github.com/you/posebook)")
    return url


def install_cell(url: str) -> str:
    """The source of every chapter's first cell for the repository `url` ("" = none)."""
    return INSTALL_CELL.format(url=url)


def write_install_cells(root: Path, chapters: list[Path]) -> list[Path]:
    """Rewrite the first cell of each chapter ``.md`` to `install_cell` of the configured URL;
    returns the files changed. A chapter without a hidden first code cell is an error."""
    cell = install_cell(repository_url(root))
    changed = []
    for md_path in chapters:
        text = md_path.read_text()
        match = FIRST_CELL.search(text)
        if match is None:
            raise ValueError(f"{md_path}: no first code cell tagged hide-input (the install cell)")
        if match.group(2) != cell:
            new = text[:match.start(2)] + cell + text[match.end(2):]
            paths.write_text_atomic(md_path, new)
            changed.append(md_path)
    return changed


def book_config(config: dict, url: str) -> dict:
    """`config` (a parsed ``_config.yml``) with the repository and launch buttons made from
    `url`: Binder, Colab and the repository button when it is set, none of them when it is not."""
    config = dict(config)
    html = dict(config.get("html") or {})
    if url:
        repository = {**(config.get("repository") or {}), "url": url}
        if str(repository.get("path_to_book", "")).strip("./") == "":
            repository.pop("path_to_book", None)    # "." would put /./ into every launch link
        config["repository"] = repository
        config["launch_buttons"] = {"notebook_interface": "classic",
                                    "binderhub_url": BINDERHUB_URL, "colab_url": COLAB_URL}
    else:
        config.pop("repository", None)
        config.pop("launch_buttons", None)
    html["use_repository_button"] = bool(url)
    config["html"] = html
    return config


@dataclasses.dataclass(frozen=True)
class BinderEnvironment:
    """``environment.yml`` as pip sees it: the Python version (``"3.11"``) and the pip
    requirement lines, the package itself (``.``) as an absolute path, ready for ``pip -r``."""
    python: str
    requirements: tuple[str, ...]


def binder_environment(root: Path) -> BinderEnvironment:
    """Binder's environment, read from ``<root>/environment.yml``."""
    env = yaml.safe_load((root / ENVIRONMENT).read_text())
    deps = env.get("dependencies", [])
    python = next((d.split("=", 1)[1] for d in deps if isinstance(d, str)
                   and d.startswith("python=")), "")
    pip_lines = next((d["pip"] for d in deps if isinstance(d, dict) and "pip" in d), [])
    if not python or not pip_lines:
        raise ValueError(f"{root / ENVIRONMENT}: expected python=X.Y and a pip: list")
    return BinderEnvironment(python, tuple(
        re.sub(r"(^-e |^)\.(\[|$)", lambda m: f"{m.group(1)}{root}{m.group(2)}", line)
        for line in pip_lines))
