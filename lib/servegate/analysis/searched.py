"""The searched capacity a report may size on: from the newest capacity search comparable with
its local run.

A capacity search (``servegate.jobs.search``) measures what one replica carries within the
latency limits; that beats "the best of the levels a benchmark happened to list". The report's
capacity plan and cost per 1M tokens use it when the newest comparable run with a search
(same backend, model weights, hardware class, prompt set and answer cap as the local run,
``servegate.analysis.compare``) found a capacity at the report's own limits; otherwise they keep
the best-level rule and say why the search was not used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from servegate.analysis.compare import differences
from servegate.core.stats import Estimate
from servegate.runs.reader import RunData

__all__ = ["SearchedCapacity", "searched_capacity"]


@dataclass(frozen=True)
class SearchedCapacity:
    """The capacity of one replica found by a search: goodput at its highest passing level."""

    run_id: str
    concurrency: int
    req_per_s: Estimate
    output_tok_per_s: Estimate

    def describe(self) -> str:
        rps = self.req_per_s
        ends = ""
        if rps.ci_low is not None and rps.ci_high is not None:
            ends = f" [{rps.ci_low:.3g}-{rps.ci_high:.3g}]"
        return (
            f"capacity search {self.run_id}: c{self.concurrency}, "
            f"{rps.value or 0:.3g} req/s{ends} within the limits"
        )


def searched_capacity(
    local: RunData | None,
    runs: Iterable[RunData],
    *,
    p95_ms: float,
    p50_ms: float,
    metric: str,
) -> tuple[SearchedCapacity | None, str]:
    """The capacity to size on, or None and why not (for the report to say).

    :param local: the report's local run; the search must be comparable with it.
    :param runs: every run of the results folder (``list_runs``).
    """
    if local is None:
        return None, "no local run"
    searches = sorted(
        (r for r in runs if r.record.search is not None and r.state == "complete"),
        key=lambda r: r.created_at,
        reverse=True,
    )
    newest = next((r for r in searches if not differences(local, r)), None)
    if newest is None or newest.record.search is None:
        return None, "no complete capacity search comparable with the local run"
    found = newest.record.search
    lim = found.limits
    if (lim.p95_ms, lim.p50_ms, lim.gate_latency_metric) != (p95_ms, p50_ms, metric):
        return None, (
            f"the newest comparable capacity search ({newest.run_id}) used other limits "
            f"(p95 {lim.p95_ms:g} ms, p50 {lim.p50_ms:g} ms, {lim.gate_latency_metric})"
        )
    if found.capacity is None or not found.capacity.req_per_s.value:
        return None, f"the newest comparable capacity search ({newest.run_id}) found none"
    cap = found.capacity
    return SearchedCapacity(newest.run_id, cap.concurrency, cap.req_per_s, cap.output_tok_per_s), ""
