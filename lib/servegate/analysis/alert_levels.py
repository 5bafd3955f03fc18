"""The thresholds of the monitoring alerts, each with its basis: from the gates and the levels
a run measured.

A deployed server should page when it leaves what the report measured: more queued requests,
more KV cache in use or more preemptions than the gate level saw (``HEADROOM`` times its
peak), latency above the gates, or failures that would break the p95 gate. Each figure comes
from the report's local run at its gate level (run.json's ``levels[].metrics``: counter
deltas and the gauges' peaks while the level ran) when the run recorded it, and from the gates
and docs/runbook.md otherwise; ``Threshold.basis`` says which, in words an alert can show.
``servegate.report.alerts`` turns these into Prometheus rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from servegate.analysis.gates import GateParams
from servegate.records.level import LevelSummary

__all__ = [
    "ERROR_SHARE_LIMIT",
    "HEADROOM",
    "KV_CACHE_FULL",
    "AlertLevels",
    "Threshold",
    "alert_levels",
]

#: How far above the gate level's measured peak a gauge or rate may go before it alerts: the
#: level that passed (or was judged) is what is known to work; twice it is outside the evidence.
HEADROOM = 2.0
#: KV-cache use at which the next long prompts preempt others (docs/runbook.md, Monitoring).
KV_CACHE_FULL = 0.9
#: Failed requests count as misses in every percentile (docs/contracts.md), so above 5% failed
#: the p95 lands among the failures and the p95 gate cannot pass.
ERROR_SHARE_LIMIT = 0.05
_RUNBOOK = "docs/runbook.md"


@dataclass(frozen=True)
class Threshold:
    """An alert's threshold (alert when the series is above ``value``) and why this value."""

    value: float
    basis: str


@dataclass(frozen=True)
class AlertLevels:
    """Every alert's threshold for one report: what ``servegate.report.alerts`` writes.

    ``run_id`` and ``level`` name the measurements used (None: no comparable local run, the
    thresholds come from the gates alone); latencies are in seconds, as vLLM's histograms.
    """

    run_id: str | None
    level: str | None
    latency_metric: Literal["e2e", "ttft"]
    waiting: Threshold
    kv_cache: Threshold
    preemptions_per_s: Threshold
    latency_p95_s: Threshold
    latency_p50_s: Threshold
    ttft_p95_s: Threshold
    error_share: Threshold
    error_share_warn: Threshold | None
    notes: list[str] = field(default_factory=list)


def _during_peak(level: LevelSummary | None, name: str) -> tuple[float | None, int]:
    """The peak of gauge ``name`` while the level ran, and how many scrapes it rests on."""
    metrics: dict[str, Any] = (level.metrics if level is not None else None) or {}
    during = metrics.get("during") or {}
    peak = (during.get("peak") or {}).get(name)
    return (float(peak) if peak is not None else None), int(during.get("samples") or 0)


def _lacks(where: str, what: str) -> str:
    """The start of a basis for a figure the run did not record (``where`` "": no run)."""
    return f"{where} did not record {what}" if where else "no comparable local run"


def _waiting(level: LevelSummary | None, where: str) -> Threshold:
    peak, samples = _during_peak(level, "vllm:num_requests_waiting")
    if peak is None:
        return Threshold(
            0.0,
            f"{_lacks(where, 'the waiting-requests gauge')}; any queue held 5 minutes "
            f"means the server is saturated ({_RUNBOOK})",
        )
    return Threshold(
        HEADROOM * peak,
        f"{where} measured at most {peak:g} waiting requests ({samples} scrapes); "
        f"alert above {HEADROOM:g}x that",
    )


def _kv_cache(level: LevelSummary | None, where: str) -> Threshold:
    peak, samples = _during_peak(level, "vllm:kv_cache_usage_perc")
    full = f"above {KV_CACHE_FULL:.0%} the next long prompts preempt others ({_RUNBOOK})"
    if peak is None or peak <= 0:
        return Threshold(KV_CACHE_FULL, f"{_lacks(where, 'the KV-cache gauge')}; {full}")
    if HEADROOM * peak >= KV_CACHE_FULL:
        return Threshold(
            KV_CACHE_FULL,
            f"{where} measured at most {peak:.0%} KV-cache use; {HEADROOM:g}x that is past "
            f"{KV_CACHE_FULL:.0%}: {full}",
        )
    return Threshold(
        HEADROOM * peak,
        f"{where} measured at most {peak:.0%} KV-cache use ({samples} scrapes); "
        f"alert above {HEADROOM:g}x that",
    )


def _preemptions(level: LevelSummary | None, where: str) -> Threshold:
    metrics: dict[str, Any] = (level.metrics if level is not None else None) or {}
    count = (metrics.get("delta") or {}).get("vllm:num_preemptions_total")
    wall = level.wall_s if level is not None else None
    if count is None or not wall:
        return Threshold(
            0.0,
            f"{_lacks(where, 'a preemption count')}; any preemption means the KV cache "
            f"filled and sequences are recomputed ({_RUNBOOK})",
        )
    if count <= 0:
        return Threshold(
            0.0,
            f"{where} measured no preemptions in {wall:.0f} s; any preemption is outside what "
            f"was measured ({_RUNBOOK})",
        )
    rate = count / wall
    return Threshold(
        HEADROOM * rate,
        f"{where} measured {count:g} preemptions in {wall:.0f} s ({rate:.3g}/s); "
        f"alert above {HEADROOM:g}x that rate",
    )


