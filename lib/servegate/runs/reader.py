"""Reading run folders back: run.json and requests.csv, validated, into a ``RunData``.

A run folder (``eval/results/<run_id>/``, written by ``servegate.runs.writer``) is trusted only
after it is checked: run.json must be a JSON object of schema version
``servegate.core.names.RUN_SCHEMA_VERSION``, and requests.csv must pass
``servegate.runs.requests_csv`` (exact header, whole rows, typed cells, counts that agree with
run.json). Anything else raises
``RunFolderError`` naming the folder, the file, the line and the fix; ``list_runs`` turns that
into a (folder, reason) pair so that one broken folder never hides the others.

A run killed with SIGKILL keeps ``state: "running"`` in run.json (nothing could rewrite it)
while requests.csv holds every request that finished. It is still readable: ``incomplete`` is
True, a torn last row (a write cut by the kill) is dropped with a note, and each level that has
rows but no summary in run.json is summarized again from requests.csv (``recomputed_levels``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from servegate.core.errors import ConfigError, RunFolderError
from servegate.core.names import RUN_JSON, RUN_SCHEMA_VERSION
from servegate.core.paths import project_root, resolve_path
from servegate.records.level import LevelSummary
from servegate.records.run import RunRecord
from servegate.runs.requests_csv import FIX_EDITED, read_requests, reconcile_levels

__all__ = ["RunData", "list_runs", "load_run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class RunData:
    """One run folder read back and validated.

    :param run_dir: the folder.
    :param record: run.json, validated and typed.
    :param requests: requests.csv, one row per measured request, columns
        ``servegate.core.names.REQUEST_COLUMNS``; floats (NaN where empty), nullable ``Int64``
        counts, strings ("" where empty).
    :param incomplete: True when run.json does not describe every request in requests.csv:
        the run was killed (its state is still ``"running"``) or stopped mid-level.
    :param recomputed_levels: summaries, rebuilt from requests.csv, of levels that have rows but
        no summary in run.json (``recomputed_from == "requests.csv"``; ``itl_pooled_ms`` is None:
        the per-token gaps are not in the CSV).
    :param notes: what was repaired on reading (a torn last row dropped), for the report.
    """

    run_dir: Path
    record: RunRecord
    requests: pd.DataFrame
    incomplete: bool = False
    recomputed_levels: tuple[LevelSummary, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def params(self) -> dict[str, Any]:  # JSON boundary: the parameters exactly as recorded
        """The benchmark parameters as recorded (no secrets); ``{}`` when absent."""
        return self.record.params.model_dump()

    @property
    def backend(self) -> str:
        """``"vllm"`` or ``"openai"``: from params, else the run id's last part."""
        return self.record.params.backend or self.run_id.rsplit("_", 1)[-1]

    @property
    def model(self) -> str:
        """The model name requests were sent with."""
        target = self.record.target
        return self.record.params.model or (target.model if target is not None else "")

    @property
    def label(self) -> str:
        return self.record.params.run_label

    @property
    def state(self) -> str:
        """How run.json says the run ended (``servegate.records.run.RunState``)."""
        return self.record.state

    @property
    def created_at(self) -> datetime:
        """When the run started (timezone-aware, from run.json's ``created_at``)."""
        return self.record.created_at

    @property
    def levels(self) -> list[LevelSummary]:
        """Every level's summary: run.json's, then those recomputed from requests.csv."""
        return [*self.record.levels, *self.recomputed_levels]

    @property
    def manifest(self) -> dict[str, Any]:  # JSON boundary: the manifest exactly as recorded
        """Model, runtime, hardware, prompt set and git state; ``{}`` for a skipped run."""
        return self.record.manifest.model_dump(exclude_unset=True)


