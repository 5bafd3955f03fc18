"""The proof of concept's figures of record, as summary-only history rows.

The paused POC left per-run summaries (rows, mean, p50, p95, min of end-to-end latency), not
per-request data. ``data/history/poc_summaries.yaml`` keeps them; ``load_poc_summaries`` checks
the file and ``poc_history_rows`` turns each entry into one history row with ``source``
``"summary_only"``: no interval, no TTFT, no throughput, and a note with the sample-size caveat.
The report draws them as the starting point and never lets them pass or fail a gate.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from servegate.core.config import validate_params
from servegate.core.errors import ConfigError
from servegate.core.paths import resolve_path
from servegate.history.format import HistoryRow

__all__ = [
    "DEFAULT_POC_PATH",
    "MIN_EVIDENCE_ROWS",
    "POC_SOURCE",
    "PocRun",
    "load_poc_summaries",
    "poc_caveat",
    "poc_history_rows",
]

DEFAULT_POC_PATH: Final = "data/history/poc_summaries.yaml"
#: History ``source`` of these rows (``servegate.plots.trend`` draws them hollow).
POC_SOURCE: Final = "summary_only"
#: Fewer rows than this and a summary is "not evidence", only a memory.
MIN_EVIDENCE_ROWS: Final = 20


class PocRun(BaseModel):
    """One POC run's summary; latencies in seconds, as the POC reported them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    label: str = Field(min_length=1)
    backend: Literal["vllm", "openai"]
    model: str = Field(min_length=1)
    hardware: str = ""
    source_file: str = Field(min_length=1)
    run_date: datetime
    date_note: str = ""
    rows: int = Field(ge=0)
    mean_s: float | None = Field(None, ge=0)
    p50_s: float | None = Field(None, ge=0)
    p95_s: float | None = Field(None, ge=0)
    min_s: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> PocRun:
        if self.run_date.tzinfo is None:
            raise ValueError(f"run_date {self.run_date} needs a time zone; write it as UTC, ...Z")
        given = [v for v in (self.min_s, self.p50_s, self.p95_s) if v is not None]
        if given != sorted(given):
            raise ValueError(
                f"min_s <= p50_s <= p95_s does not hold ({self.min_s}, {self.p50_s}, "
                f"{self.p95_s}); check the figures against the source"
            )
        return self


class _PocFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runs: list[PocRun]

    @model_validator(mode="after")
    def _unique(self) -> _PocFile:
        ids = [r.id for r in self.runs]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"run ids must be unique; repeated: {', '.join(twice)}")
        return self


def load_poc_summaries(path: str | Path = DEFAULT_POC_PATH) -> list[PocRun]:
    """The POC summaries in ``path`` (relative: under the project root); ``[]`` when the file
    does not exist (a team without a POC).

    :raises ConfigError: when the file is not YAML or an entry is invalid (named with the fix).
    """
    path = resolve_path(path)
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML ({exc}); fix the file") from None
    return validate_params(_PocFile, data or {"runs": []}, what=f"POC summaries in {path}").runs


def poc_caveat(run: PocRun) -> str:
    """The sample-size caveat printed beside a POC figure."""
    if run.rows < 3 or run.p95_s is None:
        return f"{run.rows} rows: not evidence (no percentiles worth reporting)"
    if run.rows < MIN_EVIDENCE_ROWS:
        return f"only {run.rows} rows: p95 is about the maximum"
    # With n rows, p95 sits near the top one or two requests: name how few it rests on.
    top = max(1, math.ceil(run.rows * 0.05))
    return f"{run.rows} rows: p95 rests on the slowest {top}; summary only, no interval"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def poc_history_rows(runs: list[PocRun]) -> list[HistoryRow]:
    """One history row per POC run: no interval, no TTFT, no throughput."""
    rows = []
    for run in runs:
        figures = ", ".join(
            f"{name} {value:.3f} s"
            for name, value in (
                ("mean", run.mean_s),
                ("p50", run.p50_s),
                ("p95", run.p95_s),
                ("min", run.min_s),
            )
            if value is not None
        )
        note = "; ".join(
            filter(
                None,
                [
                    f"POC summary from {run.source_file}",
                    figures,
                    poc_caveat(run),
                    f"date {run.date_note}" if run.date_note else "",
                ],
            )
        )
        rows.append(
            HistoryRow(
                run_id=f"poc_{run.id}",
                run_date=run.run_date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                label=run.label,
                backend=run.backend,
                model=run.model,
                runtime_version="unknown (POC)",
                hardware=run.hardware,
                state="complete",
                incomplete=False,
                source=POC_SOURCE,
                hardware_class="poc",
                n_requests=run.rows,
                e2e_p50_ms=_ms(run.p50_s),
                e2e_p95_ms=_ms(run.p95_s),
                note=note,
            )
        )
    return rows
