"""Turn another tool's per-request latency CSV into a run folder, so it joins the history.

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

import csv
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servegate import __version__
from servegate.core.environment import git_state
from servegate.core.errors import ImportFileError
from servegate.core.fsutil import (
    REPO_ROOT,
    atomic_write_json,
    atomic_write_text,
    sha256_file,
)
from servegate.core.names import (
    IMPORTED_SOURCE,
    REQUEST_COLUMNS,
    REQUESTS_CSV,
    RUN_JSON,
    RUN_SCHEMA_VERSION,
    STATUSES,
)
from servegate.core.paths import resolve_path
from servegate.records.level import LevelSamples, LevelSummary, summarize_level
from servegate.records.run import Manifest, RecordedParams, RunRecord
from servegate.runs.writer import new_run_id

__all__ = ["UNITS", "ImportResult", "import_latency_csv"]

#: Milliseconds per unit of the source's latency column.
UNITS = {"s": 1000.0, "ms": 1.0}
LEVEL = "imported"
#: Cells that mean "no value" in a latency column (pandas writes NaN as "" or "nan").
_BLANK = frozenset({"", "nan", "na", "n/a", "null", "none"})
#: Cells of an error column that mean "no error" (blank, or a false flag or zero code).
_NO_ERROR = _BLANK | {"false", "no", "0"}
_OK_WORDS = frozenset({"ok", "success", "succeeded", "successful", "pass", "passed", "true"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# A measured backend name would let the decision report take an import as its local or hosted
# run (report.select_runs picks the newest "vllm"/"openai" run), so those names stay measured-only.
_RESERVED_BACKENDS = ("vllm", "openai")


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote: the run folder, its id, and how many rows and failures it holds."""

    run_dir: Path
    run_id: str
    n_rows: int
    n_errors: int
    columns: dict[str, str]


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

    def fail(problem: str, fix: str, row: int | None = None) -> ImportFileError:
        return ImportFileError(f"{path}: {problem}; {fix}", path=str(path), row=row)

    _check_names(unit, backend, fail)
    created = _run_date(run_date, fail)
    run_id = new_run_id(label, backend, created)  # checks the label
    frame = _read(path, fail)
    columns = _columns(frame, latency_column, id_column, status_column, error_column, fail)
    ok, status, error = _statuses(frame, columns)
    e2e_ms = _latencies(frame[latency_column], UNITS[unit], ok, fail)
    digest = sha256_file(path)
    results_dir = resolve_path(results_dir)  # relative: under the project root, as every reader's
    _refuse_duplicate(results_dir, digest, fail)

    rows = _rows(frame, columns, backend, model, status, error, e2e_ms)
    source: dict[str, str | int] = {"path": str(path), "sha256": digest, "n_rows": len(rows)}
    names = {f"{k}_column": v for k, v in columns.items() if k != "latency"}
    params = {"backend": backend, "model": model, "run_label": label, "unit": unit, **names}
    params["latency_column"] = latency_column
    record = _record(run_id, created, params, source, _summary(status, error, e2e_ms))
    run_dir = _write(results_dir, run_id, record, rows, fail)
    return ImportResult(run_dir, run_dir.name, len(rows), int((~ok).sum()), columns)


def _check_names(unit: str, backend: str, fail: Any) -> None:
    """Refuse an unknown unit and a backend name that is reserved or unfit for a folder."""
    if unit not in UNITS:
        raise fail(f"unknown unit {unit!r}", f"pass --unit {' or --unit '.join(UNITS)}")
    if backend in _RESERVED_BACKENDS:
        raise fail(
            f"backend {backend!r} is reserved for runs servegate measured (the decision report "
            "would take this import for one)",
            f"name it apart, e.g. --backend poc-{backend}",
        )
    if not _NAME.match(backend):
        raise fail(
            f"backend {backend!r} is unfit for a folder name",
            "use 1-64 letters, digits, '.', '_' or '-', e.g. poc-vllm",
        )


