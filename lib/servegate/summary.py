"""Summaries of a load level for run.json: counts by status, throughput, latency percentiles.

Every latency percentile counts failed requests as misses (``+inf``, worse than any time-out),
so a level with many failures cannot look fast. A level with no request has n=0 and no value.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from servegate.loadgen import LevelResult, RequestRecord
from servegate.schema import STATUSES
from servegate.stats import latencies_with_failures, percentile_ci, throughput_ci

__all__ = ["PERCENTILES", "latency_block", "summarize_level", "summarize_records"]

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
