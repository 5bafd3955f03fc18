"""Turn another tool's per-request results into a run folder, so they join the history.

``import_tool_file`` (``servegate import --from vllm-bench|guidellm|aiperf``) reads a tool's
own file with that tool's reader in ``servegate.runs.imports``; ``import_latency_csv``
(``--from csv``, the default) reads a generic CSV, as below. Both write through
``servegate.runs.imports.folder.write_import``.

``import_latency_csv`` (``servegate import`` on the command line) reads any CSV with one row per
request and a latency column, for example a proof of concept's ``eval_results_*.csv``, and
writes ``<results_dir>/<run_id>/`` with ``requests.csv`` and ``run.json`` as the benchmark does,
marked ``source: "imported"``. The source has no clock, so only end-to-end latency and status are
known: TTFT, queue, tokens, throughput and the load level's concurrency are left empty (unknown)
rather than guessed. The level summary comes from ``servegate.records.level.latency_block``, the
benchmark's own code, so failed requests count as misses (``+inf``) exactly as in measured runs.

Rows: ``e2e_ms`` from the latency column (``unit`` ``"s"`` or ``"ms"``); status from an optional
status column (``ok``, ``success``, ``true``, HTTP 2xx ... are ok, servegate's own statuses are
kept, anything else is ``error``) and an optional error column (any text there but blank, nan,
null, false, no or 0 means ``error``).
Without either column every row is ``ok``. A failed row may have no latency (its time is
unknown; it counts as a miss anyway); a successful row must have one.

Bad input raises one ``ImportFileError`` naming the problem and the fix, and writes nothing: the
folder is built in a hidden temporary folder inside ``results_dir`` and renamed into place.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from servegate.core.fsutil import sha256_file
from servegate.core.names import STATUSES
from servegate.records.run import ImportSource
from servegate.runs.imports import aiperf, guidellm, vllm_bench
from servegate.runs.imports.folder import (
    Fail,
    ImportedTable,
    ImportResult,
    check_backend,
    failer,
    parse_run_date,
    write_import,
)

__all__ = ["TOOLS", "UNITS", "ImportResult", "import_latency_csv", "import_tool_file"]

#: Milliseconds per unit of the source's latency column.
UNITS = {"s": 1000.0, "ms": 1.0}
#: Cells that mean "no value" in a latency column (pandas writes NaN as "" or "nan").
_BLANK = frozenset({"", "nan", "na", "n/a", "null", "none"})
#: Cells of an error column that mean "no error" (blank, or a false flag or zero code).
_NO_ERROR = _BLANK | {"false", "no", "0"}
_OK_WORDS = frozenset({"ok", "success", "succeeded", "successful", "pass", "passed", "true"})
#: Each tool's reader: ``read(path, fail) -> ImportedTable`` (``servegate.runs.imports``).
_READERS = {"vllm-bench": vllm_bench.read, "guidellm": guidellm.read, "aiperf": aiperf.read}
#: What ``servegate import --from`` takes.
TOOLS = (*_READERS, "csv")


def import_tool_file(
    tool: str,
    path: str | Path,
    *,
    results_dir: str | Path = "eval/results",
    model: str = "",
    backend: str | None = None,
    label: str = "imported",
    ttft_comparable: bool = False,
    tool_version: str | None = None,
    run_date: str | datetime | None = None,
) -> ImportResult:
    """Write a run folder from a tool's saved per-request results (``servegate.runs.imports``).

    :param tool: ``vllm-bench``, ``guidellm`` or ``aiperf`` (a CSV: ``import_latency_csv``).
    :param backend: default the tool's name, so an import is compared only with imports of
        the same tool; never ``vllm``/``openai``, which belong to measured runs.
    :param ttft_comparable: the user vouches that the tool's TTFT is servegate's (first content
        token); recorded in run.json, and only then may a TTFT gate read it.
    :param run_date: when the tool ran; default the file's own date, else now.
    :raises ImportFileError: for a file that is not the tool's format, has no per-request
        data, is empty, or comes from a layout this reader does not know; a reserved backend;
        a file already imported into ``results_dir``. Nothing is written then.
    """
    path = Path(path)
    fail = failer(path)
    if tool not in _READERS:
        raise fail(f"unknown tool {tool!r}", f"pass --from {' or --from '.join(TOOLS)}")
    backend = backend or tool
    check_backend(backend, fail)
    created = parse_run_date(run_date, fail)
    if not path.is_file():
        raise fail("no such file", "check the path (relative paths start where you run servegate)")
    table = _READERS[tool](path, fail)
    table.source = table.source.model_copy(
        update={
            "path": str(path),
            "sha256": sha256_file(path),
            "ttft_comparable": ttft_comparable,
            "tool_version": table.source.tool_version or tool_version,
        }
    )
    table.params = {**table.params, "imported_from": tool}
    return write_import(
        table,
        path=path,
        results_dir=results_dir,
        model=model,
        backend=backend,
        label=label,
        run_date=created,
    )


def import_latency_csv(
    csv_path: str | Path,
    *,
    latency_column: str,
    unit: str,
    results_dir: str | Path = "eval/results",
    model: str = "",
    backend: str = "imported",
    label: str = "imported",
    id_column: str | None = None,
    status_column: str | None = None,
    error_column: str | None = None,
    run_date: str | datetime | None = None,
) -> ImportResult:
    """Write a run folder under ``results_dir`` from a per-request latency CSV (see module doc).

    :param latency_column: the column holding each request's end-to-end latency.
    :param unit: ``"s"`` or ``"ms"``, the latency column's unit.
    :param model: the model the source measured ("" when unknown).
    :param backend: a name for where the source measured; not ``vllm``/``openai``, which belong
        to measured runs, so an import is only ever compared with imports of the same backend.
    :param id_column: column of prompt ids; default the 1-based row number.
    :param status_column, error_column: columns that say which requests failed; default the
        columns named ``status`` and ``error`` when the file has them, ``""`` for none.
    :param run_date: when the source ran (ISO 8601, UTC unless a zone is given); default now,
        as the file does not say.
    :returns: an ``ImportResult``.
    :raises ImportFileError: for a missing or unreadable file, an unknown column or unit, a
        latency that is not a non-negative number, a successful row without a latency, no rows,
        a reserved backend, or a file already imported into ``results_dir``.
    :raises ConfigError: for a label unfit for a run id (``runrecord.new_run_id``).
    """
    path = Path(csv_path)
    fail = failer(path)
    _check_names(unit, backend, fail)
    created = parse_run_date(run_date, fail)
    frame = _read(path, fail)
    columns = _columns(frame, latency_column, id_column, status_column, error_column, fail)
    ok, status, error = _statuses(frame, columns)
    e2e_ms = _latencies(frame[latency_column], UNITS[unit], ok, fail)
    names = {f"{k}_column": v for k, v in columns.items() if k != "latency"}
    ids = list(frame[columns["id"]]) if "id" in columns else None
    table = ImportedTable(
        source=ImportSource(
            path=str(path),
            sha256=sha256_file(path),
            tool="csv",
            e2e_definition=f"column {latency_column!r} in {unit}",
        ),
        status=status,
        error=error,
        e2e_ms=e2e_ms,
        prompt_id=[str(i) for i in ids] if ids is not None else None,
        params={"unit": unit, **names, "latency_column": latency_column},
    )
    return write_import(
        table,
        path=path,
        results_dir=results_dir,
        model=model,
        backend=backend,
        label=label,
        run_date=created,
        columns=columns,
    )


def _check_names(unit: str, backend: str, fail: Fail) -> None:
    """Refuse an unknown unit and a backend name that is reserved or unfit for a folder."""
    if unit not in UNITS:
        raise fail(f"unknown unit {unit!r}", f"pass --unit {' or --unit '.join(UNITS)}")
    check_backend(backend, fail)


def _read(path: Path, fail: Fail) -> pd.DataFrame:
    if not path.is_file():
        raise fail("no such file", "check the path (relative paths start where you run servegate)")
    try:
        # Text, not numbers: a bad latency must be reported as written, not as pandas' NaN.
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise fail(
            "the file is empty", "export it again with a header and one row per request"
        ) from None
    except UnicodeDecodeError:
        raise fail("is not UTF-8 text", "save it as UTF-8 CSV") from None
    except (pd.errors.ParserError, OSError) as exc:
        raise fail(f"cannot be read as CSV ({exc})", "fix the file or export it again") from None
    if frame.empty:
        raise fail("has a header but no rows", "import a file with one row per request")
    return frame


def _columns(
    frame: pd.DataFrame,
    latency: str,
    id_column: str | None,
    status: str | None,
    error: str | None,
    fail: Fail,
) -> dict[str, str]:
    """Role -> column name, each checked; status/error default to columns of those names."""
    wanted = {"latency": latency, "id": id_column, "status": status, "error": error}
    for role in ("status", "error"):
        if wanted[role] is None and role in frame.columns:
            wanted[role] = role  # a failure column left out by mistake would hide failures
    columns = {role: name for role, name in wanted.items() if name}
    for role, name in columns.items():
        if name not in frame.columns:
            raise fail(
                f"no column {name!r} (asked for as the {role} column)",
                f"use one of the file's columns: {', '.join(map(repr, frame.columns))}",
            )
    return columns


def _statuses(
    frame: pd.DataFrame, columns: dict[str, str]
) -> tuple[np.ndarray, list[str], list[str]]:
    """(ok flags, servegate status, error text) per row, from the status and error columns."""
    n = len(frame)
    status, error = ["ok"] * n, [""] * n
    if "status" in columns:
        for i, raw in enumerate(frame[columns["status"]]):
            word = str(raw).strip().lower()
            if word in _OK_WORDS or (word.isdigit() and 200 <= int(word) < 300):
                continue
            status[i] = word if word in STATUSES else "error"
            error[i] = f"source status {str(raw).strip()!r}" if word else "no status in the source"
    if "error" in columns:
        for i, raw in enumerate(frame[columns["error"]]):
            text = " ".join(str(raw).split())  # one line, as the benchmark's error cells are
            if text.lower() not in _NO_ERROR:
                status[i] = "error" if status[i] == "ok" else status[i]
                error[i] = text
    return np.array([s == "ok" for s in status]), status, error


def _latencies(text: pd.Series, scale: float, ok: np.ndarray, fail: Fail) -> np.ndarray:
    """Latencies in ms (NaN where a failed row has none), rounded to the microsecond."""
    cells = text.astype(str).str.strip()
    blank = cells.str.lower().isin(_BLANK).to_numpy()
    number = pd.to_numeric(cells.where(~blank), errors="coerce").to_numpy(dtype=float)

    def first(mask: np.ndarray, problem: str, fix: str) -> None:
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            more = int(mask.sum()) - 1
            also = f" ({more} more row(s) like it)" if more else ""
            raise fail(
                f"column {text.name!r} row {i + 1} (line {i + 2}) {problem}, got "
                f"{text.iat[i]!r}{also}",
                fix,
                row=i + 1,
            )

    first(~blank & ~np.isfinite(number), "is not a finite number", "fix or remove that row")
    first(number < 0, "is negative", "latencies are durations: fix the row or the column")
    first(
        blank & ok,
        "is empty but the request succeeded",
        "give its latency, or mark it failed with --status-column/--error-column",
    )
    return np.round(number * scale, 3)
