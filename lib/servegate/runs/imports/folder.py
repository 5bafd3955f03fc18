"""The one writer of an imported run folder, shared by the CSV import and each tool's reader.

A reader turns its file into an ``ImportedTable`` (one entry per request, in the file's order,
each figure in the tool's own definition); ``write_import`` turns the table into
``<results_dir>/<run_id>/`` with ``requests.csv`` and ``run.json`` as the benchmark does,
marked ``source: "imported"``. A figure the tool did not save stays empty (unknown), never
guessed. The level summary comes from ``servegate.records.level.summarize_level``, the
benchmark's own code, so failed requests count as misses (``+inf``) exactly as in measured runs.

Nothing is half-written: the folder is built in a hidden temporary folder inside
``results_dir`` (``list_runs`` skips it) and renamed into place.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from servegate import __version__
from servegate.core.environment import servegate_commit
from servegate.core.errors import ImportFileError
from servegate.core.fsutil import atomic_write_json, atomic_write_text
from servegate.core.names import (
    IMPORTED_SOURCE,
    REQUEST_COLUMNS,
    REQUESTS_CSV,
    RUN_JSON,
    RUN_SCHEMA_VERSION,
)
from servegate.core.paths import resolve_path
from servegate.records.level import LevelSamples, LevelSummary, summarize_level
from servegate.records.run import ImportSource, Manifest, RecordedParams, RunRecord
from servegate.runs.writer import new_run_id

__all__ = [
    "IMPORTED_LEVEL",
    "Fail",
    "ImportResult",
    "ImportedTable",
    "check_backend",
    "failer",
    "parse_run_date",
    "write_import",
]

#: The level of an import whose file does not say its load (a CSV has no load).
IMPORTED_LEVEL = "imported"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# A measured backend name would let the decision report take an import as its local or hosted
# run (report.select_runs picks the newest "vllm"/"openai" run), so those names stay measured-only.
_RESERVED_BACKENDS = ("vllm", "openai")

#: ``fail(problem, fix, row=None)``: the one error of a bad input, naming the file.
Fail = Callable[..., ImportFileError]


def failer(path: Path) -> Fail:
    """``fail(problem, fix)``: an ``ImportFileError`` that names ``path``, the problem, the fix."""

    def fail(problem: str, fix: str, row: int | None = None) -> ImportFileError:
        return ImportFileError(f"{path}: {problem}; {fix}", path=str(path), row=row)

    return fail


@dataclass
class ImportedTable:
    """One imported file's requests as columns (one entry per request, the file's order).

    ``None`` is a figure the tool did not save; NaN one request's missing cell. ``due_s`` and
    ``end_s`` are seconds from the first request's start on the tool's clock.
    """

    source: ImportSource
    status: list[str]
    error: list[str]
    e2e_ms: np.ndarray
    prompt_id: list[str] | None = None
    ttft_ms: np.ndarray | None = None
    queue_ms: np.ndarray | None = None
    input_tokens: np.ndarray | None = None
    output_tokens: np.ndarray | None = None
    due_s: np.ndarray | None = None
    end_s: np.ndarray | None = None
    level: str = IMPORTED_LEVEL
    concurrency: int | None = None
    request_rate: float | None = None
    #: the source's parameters, recorded in run.json's params (a CSV's column names, ...)
    params: dict[str, str] = field(default_factory=dict)
    #: when the tool ran, if the file says; ``--run-date`` wins
    created_at: datetime | None = None
    #: the model the file names, if any; ``--model`` wins
    model: str = ""


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote: the run folder, its id, and how many rows and failures it holds."""

    run_dir: Path
    run_id: str
    n_rows: int
    n_errors: int
    columns: dict[str, str]
    source: ImportSource | None = None


def check_backend(backend: str, fail: Fail) -> None:
    """Refuse a backend name that is reserved for measured runs or unfit for a folder."""
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


def parse_run_date(value: str | datetime | None, fail: Fail) -> datetime | None:
    """``--run-date`` as an aware UTC time (UTC unless a zone is given); None when not given."""
    if value is None:
        return None
    try:
        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise fail(
            f"run date {value!r} is not an ISO 8601 date or time", "use e.g. 2026-10-01T14:00Z"
        ) from None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).astimezone(UTC)