def _gate_latency(
    level: LevelSummary | None, gates: GateParams, q: Literal["p95", "p50"], where: str
) -> Threshold:
    gate_ms = gates.p95_ms if q == "p95" else gates.p50_ms
    name = "p95_ms" if q == "p95" else "p50_ms"
    basis = f"{q} gate {gate_ms:g} ms (report parameter {name}, docs/contracts.md)"
    block = level.latency(gates.gate_latency_metric) if level is not None else None
    measured = block.percentile(q).value if block is not None else None
    if measured is not None:
        shown = "infinite (failures)" if math.isinf(measured) else f"{measured:.0f} ms"
        basis += f"; {where} measured {gates.gate_latency_metric} {q} {shown}"
    return Threshold(gate_ms / 1000.0, basis)


def _ttft(level: LevelSummary | None, gates: GateParams, where: str) -> Threshold:
    """Time to first token: what grows first when requests queue. ``HEADROOM`` times the gate
    level's p95, never above the p95 gate (TTFT is part of end-to-end latency)."""
    cap_s = gates.p95_ms / 1000.0
    measured = level.ttft_ms.p95.value if level is not None and level.ttft_ms else None
    if measured is None or not math.isfinite(measured):
        return Threshold(
            cap_s,
            f"{_lacks(where, 'a finite TTFT p95')}; the p95 gate {gates.p95_ms:g} ms, which "
            f"TTFT alone then breaks",
        )
    value = HEADROOM * measured / 1000.0
    if value >= cap_s:
        return Threshold(
            cap_s,
            f"{where} measured TTFT p95 {measured:.0f} ms; {HEADROOM:g}x that is past the "
            f"p95 gate {gates.p95_ms:g} ms, which caps it (TTFT is part of the latency)",
        )
    return Threshold(
        value,
        f"{where} measured TTFT p95 {measured:.0f} ms; alert above {HEADROOM:g}x that",
    )


def _errors(level: LevelSummary | None, where: str) -> tuple[Threshold, Threshold | None]:
    """The critical share (``ERROR_SHARE_LIMIT``) and a warning at ``HEADROOM`` times the gate
    level's failure share (any failure when it had none), when that is below the limit."""
    limit = Threshold(
        ERROR_SHARE_LIMIT,
        f"above {ERROR_SHARE_LIMIT:.0%} failed requests the p95 lands among failures (they "
        f"count as misses, docs/contracts.md) and the p95 gate cannot pass",
    )
    if level is None or level.n_requests <= 0:
        return limit, None
    share = level.n_errors / level.n_requests
    if share <= 0:
        return limit, Threshold(
            0.0,
            f"{where} had no failed request of {level.n_requests}; alert on failures held "
            f"5 minutes",
        )
    if HEADROOM * share >= ERROR_SHARE_LIMIT:
        return limit, None
    return limit, Threshold(
        HEADROOM * share,
        f"{where} had {level.n_errors} failed of {level.n_requests} requests ({share:.2%}); "
        f"alert above {HEADROOM:g}x that share",
    )


def alert_levels(
    level: LevelSummary | None,
    gates: GateParams,
    *,
    run_id: str | None = None,
    missing: str = "",
) -> AlertLevels:
    """The alerts' thresholds from the gate level a run measured, or the gates alone.

    :param level: the report's local run's summary of its gate level; None when there is no
        comparable local run (or it lacks that level): every threshold then comes from the gates
        and docs/runbook.md, and its basis says so.
    :param gates: the report's gate thresholds (``p95_ms``, ``p50_ms``, ``gate_latency_metric``).
    :param run_id: the run ``level`` belongs to, for the bases.
    :param missing: why ``level`` is None, for the notes (e.g. "no comparable local vLLM run").
    """
    where = (
        f"the gate level {level.level} of run {run_id or '(unnamed)'}" if level is not None else ""
    )
    if level is None:
        notes = [
            f"{missing or 'no comparable local vLLM run'}: thresholds from the gates and "
            f"{_RUNBOOK} alone"
        ]
    elif not level.metrics:
        notes = [f"{where} has no /metrics snapshots: gauge alerts use the runbook's thresholds"]
    else:
        notes = []
    error_share, error_warn = _errors(level, where)
    return AlertLevels(
        run_id=run_id if level is not None else None,
        level=level.level if level is not None else None,
        latency_metric=gates.gate_latency_metric,
        waiting=_waiting(level, where),
        kv_cache=_kv_cache(level, where),
        preemptions_per_s=_preemptions(level, where),
        latency_p95_s=_gate_latency(level, gates, "p95", where),
        latency_p50_s=_gate_latency(level, gates, "p50", where),
        ttft_p95_s=_ttft(level, gates, where),
        error_share=error_share,
        error_share_warn=error_warn,
        notes=notes,
    )
