"""Capacity plan: replicas a traffic forecast needs, their monthly cost, and the break-even traffic.

Pure arithmetic over one recorded local run (no network, no new traffic). Per load level,
``servegate.analysis.goodput`` measures goodput, DistServe-style (requests per second that
succeeded *and* met the latency objective, gate metric <= ``p95_ms``), and whether the level as
a whole passes the p50/p95 gates. One replica sustains the goodput of the best level that meets
the gates; when none does, the best goodput is used and the plan says "gates not met". Then

- replicas = ceil(peak x growth / (replica_rps x (1 - headroom))), always on;
- self-hosted USD/month = replicas x hourly price x hours per month (730);
- hosted USD/month = average req/s x seconds a month x (mean input x input price + mean output
  x output price) per request, token means measured at the chosen level;
- break-even: the lowest average traffic above which self-hosting stays cheaper (below).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from servegate.analysis.cost import hosted_cost_per_1m_output_tokens
from servegate.analysis.goodput import LevelGoodput, levels_goodput, mean_ok
from servegate.analysis.ops_params import DEFAULT_PEAK_TO_AVERAGE, CapacityParams
from servegate.analysis.searched import SearchedCapacity
from servegate.core.errors import ConfigError
from servegate.runs.reader import RunData

__all__ = [
    "DEFAULT_PEAK_TO_AVERAGE",
    "BreakEven",
    "CapacityParams",
    "CapacityPlan",
    "LevelGoodput",
    "capacity_levels_frame",
    "capacity_plan",
    "cost_curve_frame",
    "plan_frame",
]


@dataclass(frozen=True)
class BreakEven:
    """Lowest average req/s above which self-hosting stays cheaper; None says why in ``reason``."""

    average_rps: float | None
    replicas: int | None
    searched_up_to_rps: float
    reason: str


_PlanStatus = Literal["gates met", "gates not met", "no usable level"]


@dataclass(frozen=True)
class CapacityPlan:
    """The plan. ``status``: "gates met", "gates not met" (best goodput used) or "no usable
    level" (nothing succeeded: no replica capacity, self-hosted cost or break-even). Traffic is
    in req/s, money in USD; ``planned_*`` include growth; costs are None where not computable.
    """

    params: CapacityParams
    run_id: str
    levels: tuple[LevelGoodput, ...]
    status: _PlanStatus
    level: str | None
    replica_rps: float | None
    growth_factor: float
    peak_to_average: float
    planned_peak_rps: float
    planned_average_rps: float
    mean_input_tokens: float | None
    mean_output_tokens: float | None
    replicas: int | None = None
    monthly_self_hosted_usd: float | None = None
    self_hosted_usd_per_1m_output_tokens: float | None = None
    monthly_hosted_usd: float | None = None
    hosted_usd_per_1m_output_tokens: float | None = None
    break_even: BreakEven = BreakEven(None, None, 0.0, "not computed")
    # How the per-replica capacity was found: a capacity search, or the best level listed.
    capacity_basis: str = ""

    @property
    def gates_met(self) -> bool:
        return self.status == "gates met"

    @property
    def average_rps_per_replica(self) -> float | None:
        """Average traffic one replica carries at the planned headroom and peak-to-average."""
        if not self.replica_rps:
            return None
        return self.replica_rps * (1 - self.params.headroom) / self.peak_to_average

    def replicas_at(self, average_rps: float) -> int | None:
        """Replicas for a given average traffic (its peak = average x peak-to-average)."""
        per = self.average_rps_per_replica
        # round() first: 60 / 7.5 must give 8, not 9 from a last-bit float error
        return None if per is None else math.ceil(round(average_rps / per, 9))

    def self_hosted_monthly_usd_at(self, average_rps: float) -> float | None:
        n = self.replicas_at(average_rps)
        return None if n is None else n * self.params.hourly_usd * self.params.hours_per_month

    def hosted_monthly_usd_at(self, average_rps: float) -> float | None:
        usd = self._hosted_usd_per_request()
        return None if usd is None else average_rps * self.seconds_per_month * usd

    @property
    def seconds_per_month(self) -> float:
        return 3600.0 * self.params.hours_per_month

    def _hosted_usd_per_request(self) -> float | None:
        if self.mean_input_tokens is None or self.mean_output_tokens is None:
            return None
        p = self.params
        return (
            self.mean_input_tokens * p.hosted_input_usd_per_1m
            + self.mean_output_tokens * p.hosted_output_usd_per_1m
        ) / 1e6


def _rows_of(source: RunData | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if isinstance(source, RunData):
        return source.requests, source.run_id
    ids = list(source["run_id"].unique()) if len(source) else []
    if len(ids) > 1:
        raise ConfigError(
            f"capacity_plan needs one run's rows, got runs {ids}; pass report.local or "
            "requests[requests['run_id'] == '<local run id>']"
        )
    return source, str(ids[0]) if ids else ""


def _break_even(c: float, k: float, per: float, up_to: float) -> BreakEven:
    """Break-even of a step cost n(a) x c against a line k x a, n(a) = ceil(a / per).

    On the n-th step (a in ((n-1) per, n per]) self-hosting is cheaper for a > n c / k, which
    needs r = c / (k per) < 1; the step then holds a stretch where hosted is cheaper exactly when
    n c / k > (n - 1) per, i.e. n < 1 / (1 - r). The last such step M gives the break-even M c / k.
    """
    if k <= 0:
        return BreakEven(None, None, up_to, "never: the hosted API costs nothing at these prices")
    if c >= k * per:
        return BreakEven(
            None,
            None,
            up_to,
            f"never: a replica costs {c:,.0f} USD a month, while the average traffic it carries "
            f"({per:.3g} req/s) costs {k * per:,.0f} USD a month hosted",
        )
    m = max(1, math.ceil(1.0 / (1.0 - c / (k * per))) - 1)

    def gap(n: int) -> bool:  # the n-th step has traffic where hosted is cheaper
        return n * c > k * (n - 1) * per

    while gap(m + 1):  # correct a float error in m by a step either way
        m += 1
    while m > 1 and not gap(m):
        m -= 1
    rps = m * c / k
    if rps > up_to:
        return BreakEven(None, None, up_to, f"above the searched range (up to {up_to:.4g} req/s)")
    return BreakEven(rps, m, up_to, f"self-hosting is cheaper above {rps:.4g} req/s average")


def capacity_plan(
    source: RunData | pd.DataFrame,
    params: CapacityParams,
    *,
    searched: SearchedCapacity | None = None,
    unsearched_reason: str = "",
) -> CapacityPlan:
    """The capacity plan of one local run (a ``RunData`` or its requests.csv rows).

    One replica carries ``searched``'s capacity when given (a capacity search at the same
    limits, ``servegate.analysis.searched``); else the best level's goodput, and
    ``unsearched_reason`` (why no search was used) joins the basis.

    Token means (for both costs) come from the chosen level's successful requests, the level
    whose req/s they produced, unless ``params`` give them. The planned average traffic is the
    planned peak ÷ peak-to-average; the break-even is searched up to
    ``params.break_even_max_rps`` (default 100x the planned average).

    :raises ConfigError: when the rows hold several runs.
    """
    rows, run_id = _rows_of(source)
    levels = levels_goodput(
        rows,
        p50_ms=params.p50_ms,
        p95_ms=params.p95_ms,
        latency_metric=params.latency_metric,
        rule=params.level_rule,
    )
    status, chosen = _choose_level(levels)
    mean_in, mean_out = _token_means(rows, chosen, params)
    peak = params.peak_rps * params.growth
    level, replica_rps = (chosen.level, chosen.goodput_rps) if chosen else (None, None)
    basis = "best listed level" + (
        f"; no search used: {unsearched_reason}" if unsearched_reason else ""
    )
    if searched is not None:
        status, level, replica_rps = (
            "gates met",
            f"c{searched.concurrency}",
            searched.req_per_s.value,
        )
        basis = searched.describe()
    plan = CapacityPlan(
        params=params,
        run_id=run_id,
        levels=tuple(levels),
        status=status,
        level=level,
        replica_rps=replica_rps,
        capacity_basis=basis,
        growth_factor=params.growth,
        peak_to_average=params.ratio,
        planned_peak_rps=peak,
        planned_average_rps=peak / params.ratio,
        mean_input_tokens=mean_in,
        mean_output_tokens=mean_out,
    )
    return _with_costs(plan)


def _choose_level(levels: list[LevelGoodput]) -> tuple[_PlanStatus, LevelGoodput | None]:
    """The plan's status and the level one replica is sized on: the best goodput among the
    levels that meet the gates, else among those with any goodput, else none."""
    usable = [lv for lv in levels if lv.goodput_rps]
    meeting = [lv for lv in usable if lv.meets_gates]
    status: _PlanStatus = (
        "gates met" if meeting else "gates not met" if usable else "no usable level"
    )
    chosen = max(meeting or usable, key=lambda lv: lv.goodput_rps or 0.0, default=None)
    return status, chosen


def _token_means(
    rows: pd.DataFrame, chosen: LevelGoodput | None, params: CapacityParams
) -> tuple[float | None, float | None]:
    """Mean input and output tokens a request: from ``params``, else measured at ``chosen``
    (every level when none was chosen or it had no success)."""
    whole = rows if chosen is None or chosen.n_ok == 0 else rows[rows["level"] == chosen.level]
    mean_in, mean_out = params.mean_input_tokens, params.mean_output_tokens
    mean_in = mean_in if mean_in is not None else mean_ok(whole, "input_tokens")
    mean_out = mean_out or mean_ok(whole, "output_tokens")
    return mean_in, mean_out


def _with_costs(plan: CapacityPlan) -> CapacityPlan:
    """``plan`` with its replicas, both monthly costs, both costs per 1M output tokens and the
    break-even, all at its planned average traffic."""
    params, avg = plan.params, plan.planned_average_rps
    mean_in, mean_out = plan.mean_input_tokens, plan.mean_output_tokens
    monthly = plan.self_hosted_monthly_usd_at(avg)
    tokens_month = avg * plan.seconds_per_month * mean_out if mean_out else None
    prices = (params.hosted_input_usd_per_1m, params.hosted_output_usd_per_1m)
    # means, not counts, but the formula holds for any token mix
    hosted_1m = hosted_cost_per_1m_output_tokens(mean_in, mean_out, *prices)  # type: ignore[arg-type]
    return replace(
        plan,
        replicas=plan.replicas_at(avg),
        monthly_self_hosted_usd=monthly,
        self_hosted_usd_per_1m_output_tokens=(
            monthly / tokens_month * 1e6 if monthly is not None and tokens_month else None
        ),
        monthly_hosted_usd=plan.hosted_monthly_usd_at(avg),
        hosted_usd_per_1m_output_tokens=hosted_1m,
        break_even=_plan_break_even(plan),
    )


def _plan_break_even(plan: CapacityPlan) -> BreakEven:
    """The break-even of ``plan``, searched up to ``break_even_max_rps`` (default 100x the
    planned average), or why it cannot be computed."""
    params = plan.params
    up_to = params.break_even_max_rps or 100.0 * plan.planned_average_rps
    per, k = plan.average_rps_per_replica, plan.hosted_monthly_usd_at(1.0)
    if per is None or k is None:
        why = "no usable load level" if per is None else "no token counts measured"
        return BreakEven(None, None, up_to, f"cannot be computed: {why}")
    return _break_even(params.hourly_usd * params.hours_per_month, k, per, up_to)


def capacity_levels_frame(plan: CapacityPlan) -> pd.DataFrame:
    """One row per load level: throughput, goodput, p50/p95 with verdicts, and the chosen one."""
    return pd.DataFrame(
        [
            {
                "level": lv.level,
                "concurrency": lv.concurrency,
                "n_requests": lv.n_requests,
                "n_ok": lv.n_ok,
                "req_per_s": lv.req_per_s,
                "goodput_rps": lv.goodput_rps,
                "goodput_share": lv.goodput_share.value,
                f"{plan.params.latency_metric}_p50_ms": lv.p50_ms.value,
                f"{plan.params.latency_metric}_p95_ms": lv.p95_ms.value,
                "p50_verdict": lv.p50_verdict,
                "p95_verdict": lv.p95_verdict,
                "meets_gates": lv.meets_gates,
                "chosen": lv.level == plan.level,
            }
            for lv in plan.levels
        ]
    )


def plan_frame(plan: CapacityPlan) -> pd.DataFrame:
    """The plan as a table for a notebook or report: ``item, value, unit, basis``."""
    p, be = plan.params, plan.break_even
    flag = "" if plan.gates_met else f" ({plan.status.upper()})"
    growth = (
        "growth_factor parameter"
        if p.growth_factor is not None
        else f"(1 + {p.annual_growth:g}) ^ {p.horizon_years:g} years"
    )
    machine = f"replicas x {p.hourly_usd:g} USD/h x {p.hours_per_month:g} h"
    prices = f"{p.hosted_input_usd_per_1m:g} in / {p.hosted_output_usd_per_1m:g} out USD per 1M"
    mix = f"{_num(plan.mean_input_tokens)} in / {_num(plan.mean_output_tokens)} out tokens"
    rows = [
        (
            "per-replica capacity",
            plan.replica_rps,
            "req/s",
            f"goodput at {plan.level}{flag} ({plan.capacity_basis or 'best listed level'})",
        ),
        ("growth factor", plan.growth_factor, "x", growth),
        ("planned peak", plan.planned_peak_rps, "req/s", f"{p.peak_rps:g} req/s x growth"),
        ("planned average", plan.planned_average_rps, "req/s", f"peak ÷ {plan.peak_to_average:g}"),
        ("headroom", p.headroom, "share", "spare share of each replica at peak"),
        ("replicas", plan.replicas, "replicas", "ceil(peak / (capacity x (1 - headroom)))"),
        ("self-hosted monthly", plan.monthly_self_hosted_usd, "USD/month", machine),
        (
            "self-hosted per 1M output tokens",
            plan.self_hosted_usd_per_1m_output_tokens,
            "USD",
            "monthly cost ÷ output tokens of the planned average traffic",
        ),
        ("hosted monthly", plan.monthly_hosted_usd, "USD/month", f"{prices}, {mix} a request"),
        ("hosted per 1M output tokens", plan.hosted_usd_per_1m_output_tokens, "USD", prices),
        ("break-even average traffic", be.average_rps, "req/s", be.reason),
    ]
    return pd.DataFrame(rows, columns=["item", "value", "unit", "basis"])


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def cost_curve_frame(
    plan: CapacityPlan, up_to_rps: float | None = None, *, max_points: int = 2000
) -> pd.DataFrame:
    """Monthly self-hosted and hosted cost against average traffic, for the cost figure.

    Rows sit at the replica steps (0, per, 2 per, ...) plus ``up_to_rps``, so a "pre" step plot
    is exact; past ``max_points`` steps an even grid is used. Default range: 1.5x the larger of
    the planned average and the break-even. Columns: ``average_rps, replicas,
    self_hosted_monthly_usd, hosted_monthly_usd`` (NaN where not computable).
    """
    be = plan.break_even.average_rps or 0.0
    top = up_to_rps or 1.5 * max(plan.planned_average_rps, be)
    per = plan.average_rps_per_replica
    if per is not None and top / per <= max_points:
        x = np.append(np.arange(0.0, top, per), top)
    else:
        x = np.linspace(0.0, top, max_points + 1)

    def cost(fn: Any, a: float) -> float:
        value = fn(a)
        return math.nan if value is None else float(value)

    return pd.DataFrame(
        {
            "average_rps": x,
            "replicas": [plan.replicas_at(a) for a in x],
            "self_hosted_monthly_usd": [cost(plan.self_hosted_monthly_usd_at, a) for a in x],
            "hosted_monthly_usd": [cost(plan.hosted_monthly_usd_at, a) for a in x],
        }
    )