def load_run(run_dir: str | Path) -> RunData:
    """Read and validate one run folder (see the module doc).

    :raises RunFolderError: when run.json or requests.csv is missing, not parseable, of another
        schema version, or edited (wrong header, torn row, text where a number belongs, unknown
        status, rows that disagree with run.json's counts).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(
            f"run folder {run_dir} does not exist or is not a folder; pass a folder under "
            "results_dir, e.g. eval/results/<run_id>",
            run_dir=str(run_dir),
        )
    record = _read_run_json(run_dir)
    frame, notes = read_requests(run_dir, record)
    recomputed = reconcile_levels(run_dir, record, frame)
    incomplete = record.state == "running" or bool(recomputed) or bool(notes)
    return RunData(run_dir, record, frame, incomplete, tuple(recomputed), tuple(notes))


def _no_results_dir(given: Path, where: Path) -> str:
    """Where a missing ``results_dir`` was looked for, and how to make runs there."""
    root = project_root() if not given.expanduser().is_absolute() else None
    where_from = f" (a relative results_dir is read from the project root {root})" if root else ""
    return (
        f"results_dir {where} does not exist{where_from}; run a benchmark first "
        "(`servegate bench --params params/cpu_default.yaml`, or make bench) or point "
        "results_dir at the folder that holds the run folders"
    )


def list_runs(results_dir: str | Path) -> tuple[list[RunData], list[tuple[Path, str]]]:
    """Every run folder under ``results_dir`` (relative: under the project root), oldest first,
    and the broken ones with reasons.

    Folders whose name starts with ``.`` are ignored. A folder that cannot be read is logged as a
    warning and returned as ``(folder, reason)``; it never stops the others from loading. Runs
    are sorted by ``created_at``, then run id.

    :raises ConfigError: when ``results_dir`` does not exist.
    """
    given = Path(results_dir)
    results_dir = resolve_path(given)
    if not results_dir.is_dir():
        raise ConfigError(_no_results_dir(given, results_dir))
    runs: list[RunData] = []
    broken: list[tuple[Path, str]] = []
    for folder in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        if folder.name.startswith("."):
            continue
        try:
            runs.append(load_run(folder))
        except RunFolderError as exc:
            broken.append((folder, str(exc)))
        except Exception as exc:  # a bug must not hide every other run either
            log.debug("unexpected error reading %s", folder, exc_info=True)
            broken.append((folder, f"unexpected {type(exc).__name__} while reading it: {exc}"))
        else:
            continue
        log.warning("skipping run folder %s: %s", folder, broken[-1][1])
    runs.sort(key=lambda r: (r.created_at, r.run_id, r.run_dir.name))
    unique: dict[str, RunData] = {}
    for run in runs:
        first = unique.setdefault(run.run_id, run)
        if first is not run:  # a copied folder would count every request twice
            reason = (
                f"run_id {run.run_id!r} was already read from {first.run_dir}; the folder is a "
                "copy: delete one of them"
            )
            log.warning("skipping run folder %s: %s", run.run_dir, reason)
            broken.append((run.run_dir, reason))
    return list(unique.values()), broken


# --- run.json ---------------------------------------------------------------------------------


def _read_run_json(run_dir: Path) -> RunRecord:
    path = run_dir / RUN_JSON

    def fail(problem: str, fix: str = FIX_EDITED) -> RunFolderError:
        return RunFolderError(f"{path}: {problem}; {fix}", run_dir=str(run_dir), file=RUN_JSON)

    if not path.is_file():
        raise fail(
            "run.json is missing",
            "the run was killed before it wrote its first record, or the file was deleted; "
            "delete the folder and run the benchmark again",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise fail(f"is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise fail(f"must hold a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version != RUN_SCHEMA_VERSION:
        raise fail(
            f"schema_version is {version!r}, this servegate reads version {RUN_SCHEMA_VERSION}",
            _migration_advice(version),
        )
    try:
        return RunRecord.model_validate(data)
    except ValidationError as exc:
        raise fail(_first_problem(exc)) from None


def _migration_advice(version: Any) -> str:
    """What to do with a run.json of another schema version."""
    if isinstance(version, int) and not isinstance(version, bool) and version > RUN_SCHEMA_VERSION:
        return "it was written by a newer servegate: upgrade servegate to read it"
    return (
        "read it with the servegate version that wrote it (its run.json names it), or run the "
        "benchmark again"
    )


def _first_problem(exc: ValidationError) -> str:
    """The first validation error as 'where: what, got VALUE' (the path in run.json)."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    more = f" ({exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    got = err.get("input")
    shown = f", got {got!r:.80}" if err["type"] != "missing" else ""
    top = err["loc"][0] if err["loc"] else None
    field = RunRecord.model_fields.get(top) if isinstance(top, str) else None
    hint = f" (expected {field.description})" if field is not None and field.description else ""
    return f"{where}: {err['msg']}{shown}{hint}{more}"
