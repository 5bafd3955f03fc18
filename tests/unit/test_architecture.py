"""The package's layers, read from the source with ast (nothing imported): who may import whom.

Each subpackage of lib/servegate is a layer; a module may import only from its own layer or
lower ones, measure and server (siblings) never import each other, the import graph between
modules has no cycle, and every module belongs to a layer named below.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO

LIB = REPO / "lib"

#: Each subpackage's layer, bottom to top (servegate/__init__.py is core's, servegate/cli/ is
#: cli). A new subpackage must be added here on purpose, at the layer its docstring states.
LAYERS = {
    "core": 0,
    "records": 1,
    "measure": 2,
    "server": 2,
    "calibration": 3,
    "quality": 3,
    "runs": 4,
    "analysis": 5,
    "history": 6,
    "plots": 7,
    "report": 8,
    "jobs": 9,
    "cli": 10,
}
SIBLINGS = ("measure", "server")


@dataclass(frozen=True)
class Import:
    """One ``servegate`` import: the module it names, the line it is on, and whether it is lazy
    (inside a function or under ``if TYPE_CHECKING:``: it does not run when the module loads)."""

    target: str
    line: int
    lazy: bool = False


#: The package's facade (``servegate/__init__.py``, core's layer, imported by every layer for
#: ``__version__``) may name a higher layer, lazily only: ``from servegate import read_run``
#: imports the reader on first use, and ``import servegate`` loads nothing above core.
FACADE = "servegate"


def _lazy_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside a function or an ``if TYPE_CHECKING:`` block."""
    lazy: set[int] = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        checking = isinstance(test, ast.Name | ast.Attribute) and (
            getattr(test, "id", None) == "TYPE_CHECKING"
            or getattr(test, "attr", None) == "TYPE_CHECKING"
        )
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or checking:
            lazy |= {id(n) for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)}
    return lazy


