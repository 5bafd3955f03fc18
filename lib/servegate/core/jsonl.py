"""One reader for the project's JSONL data files (prompt sets, quality checks): every line
checked, every bad line named, in one error.

A file is read whole, each non-blank line parsed as a JSON object and validated by a pydantic
model; ids must be unique. Nothing is returned until every line has been checked, so one
error lists every bad line (the first five quoted, the rest counted) with the file, the
1-based line numbers, the reasons and the fix. The sha256 of the exact bytes parsed goes with
the result, for run manifests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["JsonlFileError", "parse_line", "read_jsonl"]

_SHOWN = 5  # bad lines quoted in one error; the rest are counted


class JsonlFileError(Protocol):
    """An error class taking a message, the file and the bad lines (``PromptFileError``...)."""

    def __call__(
        self, message: str, *, path: str, problems: tuple[tuple[int, str], ...] = ()
    ) -> Exception: ...


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


M = TypeVar("M", bound=BaseModel)
T = TypeVar("T", bound=_HasId)


def parse_line(
    raw: bytes, model: type[M], reason: Callable[[Any], str]
) -> tuple[M | None, str]:  # JSON boundary: a line of the file
    """One non-blank line as ``model``, or ``None`` and why it is bad (``reason`` words each
    pydantic error; several are joined with "; ")."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte {exc.start + 1})"
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(data, dict):
        return None, f"expected a JSON object, got a JSON {type(data).__name__}"
    try:
        return model.model_validate(data), ""
    except ValidationError as exc:
        return None, "; ".join(reason(err) for err in exc.errors())


def read_jsonl(
    path: Path,
    parse: Callable[[bytes], tuple[T | None, str]],
    *,
    error: JsonlFileError,
    what: str,
    items: str,
    shape: str,
    fix: str,
    missing: Callable[[Path], str],
) -> tuple[tuple[T, ...], str]:
    """Every entry of the JSONL file at ``path`` in file order, and the sha256 of its bytes.

    :param parse: one line to its entry, or ``None`` and the reason (``parse_line``).
    :param error: the error class to raise (message, ``path=``, ``problems=``).
    :param what: the file's name in messages, e.g. "prompt file".
    :param items: what an entry is called, plural, e.g. "prompts".
    :param shape: one line's JSON shape, for the fix.
    :param fix: how else to get a good file, e.g. "or regenerate the set with ...".
    :param missing: the message for a file that does not exist (with the files there are).
    :raises: ``error`` for a missing or unreadable file, a bad line, or a file with no entry.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(missing(path), path=str(path)) from None
    except OSError as exc:
        raise error(
            f"{what} {path} cannot be read ({exc.strerror}); expected a JSONL file", path=str(path)
        ) from None
    found: list[T] = []
    problems: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        entry, reason = parse(raw)
        if entry is not None and entry.id in first_line:
            reason = f"duplicate id {entry.id!r} (also on line {first_line[entry.id]})"
        if entry is None or reason:
            problems.append((number, reason))
            continue
        first_line[entry.id] = number
        found.append(entry)
    if problems:
        shown = "; ".join(f"line {n}: {why}" for n, why in problems[:_SHOWN])
        more = f"; and {len(problems) - _SHOWN} more bad lines" if len(problems) > _SHOWN else ""
        raise error(
            f"{what} {path} has {len(problems)} bad line(s): {shown}{more}. Each line must "
            f"be one JSON object {shape}; fix the lines named, {fix}",
            path=str(path),
            problems=tuple(problems),
        )
    if not found:
        raise error(
            f"{what} {path} holds no {items} (it is empty or only blank lines); write one "
            f"JSON object {shape} per line, {fix}",
            path=str(path),
        )
    return tuple(found), hashlib.sha256(data).hexdigest()
