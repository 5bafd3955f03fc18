"""Refuse a papermill ``-p`` name that the notebook's parameters cell does not define.

Papermill injects ``-p`` values as a cell after the one tagged ``parameters``; a misspelt name
(``-p n_promts 10``) only gets a warning from papermill and is then a variable nobody reads, so
the run goes ahead with the default. In the kernel, IPython's ``In`` list holds the source of
each executed cell in order: the injected cell (it starts with papermill's ``# Parameters``
comment) and, just before it, the parameters cell, whose assigned names are the known ones.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from servegate.core.errors import ConfigError

__all__ = ["INJECTED_HEADER", "assigned_names", "check_injected_parameters"]

#: The first line of the cell papermill injects (``translate_parameters``' default comment).
INJECTED_HEADER = "# Parameters"


def assigned_names(source: str) -> list[str]:
    """The names a cell assigns at top level, in order (``x = 1``, ``x: int = 1``, ``a = b = 2``).

    A cell that is not valid Python (an IPython magic not yet transformed) assigns none.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def check_injected_parameters(
    namespace: Mapping[str, Any],  # the notebook's globals(): a boundary, any value
    also_known: Iterable[str] = (),
) -> None:
    """Raise ``ConfigError`` naming each injected parameter the parameters cell does not define.

    A no-op outside papermill: no ``In`` history, or no injected cell in it.

    :param namespace: the notebook's ``globals()``.
    :param also_known: names accepted besides the parameters cell's (e.g. the model's fields
        that the cell leaves at their defaults).
    """
    history = namespace.get("In")
    if not isinstance(history, list):
        return
    cells = [c for c in history if isinstance(c, str)]
    injected = [i for i, c in enumerate(cells) if c.lstrip().startswith(INJECTED_HEADER)]
    if not injected or injected[-1] == 0:
        return
    at = injected[-1]
    known = set(assigned_names(cells[at - 1])) | set(also_known)
    unknown = [n for n in assigned_names(cells[at]) if n not in known]
    if not unknown:
        return
    problems = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(known))}"
        problems.append(f"unknown parameter {name!r} ({hint})")
    raise ConfigError(
        "; ".join(problems) + ": the notebook would ignore it; fix the name passed with -p"
    )