def module_name(path: Path) -> str:
    """``lib/servegate/runs/reader.py`` -> ``servegate.runs.reader`` (a package: its name)."""
    parts = list(path.relative_to(LIB).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer of ``module``: its subpackage, or None when no layer is named for it."""
    parts = module.split(".")
    if parts == ["servegate"]:
        return "core"
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def collect_imports(source: str, module: str, *, is_package: bool, known: set[str]) -> list[Import]:
    """Every import of a ``servegate`` module in ``source``: at the top, in functions, under
    ``if TYPE_CHECKING:``, absolute or relative. ``from pkg import name`` counts as importing
    the module ``pkg.name`` when that is a module in ``known``, else ``pkg``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    tree = ast.parse(source)
    lazy = _lazy_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(a.name, node.lineno, id(node) in lazy) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append(Import(sub if sub in known else base, node.lineno, id(node) in lazy))
    ours = [i for i in found if i.target == "servegate" or i.target.startswith("servegate.")]
    return sorted(ours, key=lambda i: i.line)  # ast.walk goes breadth first; report in file order


def _scan() -> tuple[dict[str, Path], dict[str, list[Import]]]:
    paths = {module_name(p): p for p in sorted((LIB / "servegate").rglob("*.py"))}
    known = set(paths)
    imports = {
        m: collect_imports(p.read_text(), m, is_package=p.name == "__init__.py", known=known)
        for m, p in paths.items()
    }
    return paths, imports


PATHS, IMPORTS = _scan()


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle in ``graph`` as its path (first node repeated at the end), or None."""
    state: dict[str, str] = {}  # "open" while on the DFS path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _where(module: str, imp: Import) -> str:
    return f"{PATHS[module].relative_to(REPO)}:{imp.line} {module} imports {imp.target}"


# --- the rules -----------------------------------------------------------------------------------

#: Known breaks of the layer rule, each expected to fail until the lead fixes it (strict: the
#: test then passes, XPASS fails, and this entry must go).
#: Upward imports being fixed, each with why; empty when the layering holds.
KNOWN_UPWARD: dict[str, str] = {}


@pytest.mark.parametrize(
    "module",
    [
        pytest.param(m, marks=pytest.mark.xfail(strict=True, reason=KNOWN_UPWARD[m]))
        if m in KNOWN_UPWARD
        else m
        for m in sorted(PATHS)
    ],
)
def test_no_module_imports_from_a_higher_layer(module: str) -> None:
    own = layer_of(module)
    assert own is not None, f"{module} has no layer (see test_every_module_belongs_to_a_layer)"
    upward = [
        f"{_where(module, imp)}: {own} (layer {LAYERS[own]}) may not import {theirs} "
        f"(layer {LAYERS[theirs]})"
        for imp in IMPORTS[module]
        if (theirs := layer_of(imp.target)) is not None and LAYERS[theirs] > LAYERS[own]
        if not (module == FACADE and imp.lazy)
    ]
    assert not upward, "\n".join(upward)


def test_the_facade_names_higher_layers_lazily_only() -> None:
    eager = [
        _where(FACADE, imp)
        for imp in IMPORTS[FACADE]
        if not imp.lazy and layer_of(imp.target) not in (None, "core")
    ]
    assert not eager, "import servegate must stay cheap:\n" + "\n".join(eager)
    assert {layer_of(i.target) for i in IMPORTS[FACADE] if i.lazy} >= {"history", "runs"}
    done = subprocess.run(
        [sys.executable, "-c", "import servegate, sys; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(LIB)},
        timeout=60,
    )
    loaded = set(ast.literal_eval(done.stdout))
    assert "pandas" not in loaded and not {m for m in loaded if m.startswith("servegate.runs")}


def test_measure_and_server_never_import_each_other() -> None:
    crossing = [
        _where(m, imp)
        for m, imports in IMPORTS.items()
        for imp in imports
        if {layer_of(m), layer_of(imp.target)} == set(SIBLINGS)
    ]
    assert not crossing, "measure and server are siblings:\n" + "\n".join(crossing)


def test_the_import_graph_has_no_cycle() -> None:
    graph = {m: {i.target for i in imports if i.target != m} for m, imports in IMPORTS.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_module_belongs_to_a_layer() -> None:
    unknown = [str(PATHS[m].relative_to(REPO)) for m in PATHS if layer_of(m) is None]
    assert not unknown, (
        f"modules outside every layer: {unknown}; add their subpackage to LAYERS in "
        "tests/unit/test_architecture.py at the layer its docstring states"
    )
    layers_found = {layer_of(m) for m in PATHS}
    assert layers_found == set(LAYERS), (
        f"LAYERS names missing subpackages: {set(LAYERS) - layers_found}"
    )


def test_no_tracked_file_mentions_the_shared_folder_or_a_design_file() -> None:
    # Spelled in pieces, so this file does not mention them itself.
    needles = ("../" + "shared", "DESIGN" + ".md")
    try:
        listed = subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "-z"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout ({exc}): no tracked files to read")
    mentions = []
    for name in filter(None, listed.decode().split("\0")):
        path = REPO / name
        if path.is_file():
            data = path.read_bytes()
            mentions += [f"{name}: {n}" for n in needles if n.encode() in data]
    assert not mentions, "the repository stands alone:\n" + "\n".join(mentions)


# --- the checks check ----------------------------------------------------------------------------


def test_imports_in_functions_type_checking_and_relative_forms_are_collected() -> None:
    source = (
        "from __future__ import annotations\n"
        "import os, servegate.core.names\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from servegate.runs.reader import RunData\n"
        "from . import sibling\n"
        "from ..core import stats\n"
        "def f():\n"
        "    from servegate import plots\n"
    )
    known = {"servegate.plots", "servegate.core.stats", "servegate.analysis.sibling"}
    imports = collect_imports(source, "servegate.analysis.x", is_package=False, known=known)
    assert [(i.target, i.line, i.lazy) for i in imports] == [
        ("servegate.core.names", 2, False),
        ("servegate.runs.reader", 5, True),
        ("servegate.analysis.sibling", 6, False),
        ("servegate.core.stats", 7, False),
        ("servegate.plots", 9, True),
    ]


def test_the_cycle_finder_names_the_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"y"}, "y": {"y"}}) == ["y", "y"]
