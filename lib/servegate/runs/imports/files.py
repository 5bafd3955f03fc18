"""Reading a tool's saved file: JSON or JSON lines, with one clear error for each bad input."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from servegate.runs.imports.folder import Fail

__all__ = [
    "level_of",
    "numbers",
    "one_line",
    "read_json",
    "read_jsonl",
    "seconds_to_ms",
    "tool_summary",
    "utc_from_unix",
]

#: An error cell of requests.csv holds at most this many characters (docs/contracts.md).
_ERROR_CHARS = 300


def _text(path: Path, fail: Fail, fix: str) -> str:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise fail("is not UTF-8 text", fix) from None
    except OSError as exc:
        raise fail(
            f"cannot be read ({exc.strerror})", "check the path and its permissions"
        ) from None
    if not text.strip():
        raise fail("the file is empty", fix)
    return text


def read_json(path: Path, fail: Fail, fix: str) -> Any:  # JSON boundary: the tool's file
    """The file's JSON value; ``fix`` says how to save the file again."""
    try:
        return json.loads(_text(path, fail, fix))
    except json.JSONDecodeError as exc:
        raise fail(f"is not JSON ({exc.msg} at line {exc.lineno})", fix) from None


def read_jsonl(path: Path, fail: Fail, fix: str) -> list[Any]:  # JSON boundary: the tool's file
    """One JSON value per non-blank line."""
    out = []
    for n, line in enumerate(_text(path, fail, fix).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise fail(f"line {n} is not JSON ({exc.msg})", fix, row=n) from None
    return out


def one_line(text: object) -> str:
    """An error message as requests.csv keeps it: one line, at most 300 characters."""
    return " ".join(str(text).split())[:_ERROR_CHARS]


def seconds_to_ms(values: list[Any]) -> np.ndarray:
    """Seconds (None or not a number: NaN) as ms, rounded to the microsecond."""
    return np.round(np.array([_number(v) for v in values], dtype=float) * 1000.0, 3)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def numbers(values: list[Any]) -> np.ndarray:
    """Numbers as floats; None or not a number is NaN."""
    return np.array([_number(v) for v in values], dtype=float)


def level_of(concurrency: Any, rate: Any) -> tuple[str, int | None, float | None] | None:
    """servegate's level (``c<N>`` closed loop, ``r<rate>`` open loop) from a tool's load, or
    None when the load is neither one fixed concurrency nor one fixed rate."""
    c = _number(concurrency)
    r = _number(rate)
    has_c = math.isfinite(c) and c >= 1 and c.is_integer()
    has_r = math.isfinite(r) and r > 0
    if has_c and not has_r:
        return f"c{int(c)}", int(c), None
    if has_r and not has_c:
        return f"r{r:g}", None, r
    return None


def tool_summary(values: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a tool's own summary, by name (what the import is checked on)."""
    return {k: float(v) for k, v in values.items() if math.isfinite(_number(v))}


def utc_from_unix(seconds: Any) -> datetime | None:
    """A Unix time as an aware UTC datetime; None when it is not a plausible one."""
    value = _number(seconds)
    if not math.isfinite(value) or value <= 0:
        return None
    return datetime.fromtimestamp(value, tz=UTC)
