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
import math
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from servegate.core.errors import ConfigError, RunFolderError
from servegate.core.names import RUN_JSON, RUN_SCHEMA_VERSION, RUN_STATES
from servegate.runs.requests_csv import FIX_EDITED, read_requests, reconcile_levels

__all__ = ["RunData", "as_float", "list_runs", "load_run"]

log = logging.getLogger(__name__)


def as_float(value: Any) -> float | None:
    """A number from run.json as a float: ``"inf"``/``"-inf"`` back to ``±inf``, null to None.

    ``servegate.core.fsutil.json_safe`` writes ``+inf`` (a percentile among failed requests) as the
    string ``"inf"`` and NaN as null; this undoes it. NaN comes back as None ("no value").

    :raises ValueError: for a bool or a string that is not a number.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got the boolean {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(
                f"expected a number or 'inf', got the string {value!r}; "
                "check the run.json it came from"
            ) from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__} {value!r:.60}")
    return None if math.isnan(number) else number


@dataclass(frozen=True, eq=False)
class RunData:
    """One run folder read back and validated.

    :param run_dir: the folder.
    :param record: run.json as written, except that the ``value``/``ci_low``/``ci_high`` of
        every estimate are floats again (``"inf"`` -> ``inf``, see ``as_float``).
    :param requests: requests.csv, one row per measured request, columns
        ``servegate.core.names.REQUEST_COLUMNS``; floats (NaN where empty), nullable ``Int64``
        counts, strings ("" where empty).
    :param incomplete: True when run.json does not describe every request in requests.csv:
        the run was killed (its state is still ``"running"``) or stopped mid-level.
    :param recomputed_levels: summaries, rebuilt from requests.csv, of levels that have rows but
        no summary in run.json; same keys as run.json's levels plus
        ``"recomputed_from": "requests.csv"``, with ``itl_pooled_ms`` None (the per-token gaps
        are not in the CSV).
    :param notes: what was repaired on reading (a torn last row dropped), for the report.
    """

    run_dir: Path
    record: dict[str, Any]
    requests: pd.DataFrame
    incomplete: bool = False
    recomputed_levels: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def run_id(self) -> str:
        return str(self.record["run_id"])

    @property
    def params(self) -> dict[str, Any]:
        """The benchmark parameters as recorded (no secrets); ``{}`` when absent."""
        return dict(self.record.get("params") or {})

    @property
    def backend(self) -> str:
        """``"vllm"`` or ``"openai"``: from params, else the run id's last part."""
        return str(self.params.get("backend") or self.run_id.rsplit("_", 1)[-1])

    @property
    def model(self) -> str:
        """The model name requests were sent with."""
        target = self.record.get("target") or {}
        return str(self.params.get("model") or target.get("model") or "")

    @property
    def label(self) -> str:
        return str(self.params.get("run_label") or "")

    @property
    def state(self) -> str:
        """How run.json says the run ended (``servegate.core.names.RUN_STATES``)."""
        return str(self.record["state"])

    @cached_property
    def created_at(self) -> datetime:
        """When the run started (timezone-aware, from run.json's ``created_at``)."""
        return _parse_time(self.record["created_at"])

    @property
    def levels(self) -> list[dict[str, Any]]:
        """Every level's summary: run.json's, then those recomputed from requests.csv."""
        return [*self.record.get("levels", []), *self.recomputed_levels]

    @property
    def manifest(self) -> dict[str, Any]:
        """Model, runtime, hardware, prompt set and git state; ``{}`` for a skipped run."""
        return dict(self.record.get("manifest") or {})


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
    state = record["state"]
    frame, notes = read_requests(run_dir, record)
    recomputed = reconcile_levels(run_dir, record, frame)
    incomplete = state == "running" or bool(recomputed) or bool(notes)
    return RunData(run_dir, record, frame, incomplete, tuple(recomputed), tuple(notes))


def list_runs(results_dir: str | Path) -> tuple[list[RunData], list[tuple[Path, str]]]:
    """Every run folder under ``results_dir``, oldest first, and the broken ones with reasons.

    Folders whose name starts with ``.`` are ignored. A folder that cannot be read is logged as a
    warning and returned as ``(folder, reason)``; it never stops the others from loading. Runs
    are sorted by ``created_at``, then run id.

    :raises ConfigError: when ``results_dir`` does not exist.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ConfigError(
            f"results_dir {results_dir} does not exist; run a benchmark first "
            "(make bench PARAMS=params/cpu_default.yaml) or pass the folder that holds the runs"
        )
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


def _parse_time(text: Any) -> datetime:
    stamp = datetime.fromisoformat(str(text))
    if stamp.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return stamp


def _read_run_json(run_dir: Path) -> dict[str, Any]:
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
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise fail(f"is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(record, dict):
        raise fail(f"must hold a JSON object, got {type(record).__name__}")
    version = record.get("schema_version")
    if version != RUN_SCHEMA_VERSION:
        raise fail(
            f"schema_version is {version!r}, this servegate reads version {RUN_SCHEMA_VERSION}",
            "read it with the servegate version that wrote it, or run the benchmark again",
        )
    if not isinstance(record.get("run_id"), str) or not record["run_id"]:
        raise fail(f"run_id must be a non-empty string, got {record.get('run_id')!r}")
    if record.get("state") not in RUN_STATES:
        raise fail(f"state must be one of {list(RUN_STATES)}, got {record.get('state')!r}")
    try:
        _parse_time(record.get("created_at"))
    except (TypeError, ValueError):
        raise fail(
            "created_at must be an ISO 8601 time with a zone, e.g. 2026-11-26T23:13:45+00:00, "
            f"got {record.get('created_at')!r}"
        ) from None
    levels = record.setdefault("levels", [])
    if not isinstance(levels, list):
        raise fail(f"levels must be a list, got {type(levels).__name__}")
    for i, level in enumerate(levels):
        if not isinstance(level, dict) or not isinstance(level.get("level"), str):
            raise fail(f"levels[{i}] must be an object with a 'level' name, got {level!r:.80}")
        if not isinstance(level.get("n_requests"), int) or isinstance(level["n_requests"], bool):
            raise fail(
                f"levels[{i}].n_requests must be an integer, got {level.get('n_requests')!r}"
            )
    for key in ("params", "manifest"):
        if record.get(key) is not None and not isinstance(record[key], dict):
            raise fail(f"{key} must be an object, got {type(record[key]).__name__}")
    try:
        return _restore_estimates(record)
    except ValueError as exc:
        raise fail(f"an estimate is not a number ({exc})") from None


def _restore_estimates(obj: Any) -> Any:
    """Turn ``value``/``ci_low``/``ci_high`` of every estimate dict back into floats."""
    if isinstance(obj, dict):
        out = {k: _restore_estimates(v) for k, v in obj.items()}
        if "value" in out and "ci_low" in out and "ci_high" in out:
            for key in ("value", "ci_low", "ci_high"):
                out[key] = as_float(out[key])
        return out
    if isinstance(obj, list):
        return [_restore_estimates(v) for v in obj]
    return obj
