"""A run's level summaries as one table: the rows every level figure and table is drawn from.

One reader, one record, every view: ``levels_frame`` takes a ``RunData``, so a level that a
killed run never summarized (rebuilt from requests.csv on reading) is in the table like the
others, as it is in the gates and the history.
"""

from __future__ import annotations

import math

import pandas as pd

from servegate.core.names import STATUSES
from servegate.core.stats import Estimate
from servegate.runs.reader import RunData

__all__ = ["LEVEL_COLUMNS", "LEVEL_DTYPES", "levels_frame"]

#: The first columns of ``levels_frame``, also the columns of an empty one.
LEVEL_COLUMNS = ("run_id", "backend", "model", "level", "concurrency", "request_rate", "n_requests")


def _estimates(prefix: str, unit: str) -> dict[str, str]:
    """The value and interval columns of one estimate, all ``float64``."""
    ends = (prefix, f"{prefix}_ci_low", f"{prefix}_ci_high")
    return {f"{name}{unit}": "float64" for name in ends}


#: Every column of ``levels_frame``, in order, with the dtype ``servegate.read_run`` gives it:
#: text ``string``, counts nullable ``Int64``, figures ``float64`` (``inf``: among failures).
LEVEL_DTYPES: dict[str, str] = {
    "run_id": "string",
    "backend": "string",
    "model": "string",
    "level": "string",
    "concurrency": "Int64",
    "request_rate": "float64",
    "n_requests": "Int64",
    "n_ok": "Int64",
    "n_errors": "Int64",
    **{f"n_{s}": "Int64" for s in STATUSES if s != "ok"},
    **_estimates("output_tok_per_s", ""),
    **{
        c: t
        for metric in ("ttft", "e2e")
        for q in ("p50", "p95")
        for c, t in _estimates(f"{metric}_{q}", "_ms").items()
    },
}


def _estimate_columns(prefix: str, est: Estimate | None, unit: str) -> dict[str, float]:
    def num(value: float | None) -> float:
        return math.nan if value is None else value

    return {
        f"{prefix}{unit}": num(est.value if est else None),
        f"{prefix}_ci_low{unit}": num(est.ci_low if est else None),
        f"{prefix}_ci_high{unit}": num(est.ci_high if est else None),
    }


def levels_frame(run: RunData) -> pd.DataFrame:
    """One row per load level of a run (``RunData.levels``), copied out, nothing recomputed.

    Columns: ``run_id, backend, model, level, concurrency, request_rate, n_requests, n_ok,
    n_errors`` (all failures), ``n_<status>`` for each failure status, ``output_tok_per_s`` with
    ``_ci_low``/``_ci_high``, and ``{ttft,e2e}_{p50,p95}_ms`` with ``_ci_low_ms``/``_ci_high_ms``.
    A missing interval end is NaN (for a latency percentile: unbounded on that side); a
    percentile among failed requests is ``inf``. A skipped run gives no rows.
    """
    target = run.record.target
    model = (target.model if target is not None else "") or run.record.params.model or None
    rows = []
    for level in run.levels:
        row: dict[str, object] = {
            "run_id": run.run_id,
            "backend": run.record.params.backend or None,
            "model": model,
            "level": level.level,
            "concurrency": level.concurrency,
            "request_rate": math.nan if level.request_rate is None else level.request_rate,
            "n_requests": level.n_requests,
            "n_ok": level.n_ok,
            "n_errors": level.n_errors,
            **{f"n_{s}": level.counts.get(s, 0) for s in STATUSES if s != "ok"},
        }
        throughput = level.throughput.output_tok_per_s if level.throughput else None
        row.update(_estimate_columns("output_tok_per_s", throughput, ""))
        for metric in ("ttft", "e2e"):
            block = level.latency(metric)
            for q in ("p50", "p95"):
                est = block.percentile(q) if block is not None else None
                row.update(_estimate_columns(f"{metric}_{q}", est, "_ms"))
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else list(LEVEL_COLUMNS))
