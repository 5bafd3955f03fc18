"""A run folder on disk: requests.csv appended as requests finish, run.json replaced atomically.

``requests.csv`` gets its header when the run starts and one flushed row per finished request,
so a run that is interrupted or killed keeps every request that finished. ``run.json`` is
rewritten whole (temporary file, then rename) at the start, after every level, at the end and
on interruption, so it is never torn and always says how far the run got.
"""

from __future__ import annotations

import csv
import math
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from servegate import __version__
from servegate.core.environment import servegate_commit
from servegate.core.errors import ConfigError
from servegate.core.fsutil import atomic_write_json, json_safe
from servegate.core.names import REQUEST_COLUMNS, REQUESTS_CSV, RUN_JSON, RUN_SCHEMA_VERSION
from servegate.records.level import LevelSummary
from servegate.records.request import RequestRecord
from servegate.records.run import RunRecord

__all__ = ["RunWriter", "new_run_id"]

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def new_run_id(label: str, backend: str, now: datetime | None = None) -> str:
    """``<UTC time>_<label>_<backend>``, e.g. ``20261126T231500Z_cpu-default_vllm``.

    :raises ConfigError: when the label has characters unfit for a folder name.
    """
    if not _LABEL.match(label):
        raise ConfigError(
            f"run_label {label!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit; use e.g. 'cpu-default'"
        )
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}_{label}_{backend}"


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else round(value, 3)
    return "" if value is None else value


class RunWriter:
    """Owns one run folder under ``results_dir``; creates it, never overwrites another run's."""

    def __init__(self, results_dir: str | Path, run_id: str) -> None:
        results_dir = Path(results_dir)
        try:
            results_dir.mkdir(parents=True, exist_ok=True)
            probe = results_dir / f".write-test-{run_id}"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"results_dir {results_dir} is not writable ({exc.strerror}); "
                "choose a folder you can write to"
            ) from None
        base, n = run_id, 1
        while (results_dir / run_id).exists():  # two runs in one second: keep both
            n += 1
            run_id = f"{base}-{n}"
        self.run_id = run_id
        self.dir = results_dir / run_id
        self.dir.mkdir()
        self.requests_path = self.dir / REQUESTS_CSV
        self.run_json_path = self.dir / RUN_JSON
        self._fh = open(self.requests_path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.DictWriter(self._fh, fieldnames=REQUEST_COLUMNS, extrasaction="raise")
        self._csv.writeheader()
        self._fh.flush()
        self.n_rows = 0
        # Every write is checked against RunRecord before it reaches the disk.
        self.record: dict[str, Any] = {  # JSON boundary: the run.json being written
            "schema_version": RUN_SCHEMA_VERSION,
            "servegate_version": __version__,
            "git_commit": servegate_commit(),
            "run_id": run_id,
            "state": "running",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "updated_at": None,
            "levels": [],
        }

    def append(self, record: RequestRecord) -> None:
        """Write one request row and flush it to the OS."""
        row = {k: _cell(v) for k, v in record.row().items()}
        row["run_id"] = self.run_id
        self._csv.writerow(row)
        self._fh.flush()
        self.n_rows += 1

    def update(self, **fields: Any) -> None:
        """Merge ``fields`` into run.json and rewrite it atomically.

        ``levels`` may hold ``LevelSummary`` records. The result must validate as a
        ``RunRecord`` (what every reader expects), so a writer bug fails here, not in a report.
        """
        if "levels" in fields:
            fields["levels"] = [
                lv.to_json() if isinstance(lv, LevelSummary) else lv for lv in fields["levels"]
            ]
        record = {**self.record, **fields, "n_request_rows": self.n_rows}
        record["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        RunRecord.model_validate(json_safe(record))  # before anything changes, here or on disk
        atomic_write_json(self.run_json_path, record)
        self.record = record

    def close(self, state: str, **fields: Any) -> None:
        """Final run.json with ``state``; closes requests.csv."""
        self.update(state=state, finished_at_unix=time.time(), **fields)
        if not self._fh.closed:
            self._fh.close()
