"""Summaries of a load level for run.json: counts by status, throughput, latency percentiles.

Every latency percentile counts failed requests as misses (``+inf``, worse than any time-out),
so a level with many failures cannot look fast. A level with no request has n=0 and no value.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from servegate.core.names import STATUSES
from servegate.core.stats import latencies_with_failures, percentile_ci, throughput_ci
from servegate.measure.loadgen import LevelResult
from servegate.records.request import RequestRecord

__all__ = [
    "PERCENTILES",
    "latency_block",
    "levels_frame",
    "saved_number",
    "summarize_level",
    "summarize_records",
]

PERCENTILES = (50, 90, 95, 99)


def latency_block(values_ms: np.ndarray, ok: np.ndarray, *, censor: bool) -> dict[str, Any]:
    """p50/p90/p95/p99 with 95% order-statistic intervals, plus the mean of the successes.

    :param censor: count failed requests as +inf (TTFT and end-to-end); False for per-token
        figures, which exist only for successful requests.
    """
    if censor:
        values = latencies_with_failures(np.where(ok, values_ms, 0.0), ok)
    else:
        values = values_ms[ok & ~np.isnan(values_ms)]
    out: dict[str, Any] = {f"p{q}": percentile_ci(values, q).to_dict() for q in PERCENTILES}
    finite = values[np.isfinite(values)]
    out["mean_ok"] = float(finite.mean()) if finite.size else None
    out["n"] = int(values.size)
    return out


def _floats(records: list[RequestRecord], name: str) -> np.ndarray:
    return np.array(
        [np.nan if getattr(r, name) is None else getattr(r, name) for r in records], dtype=float
    )


def summarize_records(records: list[RequestRecord], *, timeout_s: float) -> dict[str, Any]:
    """The statistics of one level's records (see module doc)."""
    counts = Counter(r.status for r in records)
    ok = np.array([r.status == "ok" for r in records], dtype=bool)
    out: dict[str, Any] = {
        "n_requests": len(records),
        "counts": {s: counts.get(s, 0) for s in STATUSES},
        "n_ok": int(ok.sum()),
        "n_errors": len(records) - int(ok.sum()),
        "n_oom": counts.get("oom", 0),
        "timeout_s": timeout_s,
    }
    if not records:
        out.update(throughput=None, ttft_ms=None, e2e_ms=None, itl_pooled_ms=None, tpot_ms=None)
        return out
    tp = throughput_ci(
        _floats(records, "due_s"),
        _floats(records, "end_s"),
        _floats(records, "output_tokens"),
        ok,
    )
    out["throughput"] = tp.to_dict()
    out["duration_s"] = tp.duration_s
    out["ttft_ms"] = latency_block(_floats(records, "ttft_ms"), ok, censor=True)
    out["e2e_ms"] = latency_block(_floats(records, "e2e_ms"), ok, censor=True)
    out["queue_ms"] = latency_block(_floats(records, "queue_ms"), ok, censor=False)
    # Two different per-token figures, named apart: the pooled inter-token latency weighs every
    # gap of every answer equally; TPOT is one number per request, (e2e - ttft) / (tokens - 1).
    gaps = np.array([g for r in records if r.status == "ok" for g in r.gaps_ms], dtype=float)
    out["itl_pooled_ms"] = latency_block(gaps, np.ones(gaps.size, dtype=bool), censor=False)
    out["tpot_ms"] = latency_block(_floats(records, "tpot_ms"), ok, censor=False)
    out["tokens_source"] = dict(Counter(r.tokens_source for r in records))
    out["output_tokens_total"] = int(np.nansum(_floats(records, "output_tokens")[ok]))
    out["input_tokens_total"] = int(np.nansum(_floats(records, "input_tokens")[ok]))
    errors = Counter(r.error for r in records if r.status != "ok")
    out["top_errors"] = [{"error": e, "count": c} for e, c in errors.most_common(5)]
    return out


def summarize_level(result: LevelResult, *, timeout_s: float) -> dict[str, Any]:
    """run.json's entry for one level: its identity, span and statistics."""
    spec = result.spec
    return {
        "level": spec.label,
        "concurrency": spec.concurrency,
        "request_rate": spec.request_rate,
        "n_prompts": len(spec.prompts),
        "started_at_unix": result.started_unix,
        "wall_s": result.duration_s,
        "aborted": result.aborted,
        **summarize_records(result.records, timeout_s=timeout_s),
    }


def saved_number(value: Any) -> float:
    """A saved number: None -> NaN; the strings "inf"/"nan" that JSON cannot hold -> floats."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _estimate_columns(prefix: str, block: Mapping[str, Any] | None, unit: str) -> dict[str, float]:
    block = block or {}
    return {
        f"{prefix}{unit}": saved_number(block.get("value")),
        f"{prefix}_ci_low{unit}": saved_number(block.get("ci_low")),
        f"{prefix}_ci_high{unit}": saved_number(block.get("ci_high")),
    }


def levels_frame(run: Mapping[str, Any]) -> pd.DataFrame:
    """One row per load level of a loaded ``run.json``, copied out, nothing recomputed.

    Columns: ``run_id, backend, model, level, concurrency, request_rate, n_requests, n_ok,
    n_errors`` (all failures), ``n_<status>`` for each status, ``output_tok_per_s`` with
    ``_ci_low``/``_ci_high``, and ``{ttft,e2e}_{p50,p95}_ms`` with ``_ci_low_ms``/``_ci_high_ms``.
    A missing interval end is NaN (for a latency percentile: unbounded on that side); a
    percentile among failed requests is ``inf``. A skipped run gives no rows.
    """
    params = run.get("params") or {}
    model = (run.get("target") or {}).get("model") or params.get("model")
    rows = []
    for level in run.get("levels") or []:
        counts = level.get("counts") or {}
        row: dict[str, Any] = {
            "run_id": run.get("run_id"),
            "backend": params.get("backend"),
            "model": model,
            "level": level.get("level"),
            "concurrency": level.get("concurrency"),
            "request_rate": saved_number(level.get("request_rate")),
            "n_requests": level.get("n_requests", 0),
            "n_ok": level.get("n_ok", counts.get("ok", 0)),
            "n_errors": level.get("n_errors", 0),
            **{f"n_{s}": counts.get(s, 0) for s in STATUSES if s != "ok"},
        }
        throughput = (level.get("throughput") or {}).get("output_tok_per_s")
        row.update(_estimate_columns("output_tok_per_s", throughput, ""))
        for metric in ("ttft", "e2e"):
            block = level.get(f"{metric}_ms") or {}
            for q in ("p50", "p95"):
                row.update(_estimate_columns(f"{metric}_{q}", block.get(q), "_ms"))
        rows.append(row)
    columns = ["run_id", "backend", "model", "level", "concurrency", "request_rate", "n_requests"]
    return pd.DataFrame(rows, columns=None if rows else columns)