def write_import(
    table: ImportedTable,
    *,
    path: Path,
    results_dir: str | Path,
    model: str,
    backend: str,
    label: str,
    run_date: datetime | None,
    columns: dict[str, str] | None = None,
) -> ImportResult:
    """Write the run folder of ``table`` (see the module doc) and say what was written.

    :param run_date: when the source ran; default the file's own date, else now.
    :raises ImportFileError: for a file already imported into ``results_dir`` or a folder that
        cannot be written.
    :raises ConfigError: for a label unfit for a run id (``runs.writer.new_run_id``).
    """
    fail = failer(path)
    created = run_date or table.created_at or datetime.now(UTC)
    run_id = new_run_id(label, backend, created)  # checks the label
    results_dir = resolve_path(results_dir)  # relative: under the project root, as every reader's
    digest = table.source.sha256 or ""
    _refuse_duplicate(results_dir, digest, fail)
    model = model or table.model
    rows = _rows(table, backend, model)
    # Validated again so every field counts as set: run.json is dumped with exclude_unset.
    given = {k: v for k, v in table.source.model_dump().items() if v is not None}
    source = ImportSource.model_validate({**given, "n_rows": len(rows)})
    params = {"backend": backend, "model": model, "run_label": label, **table.params}
    record = _record(run_id, created, params, source, _summary(table))
    run_dir = _write(results_dir, run_id, record, rows, fail)
    n_errors = sum(s != "ok" for s in table.status)
    return ImportResult(run_dir, run_dir.name, len(rows), n_errors, columns or {}, source)


def _cell(values: np.ndarray | None, i: int, *, whole: bool = False) -> str | int | float:
    """One cell of requests.csv: empty for a figure the tool did not save or a NaN."""
    if values is None or np.isnan(values[i]):
        return ""
    return int(values[i]) if whole else float(values[i])


def _rows(table: ImportedTable, backend: str, model: str) -> list[dict[str, str | int | float]]:
    """requests.csv's rows; every column the tool never had stays empty."""
    ids = table.prompt_id or [str(i + 1) for i in range(len(table.status))]
    tool = table.source.tool
    tokens = table.input_tokens is not None or table.output_tokens is not None
    return [
        {
            **dict.fromkeys(REQUEST_COLUMNS, ""),
            "backend": backend,
            "model": model,
            "concurrency": "" if table.concurrency is None else table.concurrency,
            "request_rate": "" if table.request_rate is None else table.request_rate,
            "prompt_id": str(pid).strip() or str(i + 1),
            "status": st,
            "error": err,
            "queue_ms": _cell(table.queue_ms, i),
            "ttft_ms": _cell(table.ttft_ms, i),
            "e2e_ms": _cell(table.e2e_ms, i),
            "input_tokens": _cell(table.input_tokens, i, whole=True),
            "output_tokens": _cell(table.output_tokens, i, whole=True),
            # The tool counted the tokens: its name says whose count it is.
            "tokens_source": tool if tokens else "",
            "level": table.level,
            "seq": i,
            "due_s": _cell(table.due_s, i),
            "end_s": _cell(table.end_s, i),
        }
        for i, (pid, st, err) in enumerate(zip(ids, table.status, table.error, strict=True))
    ]


def _summary(table: ImportedTable) -> LevelSummary:
    """run.json's level entry, from the columns the tool saved; the rest stays None."""
    n = len(table.status)
    tokens = table.output_tokens is not None or table.input_tokens is not None
    samples = LevelSamples(
        status=np.array(table.status, dtype=object),
        error=np.array(table.error, dtype=object),
        e2e_ms=table.e2e_ms,
        ttft_ms=table.ttft_ms,
        queue_ms=table.queue_ms,
        due_s=table.due_s,
        end_s=table.end_s,
        output_tokens=table.output_tokens,
        input_tokens=table.input_tokens,
        tokens_source=np.array([table.source.tool] * n, dtype=object) if tokens else None,
    )
    # Without a load in the file, concurrency stays unknown: "1" would line the import up
    # with measured c1 levels.
    return summarize_level(
        samples,
        level=table.level,
        concurrency=table.concurrency,
        request_rate=table.request_rate,
        timeout_s=None,
    )


def _record(
    run_id: str,
    created: datetime,
    params: dict[str, str],
    source: ImportSource,
    level: LevelSummary,
) -> RunRecord:
    """run.json of an import: where the file came from, how it was read, its level."""
    imported_at = datetime.now(UTC).replace(microsecond=0)
    return RunRecord(
        schema_version=RUN_SCHEMA_VERSION,
        servegate_version=__version__,
        git_commit=servegate_commit(),
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
                    "sha256": source.sha256,
                    "note": "unknown: imported run",
                },
            }
        ),
        n_request_rows=level.n_requests,
        levels=[level],
    )


def _refuse_duplicate(results_dir: Path, digest: str, fail: Fail) -> None:
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
    fail: Fail,
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
