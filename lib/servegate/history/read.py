"""Reading the history CSV back as typed data: ``read_history``.

The frame has the dtypes declared in ``servegate.history.format.HISTORY_DTYPES``: counts
nullable ``Int64`` (``<NA>`` where empty, never turned into floats), figures ``float64`` (NaN
where empty, ``inf`` for a percentile among failed requests), ``incomplete`` nullable
``boolean``, ``run_date`` a UTC datetime, text ``string`` ("" where empty).

The file is trusted only after its version and header are checked: every row's
``schema_version`` must be ``HISTORY_SCHEMA_VERSION`` and the header exactly ``HISTORY_COLUMNS``.
The history is rebuilt from the run folders, so the fix for any other file is always the same:
``make aggregate``.
"""

from __future__ import annotations

import difflib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servegate.core.errors import HistoryError
from servegate.core.names import HISTORY_SCHEMA_VERSION
from servegate.core.paths import resolve_path
from servegate.history.format import HISTORY_COLUMNS, HISTORY_DTYPES

__all__ = ["DEFAULT_HISTORY_PATH", "parse_history", "read_history"]

DEFAULT_HISTORY_PATH = "eval/reports/aggregate_history.csv"
#: What to do with a history this servegate cannot read: it is made from the run folders.
FIX = "rebuild it with `make aggregate` (it is made from eval/results, nothing is lost)"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def read_history(path: str | Path = DEFAULT_HISTORY_PATH) -> pd.DataFrame:
    """The history CSV as a typed frame (see the module doc); relative paths are under the
    project root, as for ``make aggregate``.

    :param path: the history file, by default ``eval/reports/aggregate_history.csv``.
    :returns: one row per run and load level, columns ``HISTORY_COLUMNS`` with their dtypes.
    :raises HistoryError: when the file is missing or empty, of another version, has missing,
        extra or renamed columns, or a cell that is not of its column's type; the message names
        the file and says to rebuild it with ``make aggregate``.
    """
    path = resolve_path(path)
    if not path.is_file():
        raise HistoryError(
            f"history {path} not found; build it with `make aggregate` "
            "(servegate.history.aggregate.rebuild_history)"
        )
    try:
        return parse_history(path, str(path))
    except pd.errors.EmptyDataError:
        raise HistoryError(f"history {path} is empty; {FIX}") from None


def parse_history(source: str | Path | io.StringIO, name: str) -> pd.DataFrame:
    """Typed frame of a history CSV (``source``: a path or a text buffer; ``name`` for errors).

    :raises HistoryError: as ``read_history``.
    """
    text = pd.read_csv(source, dtype=str, keep_default_na=False)
    _check_version(text, name)
    _check_header(list(text.columns), name)
    return pd.DataFrame({c: _typed(text[c], c, dtype, name) for c, dtype in HISTORY_DTYPES.items()})


def _check_version(text: pd.DataFrame, name: str) -> None:
    """Every row must say this version; a file without the column is version 1."""
    if "schema_version" not in text.columns:
        raise HistoryError(
            f"history {name} has no schema_version column: it is history version 1, from an "
            f"older servegate; this servegate reads version {HISTORY_SCHEMA_VERSION}; {FIX}"
        )
    found = sorted(set(text["schema_version"]))
    if found and found != [str(HISTORY_SCHEMA_VERSION)]:
        newer = any(v.isdigit() and int(v) > HISTORY_SCHEMA_VERSION for v in found)
        by = "a newer servegate (or upgrade servegate)" if newer else "another servegate"
        raise HistoryError(
            f"history {name} is version {', '.join(map(repr, found))}, written by {by}; this "
            f"servegate reads version {HISTORY_SCHEMA_VERSION}; {FIX}"
        )


def _check_header(header: list[str], name: str) -> None:
    """The header must be ``HISTORY_COLUMNS``, in order; say what is missing, extra, renamed."""
    if header == list(HISTORY_COLUMNS):
        return
    missing = [c for c in HISTORY_COLUMNS if c not in header]
    extra = [c for c in header if c not in HISTORY_COLUMNS]
    renamed = [
        f"{close[0]!r} for {c!r}"
        for c in missing
        if (close := difflib.get_close_matches(c, extra, n=1, cutoff=0.6))
    ]
    detail = "; ".join(
        [f"missing {missing}"] * bool(missing)
        + [f"unexpected {extra}"] * bool(extra)
        + [f"renamed? {', '.join(renamed)}"] * bool(renamed)
    )
    raise HistoryError(
        f"history {name} does not have this servegate's {len(HISTORY_COLUMNS)} columns of "
        f"version {HISTORY_SCHEMA_VERSION} ({detail or 'same names, different order'}); {FIX}"
    )


def _fail(text: pd.Series, bad: pd.Series, column: str, expected: str, name: str) -> None:
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise HistoryError(
            f"history {name} line {i + 2}: column {column!r} must be {expected}, got "
            f"{text.iat[i]!r}; {FIX}"
        )


def _typed(text: pd.Series, column: str, dtype: str, name: str) -> pd.Series[Any]:
    """One column's text cells as ``dtype``; an empty cell is missing (text: "")."""
    as_dtype = pd.api.types.pandas_dtype(dtype)  # a dtype object: one typed astype for all
    empty = text == ""
    if dtype in ("Int64", "float64"):
        number = pd.to_numeric(text.where(~empty), errors="coerce").astype("float64")
        bad = ~empty & number.isna()
        if dtype == "Int64":
            bad |= number.notna() & ~(np.isfinite(number) & (number % 1 == 0))
        _fail(text, bad, column, "a whole number" if dtype == "Int64" else "a number", name)
        return number.astype(as_dtype)
    if dtype == "boolean":
        _fail(text, ~text.isin(["true", "false", ""]), column, "true or false", name)
        return text.map({"true": True, "false": False, "": None}).astype("boolean")
    if dtype.startswith("datetime64"):
        when = pd.to_datetime(text.where(~empty), format=_DATE_FORMAT, utc=True, errors="coerce")
        _fail(text, ~empty & when.isna(), column, "a UTC time like 2026-11-26T23:13:45Z", name)
        return when.astype(as_dtype)
    return text.astype(as_dtype)
