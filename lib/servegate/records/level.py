"""The summary of one load level, typed, and the one function that builds it.

A level's summary is built in one place, ``summarize_level``, from a ``LevelSamples``: the live
benchmark makes the samples from its ``RequestRecord``s, the run reader from requests.csv
rows (a level a killed run never summarized), and the importer from another tool's CSV.

Every latency percentile counts failed requests as misses (``+inf``, worse than any time-out),
so a level with many failures cannot look fast. A level with no request has n=0 and no value.
A figure the source never measured (an imported CSV has no clock, so no throughput and no
time to first token) is ``None``, never a made-up number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from servegate.core.names import STATUSES
from servegate.core.numbers import SavedFloat
from servegate.core.stats import (
    Estimate,
    LevelThroughput,
    latencies_with_failures,
    percentile_ci,
    throughput_ci,
)
from servegate.records.request import RequestRecord

__all__ = [
    "PERCENTILES",
    "ErrorCount",
    "LatencyBlock",
    "LevelSamples",
    "LevelSummary",
    "latency_block",
    "summarize_level",
]

PERCENTILES = (50, 90, 95, 99)


class _Saved(BaseModel):
    """A record read back from a saved file: frozen; unknown keys are ignored (newer writers)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class LatencyBlock(_Saved):
    """p50/p90/p95/p99 of one latency, each with its 95% order-statistic interval (ms)."""

    p50: Estimate
    p90: Estimate
    p95: Estimate
    p99: Estimate
    mean_ok: SavedFloat = Field(description="mean over successful requests, ms; None if none")
    n: int = Field(description="requests (or gaps) the percentiles rest on, failures included")

    def percentile(self, q: str) -> Estimate:
        """The estimate named ``"p50"``, ``"p90"``, ``"p95"`` or ``"p99"``."""
        named = {"p50": self.p50, "p90": self.p90, "p95": self.p95, "p99": self.p99}
        if q not in named:
            raise ValueError(f"percentile must be one of p50, p90, p95, p99; got {q!r}")
        return named[q]


class ErrorCount(_Saved):
    """One failure message and how many requests of the level failed with it."""

    error: str
    count: int


class LevelSummary(_Saved):
    """run.json's entry for one load level: its identity, span and statistics."""

    level: str = Field(description="the level's name: c<concurrency> or r<rate>")
    concurrency: int | None = Field(description="closed-loop concurrency; None: open loop")
    request_rate: SavedFloat = Field(description="open-loop arrivals per second; None: closed")
    n_prompts: int | None = Field(None, description="prompts planned for the level")
    started_at_unix: SavedFloat = None
    wall_s: SavedFloat = Field(None, description="the level's wall-clock span, s")
    aborted: str | None = Field(None, description="why the level stopped early; None if it did not")
    recomputed_from: str | None = Field(
        None, description="'requests.csv' when rebuilt on reading (the run was killed mid-level)"
    )
    n_requests: int
    counts: dict[str, int] = Field(description="requests by status (every status listed)")
    n_ok: int
    n_errors: int = Field(description="every request that did not succeed, whatever its status")
    n_oom: int
    timeout_s: SavedFloat = None
    throughput: LevelThroughput | None = None
    duration_s: SavedFloat = Field(None, description="first due time to last end, s")
    ttft_ms: LatencyBlock | None = None
    e2e_ms: LatencyBlock | None = None
    queue_ms: LatencyBlock | None = None
    itl_pooled_ms: LatencyBlock | None = Field(
        None, description="every inter-token gap of every answer; None where gaps were not kept"
    )
    tpot_ms: LatencyBlock | None = Field(
        None, description="per request: (e2e - ttft) / (output tokens - 1)"
    )
    tokens_source: dict[str, int] = Field(default_factory=dict)
    output_tokens_total: int | None = None
    input_tokens_total: int | None = None
    top_errors: list[ErrorCount] = Field(default_factory=list)
    # vLLM's own metric names (before/after snapshots, deltas, gauges during the level);
    # servegate.report reads the few it shows by name.
    metrics: dict[str, Any] | None = None  # JSON boundary: vLLM's metrics

    def latency(self, metric: str) -> LatencyBlock | None:
        """The latency block named ``"ttft"`` or ``"e2e"`` (the gate metrics)."""
        if metric not in {"ttft", "e2e"}:
            raise ValueError(f"latency metric must be 'ttft' or 'e2e'; got {metric!r}")
        return self.ttft_ms if metric == "ttft" else self.e2e_ms

    def to_json(self) -> dict[str, Any]:  # JSON boundary: what run.json's levels hold
        """The summary as a JSON-ready dict (``+inf`` stays a float; the writer encodes it)."""
        return self.model_dump(mode="python")


