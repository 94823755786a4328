"""Imports point one way: the layer table in `posebook/__init__.py`'s docstring names every
module of the package, and no module imports from a higher layer or takes part in a cycle.

The check reads the source (ast), so lazy imports inside functions count as well."""
import ast
import re
from pathlib import Path

import posebook

ROOT = Path(posebook.__file__).parent

# Known upward imports, each with its reason; keep this list short and name the issue.
ALLOWED_UPWARD: set[tuple[str, str]] = set()


def layer_table() -> dict[str, int]:
    """{top-level module or package name: layer} from the package docstring."""
    rows = re.findall(r"^ +(\d) \w+ +(.+(?:\n {8,}\S.*)*)$", posebook.__doc__, re.M)
    table = {name: int(n) for n, names in rows for name in names.split()}
    assert len(table) == sum(len(names.split()) for _, names in rows), "a name listed twice"
    return table


def modules() -> dict[str, Path]:
    """{dotted name below posebook ('' for the package itself): file}."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: set) -> set[str]:
    """Modules of the package that `name` imports (dotted, below posebook)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            if not node.level:
                if not (node.module or "").startswith("posebook"):
                    continue
                module = module.removeprefix("posebook").strip(".")
            targets = [f"{module}.{a.name}".strip(".") for a in node.names]
            targets = [t if t in known else module for t in targets]
        else:
            continue
        for target in targets:
            target = target.removeprefix("posebook").strip(".")
            if target in known and target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    files = modules()
    return {name: imports(name, path, set(files)) for name, path in files.items() if name}


def test_layer_table_names_every_module_of_the_tree():
    top = {name.split(".")[0] for name in modules() if name}
    assert set(layer_table()) == top


def test_no_import_points_to_a_higher_layer():
    table = layer_table()
    layer = lambda module: table[module.split(".")[0]]  # noqa: E731
    upward = sorted((a, b) for a, deps in graph().items() for b in deps
                    if layer(b) > layer(a) and (a, b) not in ALLOWED_UPWARD)
    assert upward == [], f"upward imports (module -> higher-layer module): {upward}"
    still_needed = {(a, b) for a, b in ALLOWED_UPWARD if b in graph().get(a, set())}
    assert still_needed == ALLOWED_UPWARD, "an allowed upward import is gone: drop it above"


def test_no_import_cycle():
    deps, cycles, state = graph(), [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(deps[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(deps):
        if node not in state:
            visit(node, [node])
    assert cycles == [], f"import cycles: {cycles}"


def test_the_check_sees_imports_of_every_kind(tmp_path):
    """The parser finds relative, absolute, lazy and `from package import module` imports."""
    source = tmp_path / "m.py"
    source.write_text("from .. import camera\nfrom ..augment import gpu\nimport posebook.crop\n"
                      "def f():\n    from ..model.flip import views\n    from . import dataset\n")
    known = {"camera", "augment", "augment.gpu", "crop", "model", "model.flip", "data",
             "data.dataset"}
    assert imports("data.m", source, known) == {"camera", "augment.gpu", "crop", "model.flip",
                                                "data.dataset"}
