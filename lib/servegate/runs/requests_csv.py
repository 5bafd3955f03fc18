"""requests.csv of a run folder read back: typed columns, torn or edited rows refused, levels
rebuilt from rows when run.json has no summary.

``read_requests`` trusts requests.csv only after it is checked: it must have exactly the header
``servegate.core.names.REQUEST_COLUMNS``, a whole last line, numbers where numbers belong and a
known status on every row; anything else raises ``RunFolderError`` naming the folder, the file,
the line and the fix. ``reconcile_levels`` checks the rows against run.json's level counts.

A run killed with SIGKILL keeps ``state: "running"`` in run.json while requests.csv holds every
request that finished: a torn last row (a write cut by the kill) is dropped with a note, and
each level that has rows but no summary in run.json is summarized again from requests.csv.

An imported run (run.json ``source: "imported"``, written by ``servegate.runs.importer`` from
another tool's CSV) has only statuses and end-to-end times: its queue, due and end times are
empty, as is the end-to-end time of a failed request whose source gave none.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servegate.core.errors import RunFolderError, StatsInputError
from servegate.core.names import (
    IMPORTED_SOURCE,
    REQUEST_COLUMNS,
    REQUEST_DTYPES,
    REQUESTS_CSV,
    STATUSES,
)
from servegate.records.level import LevelSamples, LevelSummary, summarize_level
from servegate.records.run import RunRecord

__all__ = [
    "FIX_EDITED",
    "FLOAT_COLUMNS",
    "IMPORTED_REQUIRED_COLUMNS",
    "INT_COLUMNS",
    "REQUIRED_COLUMNS",
    "read_requests",
    "reconcile_levels",
]

log = logging.getLogger(__name__)

#: requests.csv columns parsed as floats (ms, s, req/s) and as whole numbers (``REQUEST_DTYPES``).
FLOAT_COLUMNS = tuple(c for c, t in REQUEST_DTYPES.items() if t == "float64")
INT_COLUMNS = tuple(c for c, t in REQUEST_DTYPES.items() if t == "Int64")
#: Columns the writer always fills, on every row, failures included.
REQUIRED_COLUMNS = ("run_id", "status", "level", "queue_ms", "e2e_ms", "due_s", "end_s")
#: An imported run's source had no clock and no queue: only these are always there.
IMPORTED_REQUIRED_COLUMNS = ("run_id", "status", "level")

#: The fix named when a run folder's files disagree with what the run wrote.
FIX_EDITED = (
    "the file was edited or damaged after the run; restore it from a copy, or delete the "
    "run folder and run the benchmark again"
)


# --- requests.csv -----------------------------------------------------------------------------


def _empty_requests() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: pd.Series([], dtype=object) for c in REQUEST_COLUMNS}), [])


def read_requests(run_dir: Path, record: RunRecord) -> tuple[pd.DataFrame, list[str]]:
    """requests.csv of ``run_dir`` as a typed frame, and notes on what was repaired.

    ``record`` is the validated run.json (``state``, ``run_id``, ``source``). A skipped run may
    have no requests.csv (an empty frame); a running one (killed) loses a torn last row, with a
    note. Columns are ``servegate.core.names.REQUEST_COLUMNS``: floats (NaN where empty), nullable
    ``Int64`` counts, strings ("" where empty).

    :raises RunFolderError: when the file is missing, not UTF-8, not CSV, or edited (wrong
        header, torn row, text where a number belongs, unknown status, another run's rows).
    """
    path = run_dir / REQUESTS_CSV
    state = record.state

    def fail(problem: str, line: int | None = None, fix: str = FIX_EDITED) -> RunFolderError:
        where = f"{path} line {line}" if line else str(path)
        return RunFolderError(
            f"{where}: {problem}; {fix}", run_dir=str(run_dir), file=REQUESTS_CSV, line=line
        )

    if not path.is_file():
        if state == "skipped":
            return _empty_requests(), []
        raise fail(
            "requests.csv is missing",
            fix="the run folder is incomplete; delete it and run the benchmark again",
        )
    text = _read_text(path, fail)
    reader = csv.reader(io.StringIO(text, newline=""))
    _check_header(reader, fail)
    rows, lines, notes = _rows(reader, torn=not text.endswith("\n"), state=state, fail=fail)
    if notes:
        log.warning("%s: %s", run_dir, notes[-1])
    frame = pd.DataFrame(rows, columns=list(REQUEST_COLUMNS), dtype=object)
    imported = record.source == IMPORTED_SOURCE
    frame = _typed(frame, lines, fail, IMPORTED_REQUIRED_COLUMNS if imported else REQUIRED_COLUMNS)
    bad_id = frame.index[frame["run_id"] != record.run_id]
    if len(bad_id):
        i = int(bad_id[0])
        raise fail(
            f"run_id is {frame.at[i, 'run_id']!r}, but run.json says {record.run_id!r} "
            "(rows from another run were pasted in)",
            lines[i],
        )
    return frame, notes


def _read_text(path: Path, fail: Any) -> str:
    """The file's text; an unreadable, non-UTF-8 or empty file is refused."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise fail("is not UTF-8 text", line) from None
    except OSError as exc:
        raise fail(f"cannot be read ({exc.strerror})") from None
    if not text:
        raise fail("is empty, not even a header")
    return text


def _check_header(reader: Iterator[list[str]], fail: Any) -> None:
    """The header must be exactly ``REQUEST_COLUMNS``, in order."""
    try:
        header = next(reader)
    except csv.Error as exc:
        raise fail(f"the header cannot be parsed ({exc})", 1) from None
    if header != list(REQUEST_COLUMNS):
        missing = [c for c in REQUEST_COLUMNS if c not in header]
        extra = [c for c in header if c not in REQUEST_COLUMNS]
        parts = [f"missing {missing}"] * bool(missing) + [f"unexpected {extra}"] * bool(extra)
        detail = "; ".join(parts)
        raise fail(
            f"the header must be exactly servegate's {len(REQUEST_COLUMNS)} request columns "
            f"({detail or 'same names, different order'})",
            1,
        )


def _rows(
    reader: Any, *, torn: bool, state: str, fail: Any
) -> tuple[list[list[str]], list[int], list[str]]:
    """Every whole row with its line number, and notes on what was repaired.

    A last row without a line end is refused, unless the run is still ``running`` (killed by
    SIGKILL mid-write): then that one row is dropped with a note.
    """
    rows: list[list[str]] = []
    lines: list[int] = []
    notes: list[str] = []
    end_line = 1
    try:
        for fields in reader:
            start_line, end_line = end_line + 1, reader.line_num
            rows.append(fields)
            lines.append(start_line)
    except csv.Error as exc:
        raise fail(f"cannot be parsed as CSV ({exc})", end_line + 1) from None
    if torn and rows:
        if state != "running":
            raise fail(
                f"the last line is cut mid-row (no line end; {len(rows[-1])} of "
                f"{len(REQUEST_COLUMNS)} fields), so the file was truncated",
                lines[-1],
            )
        # A SIGKILL can land in the middle of a row's write: drop that row, keep the rest.
        notes.append(f"requests.csv line {lines[-1]} was cut mid-row by the kill and was dropped")
        rows.pop()
        lines.pop()
    for fields, line in zip(rows, lines, strict=True):
        if len(fields) != len(REQUEST_COLUMNS):
            raise fail(
                f"has {len(fields)} fields, expected {len(REQUEST_COLUMNS)} "
                "(a row cut short, or a stray comma or line break)",
                line,
            )
    return rows, lines, notes


def _typed(
    frame: pd.DataFrame,
    lines: list[int],
    fail: Any = None,
    required: tuple[str, ...] = REQUIRED_COLUMNS,
) -> pd.DataFrame:
    """Validate and convert requests.csv's text cells; ``fail(problem, line)`` makes the error."""
    out = pd.DataFrame(index=frame.index)

    def first_bad(mask: pd.Series, column: str, expected: str) -> None:
        if mask.any():
            i = int(np.flatnonzero(mask.to_numpy())[0])
            others = int(mask.sum()) - 1
            more = f" ({others} more row(s) like it)" if others else ""
            raise fail(
                f"column {column!r} {expected}, got {frame[column].iat[i]!r}{more}", lines[i]
            )

    for column in required:
        first_bad(frame[column] == "", column, "must not be empty")
    for column in REQUEST_COLUMNS:
        text = frame[column]
        if column in FLOAT_COLUMNS or column in INT_COLUMNS:
            number = pd.to_numeric(text.where(text != ""), errors="coerce").astype(float)
            first_bad((text != "") & ~np.isfinite(number), column, "must be a finite number")
            if column in INT_COLUMNS:
                first_bad(number.notna() & (number % 1 != 0), column, "must be a whole number")
                out[column] = number.astype("Int64")
            else:
                out[column] = number
        else:
            out[column] = text.astype(str)
    first_bad(~out["status"].isin(STATUSES), "status", f"must be one of {list(STATUSES)}")
    return out


# --- levels -----------------------------------------------------------------------------------


def reconcile_levels(run_dir: Path, record: RunRecord, frame: pd.DataFrame) -> list[LevelSummary]:
    """Check run.json's levels against the rows; summarize levels that only have rows.

    Returns the summaries, rebuilt from ``frame``, of levels with rows but no summary in
    ``record`` (see ``RunData.recomputed_levels`` in ``servegate.runs.reader``).

    :raises RunFolderError: when a level's row count, or the run's, disagrees with run.json, or
        a level's rows cannot be summarized.
    """
    counts = frame.groupby("level", sort=False).size()
    summarized = {level.level: level for level in record.levels}
    for name, level in summarized.items():
        found = int(counts.get(name, 0))
        if found != level.n_requests:
            raise RunFolderError(
                f"{run_dir / REQUESTS_CSV}: level {name!r} has {found} rows but run.json counts "
                f"{level.n_requests} requests; {FIX_EDITED}",
                run_dir=str(run_dir),
                file=REQUESTS_CSV,
            )
    expected = record.n_request_rows
    if expected is not None and record.state != "running" and expected != len(frame):
        raise RunFolderError(
            f"{run_dir / REQUESTS_CSV}: has {len(frame)} rows but run.json says the run wrote "
            f"{expected}; {FIX_EDITED}",
            run_dir=str(run_dir),
            file=REQUESTS_CSV,
        )
    timeout_s = record.params.timeout_s
    recomputed = []
    for name in counts.index:
        if name not in summarized:
            rows = frame[frame["level"] == name]
            try:
                recomputed.append(_summarize_rows(str(name), rows, timeout_s))
            except StatsInputError as exc:
                raise RunFolderError(
                    f"{run_dir / REQUESTS_CSV}: level {name!r} cannot be summarized ({exc}); "
                    f"{FIX_EDITED}",
                    run_dir=str(run_dir),
                    file=REQUESTS_CSV,
                ) from None
    if recomputed:
        log.info(
            "%s: level(s) %s have no summary in run.json; recomputed from requests.csv",
            run_dir,
            [lv.level for lv in recomputed],
        )
    return recomputed


def _first(series: pd.Series, kind: type) -> Any:
    present = series.dropna()
    return kind(present.iloc[0]) if len(present) else None


def _summarize_rows(name: str, rows: pd.DataFrame, timeout_s: float | None) -> LevelSummary:
    """The summary of a level that only has rows (the run stopped before summarizing it)."""
    return summarize_level(
        LevelSamples.from_frame(rows),
        level=name,
        concurrency=_first(rows["concurrency"], int),
        request_rate=_first(rows["request_rate"], float),
        timeout_s=timeout_s,
        aborted="run stopped before this level ended",
        recomputed_from=REQUESTS_CSV,
    )