@dataclass(frozen=True)
class LevelSamples:
    """One level's requests as columns, whatever their source.

    A column that is ``None`` was not measured by the source (an imported CSV has no clock).
    Times are ms (``*_ms``) or seconds since the level started (``due_s``, ``end_s``); NaN is a
    missing cell (a failed request has no time to first token).

    :param gaps_ms: every inter-token gap of every successful answer; None where not kept
        (requests.csv holds one mean per request, not the gaps).
    """

    status: np.ndarray
    error: np.ndarray
    e2e_ms: np.ndarray
    ttft_ms: np.ndarray | None = None
    queue_ms: np.ndarray | None = None
    tpot_ms: np.ndarray | None = None
    due_s: np.ndarray | None = None
    end_s: np.ndarray | None = None
    output_tokens: np.ndarray | None = None
    input_tokens: np.ndarray | None = None
    tokens_source: np.ndarray | None = None
    gaps_ms: np.ndarray | None = None

    @classmethod
    def from_records(cls, records: Sequence[RequestRecord]) -> Self:
        """The samples of the load generator's records (the live benchmark)."""

        def floats(name: str) -> np.ndarray:
            values = [getattr(r, name) for r in records]
            return np.array([np.nan if v is None else v for v in values], dtype=float)

        gaps = [g for r in records if r.status == "ok" for g in r.gaps_ms]
        return cls(
            status=np.array([str(r.status) for r in records], dtype=object),
            error=np.array([r.error for r in records], dtype=object),
            e2e_ms=floats("e2e_ms"),
            ttft_ms=floats("ttft_ms"),
            queue_ms=floats("queue_ms"),
            tpot_ms=floats("tpot_ms"),
            due_s=floats("due_s"),
            end_s=floats("end_s"),
            output_tokens=floats("output_tokens"),
            input_tokens=floats("input_tokens"),
            tokens_source=np.array([r.tokens_source for r in records], dtype=object),
            gaps_ms=np.array(gaps, dtype=float),
        )

    @classmethod
    def from_frame(cls, rows: pd.DataFrame) -> Self:
        """The samples of requests.csv rows of one level, as ``servegate.runs`` types them."""

        def floats(column: str) -> np.ndarray:
            return rows[column].astype(float).to_numpy()

        return cls(
            status=rows["status"].to_numpy(dtype=object),
            error=rows["error"].to_numpy(dtype=object),
            e2e_ms=floats("e2e_ms"),
            ttft_ms=floats("ttft_ms"),
            queue_ms=floats("queue_ms"),
            tpot_ms=floats("tpot_ms"),
            due_s=floats("due_s"),
            end_s=floats("end_s"),
            output_tokens=floats("output_tokens"),
            input_tokens=floats("input_tokens"),
            tokens_source=rows["tokens_source"].to_numpy(dtype=object),
        )