def _rows(
    frame: pd.DataFrame,
    columns: dict[str, str],
    backend: str,
    model: str,
    status: list[str],
    error: list[str],
    e2e_ms: np.ndarray,
) -> list[dict[str, str | int | float]]:
    """requests.csv's rows: status, error and end-to-end time; the rest the source never had."""
    ids = frame[columns["id"]] if "id" in columns else pd.Series(range(1, len(frame) + 1))
    # Every other column stays empty: the source has no clock, queue, tokens or load level.
    return [
        {
            **dict.fromkeys(REQUEST_COLUMNS, ""),
            "backend": backend,
            "model": model,
            "prompt_id": str(pid).strip() or str(i + 1),
            "status": st,
            "error": err,
            "e2e_ms": "" if np.isnan(ms) else ms,
            "level": LEVEL,
            "seq": i,
        }
        for i, (pid, st, err, ms) in enumerate(zip(ids, status, error, e2e_ms, strict=True))
    ]


def _record(
    run_id: str,
    created: datetime,
    params: dict[str, str],
    source: dict[str, str | int],
    level: LevelSummary,
) -> RunRecord:
    """run.json of an import: where the file came from, how its columns were read, its level."""
    imported_at = datetime.now(UTC).replace(microsecond=0)
    return RunRecord(
        schema_version=RUN_SCHEMA_VERSION,
        servegate_version=__version__,
        git_commit=git_state(REPO_ROOT)["commit"],
        run_id=run_id,
        source=IMPORTED_SOURCE,
        state="complete",
        created_at=created,
        imported_at=imported_at,
        updated_at=imported_at,
        params=RecordedParams.model_validate(params),
        manifest=Manifest.model_validate(
            {
                "source": IMPORTED_SOURCE,
                "source_file": source,
                # The prompts are unknown. The file's hash, not "", stands in: "" would equal
                # every other import's and a skipped run's, while this matches only imports of
                # this file and never a measured run's prompt set, so nothing compares them by
                # accident.
                "prompt_set": {
                    "path": None,
                    "sha256": source["sha256"],
                    "note": "unknown: imported run",
                },
            }
        ),
        n_request_rows=level.n_requests,
        levels=[level],
    )


def _run_date(value: str | datetime | None, fail: Any) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise fail(
            f"run date {value!r} is not an ISO 8601 date or time", "use e.g. 2026-10-01T14:00Z"
        ) from None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).astimezone(UTC)


def _read(path: Path, fail: Any) -> pd.DataFrame:
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
    fail: Any,
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


def _latencies(text: pd.Series, scale: float, ok: np.ndarray, fail: Any) -> np.ndarray:
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


def _summary(status: list[str], error: list[str], e2e_ms: np.ndarray) -> LevelSummary:
    """run.json's level entry: statuses and end-to-end times; the rest was never measured."""
    samples = LevelSamples(
        status=np.array(status, dtype=object), error=np.array(error, dtype=object), e2e_ms=e2e_ms
    )
    # concurrency stays unknown: "1" would line the import up with measured c1 levels.
    return summarize_level(
        samples, level=LEVEL, concurrency=None, request_rate=None, timeout_s=None
    )


def _refuse_duplicate(results_dir: Path, digest: str, fail: Any) -> None:
    """A second import of one file would count its requests twice in the history."""
    for run_json in sorted(results_dir.glob(f"[!.]*/{RUN_JSON}")):  # not a crashed temp folder
        if digest in run_json.read_text(encoding="utf-8", errors="replace"):
            raise fail(
                f"this file (sha256 {digest[:12]}...) was already imported as {run_json.parent}",
                "delete that folder first to import it again",
            )


def _write(
    results_dir: Path,
    run_id: str,
    record: RunRecord,
    rows: list[dict[str, str | int | float]],
    fail: Any,
) -> Path:
    """Build the folder in a hidden temporary folder (list_runs skips it), then rename it."""
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=results_dir))
    except OSError as exc:
        raise fail(
            f"results_dir {results_dir} is not writable ({exc.strerror})",
            "pass --results-dir with a folder you can write to",
        ) from None
    try:
        base, n = run_id, 1
        while (results_dir / run_id).exists():  # two imports in one second: keep both
            n += 1
            run_id = f"{base}-{n}"
        for row in rows:
            row["run_id"] = run_id
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=REQUEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(tmp / REQUESTS_CSV, buffer.getvalue())
        saved = record.model_copy(update={"run_id": run_id})
        atomic_write_json(tmp / RUN_JSON, saved.model_dump(mode="json", exclude_unset=True))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a run folder is shared like others
        os.rename(tmp, results_dir / run_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return results_dir / run_id


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