def latency_block(values_ms: np.ndarray, ok: np.ndarray, *, censor: bool) -> LatencyBlock:
    """p50/p90/p95/p99 with 95% order-statistic intervals, plus the mean of the successes.

    :param censor: count failed requests as +inf (TTFT and end-to-end); False for per-token
        figures, which exist only for successful requests.
    """
    if censor:
        values = latencies_with_failures(np.where(ok, values_ms, 0.0), ok)
    else:
        values = values_ms[ok & ~np.isnan(values_ms)]
    finite = values[np.isfinite(values)]
    return LatencyBlock(
        p50=percentile_ci(values, 50),
        p90=percentile_ci(values, 90),
        p95=percentile_ci(values, 95),
        p99=percentile_ci(values, 99),
        mean_ok=float(finite.mean()) if finite.size else None,
        n=int(values.size),
    )


def _total(tokens: np.ndarray | None, ok: np.ndarray) -> int | None:
    return None if tokens is None else int(np.nansum(tokens[ok]))


def summarize_level(
    samples: LevelSamples,
    *,
    level: str,
    concurrency: int | None,
    request_rate: float | None,
    timeout_s: float | None,
    n_prompts: int | None = None,
    started_at_unix: float | None = None,
    wall_s: float | None = None,
    aborted: str | None = None,
    recomputed_from: str | None = None,
) -> LevelSummary:
    """The statistics of one level's samples (see the module doc), with its identity.

    Percentiles are ``servegate.core.stats.percentile_ci`` (linear interpolation, 95%
    order-statistic interval); throughput is ``throughput_ci`` (batch means). With no request
    at all, every block is None and the counts are 0.

    It is long because it is one constructor call that names every field of the record: the
    record's whole shape in one place, which is the point of having one builder.
    """
    status = samples.status
    n = int(status.size)
    ok = status == "ok"
    counts = Counter(str(s) for s in status)
    errors = Counter(str(e) for e, good in zip(samples.error, ok, strict=True) if not good)
    measured = n > 0  # with no request at all, every block stays None

    def block(values: np.ndarray | None, *, censor: bool) -> LatencyBlock | None:
        if values is None or not measured:
            return None
        return latency_block(values, ok, censor=censor)

    throughput = None
    if measured and samples.due_s is not None and samples.end_s is not None:
        tokens = samples.output_tokens
        throughput = throughput_ci(
            samples.due_s, samples.end_s, tokens if tokens is not None else np.full(n, np.nan), ok
        )
    gaps = samples.gaps_ms
    sources = samples.tokens_source
    return LevelSummary(
        level=level,
        concurrency=concurrency,
        request_rate=request_rate,
        n_prompts=n_prompts,
        started_at_unix=started_at_unix,
        wall_s=wall_s,
        aborted=aborted,
        recomputed_from=recomputed_from,
        n_requests=n,
        counts={s: counts.get(s, 0) for s in STATUSES},
        n_ok=int(ok.sum()),
        n_errors=n - int(ok.sum()),
        n_oom=counts.get("oom", 0),
        timeout_s=timeout_s,
        top_errors=[ErrorCount(error=e, count=c) for e, c in errors.most_common(5)],
        throughput=throughput,
        duration_s=throughput.duration_s if throughput is not None else None,
        ttft_ms=block(samples.ttft_ms, censor=True),
        e2e_ms=block(samples.e2e_ms, censor=True),
        queue_ms=block(samples.queue_ms, censor=False),
        # Two different per-token figures, named apart: the pooled inter-token latency weighs
        # every gap of every answer equally; TPOT is one number per request.
        itl_pooled_ms=(
            None
            if gaps is None or not measured
            else latency_block(gaps, np.ones(gaps.size, dtype=bool), censor=False)
        ),
        tpot_ms=block(samples.tpot_ms, censor=False),
        tokens_source=dict(Counter(str(s) for s in sources)) if sources is not None else {},
        output_tokens_total=_total(samples.output_tokens, ok) if measured else None,
        input_tokens_total=_total(samples.input_tokens, ok) if measured else None,
    )
