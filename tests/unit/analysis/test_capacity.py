"""Capacity plan: goodput per level, replicas, monthly costs and break-even, checked by hand."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from servegate.analysis.capacity import (
    CapacityParams,
    capacity_levels_frame,
    capacity_plan,
    cost_curve_frame,
    plan_frame,
)
from servegate.analysis.cost import load_pricing
from servegate.analysis.gates import GateParams, evaluate_gates
from servegate.analysis.goodput import levels_goodput
from servegate.core.errors import ConfigError
from servegate.runs.reader import load_run
from tests.helpers import FIXTURE_RUNS, VLLM_RUN

VLLM = FIXTURE_RUNS / VLLM_RUN


def level_rows(
    level: str,
    e2e_ms: list[float],
    *,
    spacing_s: float,
    status: list[str] | None = None,
    input_tokens: int = 400,
    output_tokens: int = 100,
    run_id: str = "run-a",
) -> pd.DataFrame:
    """Rows of one closed-loop level: request i is due at i x spacing and ends one spacing later,
    so the makespan is n x spacing and the level runs n / (n x spacing) = 1 / spacing req/s."""
    n = len(e2e_ms)
    due = np.arange(n) * spacing_s
    return pd.DataFrame(
        {
            "run_id": run_id,
            "level": level,
            "concurrency": int(level[1:]),
            "request_rate": math.nan,
            "prompt_id": [f"p{i}" for i in range(n)],
            "status": status or ["ok"] * n,
            "ttft_ms": [e / 4 for e in e2e_ms],
            "e2e_ms": e2e_ms,
            "due_s": due,
            "end_s": due + spacing_s,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
        }
    )


# c4: 100 requests of 100 ms over 10 s -> 10 req/s, all within the SLO: goodput 10 req/s; p50
# and p95 are 100 ms with a zero-width interval, so both gates PASS.
# c16: 100 requests over 5 s -> 20 req/s; 90 at 2,000 ms and 10 at 5,000 ms: goodput 90 / 5 s =
# 18 req/s, but p50 = 2,000 ms > 1,000 ms (interval [2000, 2000]): the level FAILs the gates.
C4 = level_rows("c4", [100.0] * 100, spacing_s=0.1)
C16 = level_rows("c16", [2000.0] * 90 + [5000.0] * 10, spacing_s=0.05)
TWO_LEVELS = pd.concat([C4, C16], ignore_index=True)


def params(**over: Any) -> CapacityParams:
    base: dict[str, Any] = {
        "peak_rps": 40.0,
        "growth_factor": 1.5,
        "headroom": 0.25,
        "peak_to_average": 4.0,
        "hourly_usd": 2.0,
        "hosted_input_usd_per_1m": 0.5,
        "hosted_output_usd_per_1m": 1.5,
    }
    return CapacityParams(**(base | over))


def test_goodput_and_gates_per_level_by_hand() -> None:
    c4, c16 = levels_goodput(TWO_LEVELS, p50_ms=1000, p95_ms=3000)
    assert (c4.level, c16.level) == ("c4", "c16")  # ordered by concurrency, not by name
    assert c4.req_per_s == pytest.approx(10.0) and c4.goodput_rps == pytest.approx(10.0)
    assert (c4.p50_verdict, c4.p95_verdict, c4.meets_gates) == ("PASS", "PASS", True)
    assert c16.req_per_s == pytest.approx(20.0)
    assert c16.goodput_rps == pytest.approx(18.0)
    assert c16.goodput_share.value == pytest.approx(0.9)
    assert c16.p50_ms.value == 2000.0 and c16.p95_ms.value == 5000.0
    assert c16.p50_verdict == "FAIL" and not c16.meets_gates


def test_failures_are_misses_in_goodput() -> None:
    # 8 requests over 4 s, 2 failed (fast errors of 10 ms are not fast answers): 6 / 4 s = 1.5.
    rows = level_rows("c2", [10.0] * 8, spacing_s=0.5, status=["ok"] * 6 + ["error"] * 2)
    (lv,) = levels_goodput(rows, p50_ms=1000, p95_ms=3000)
    assert lv.goodput_rps == pytest.approx(1.5)
    assert lv.n_ok == 6 and math.isinf(lv.p95_ms.value)


def test_plan_by_hand() -> None:
    plan = capacity_plan(TWO_LEVELS, params())
    # c16 has more goodput (18) but fails the gates: the replica is sized on c4, 10 req/s.
    assert plan.status == "gates met" and plan.gates_met and plan.level == "c4"
    assert plan.replica_rps == pytest.approx(10.0)
    # peak 40 x 1.5 = 60 req/s; each replica 10 x (1 - 0.25) = 7.5 -> ceil(60 / 7.5) = 8
    assert plan.planned_peak_rps == pytest.approx(60.0)
    assert plan.planned_average_rps == pytest.approx(15.0)  # 60 / peak-to-average 4
    assert plan.replicas == 8
    assert plan.monthly_self_hosted_usd == pytest.approx(8 * 2.0 * 730)  # 11,680 USD
    # 15 req/s x 3,600 s x 730 h x 100 tokens = 3,942M tokens a month -> 11,680 / 3,942
    assert plan.self_hosted_usd_per_1m_output_tokens == pytest.approx(11_680 / 3_942)
    # a request costs (400 x 0.5 + 100 x 1.5) / 1e6 = 350e-6 USD -> x 15 x 2,628,000 s
    assert plan.mean_input_tokens == 400 and plan.mean_output_tokens == 100
    assert plan.monthly_hosted_usd == pytest.approx(13_797.0)
    assert plan.hosted_usd_per_1m_output_tokens == pytest.approx(3.5)


def test_break_even_by_hand_and_by_brute_force() -> None:
    plan = capacity_plan(TWO_LEVELS, params())
    # c = 2 x 730 = 1,460 USD per replica-month; k = 2,628,000 x 350e-6 = 919.8 USD a month per
    # req/s of average traffic; a replica carries 7.5 / 4 = 1.875 req/s on average.
    # r = c / (k x 1.875) = 0.8466 < 1; the last step with a costlier stretch is n < 1/(1-r)
    # = 6.52, n = 6: break-even 6 x 1,460 / 919.8 = 9.5238 req/s, on 6 replicas.
    be = plan.break_even
    assert be.average_rps == pytest.approx(6 * 1460 / 919.8)
    assert be.replicas == 6 and "cheaper above 9.524 req/s" in be.reason
    grid = np.linspace(0.01, 60, 6000)
    cheaper = np.array(
        [plan.self_hosted_monthly_usd_at(a) < plan.hosted_monthly_usd_at(a) for a in grid]
    )
    above = grid > be.average_rps
    assert cheaper[above].all()  # stays cheaper above it
    assert not cheaper[~above][-1]  # and not just below it
    assert cheaper[~above].any()  # though it was cheaper in stretches below (steps)


def test_break_even_never_or_out_of_range() -> None:
    dear = capacity_plan(TWO_LEVELS, params(hourly_usd=50.0))
    assert dear.break_even.average_rps is None
    assert dear.break_even.reason.startswith("never: a replica costs 36,500 USD a month")
    free = capacity_plan(TWO_LEVELS, params(hosted_input_usd_per_1m=0, hosted_output_usd_per_1m=0))
    assert "hosted API costs nothing" in free.break_even.reason
    short = capacity_plan(TWO_LEVELS, params(break_even_max_rps=5.0))
    assert short.break_even.average_rps is None and short.break_even.searched_up_to_rps == 5.0
    assert "above the searched range (up to 5 req/s)" in short.break_even.reason


def test_when_no_level_meets_the_gates_the_plan_says_so() -> None:
    plan = capacity_plan(C16, params())
    assert plan.status == "gates not met" and not plan.gates_met
    assert plan.level == "c16" and plan.replica_rps == pytest.approx(18.0)
    assert plan.replicas == math.ceil(60 / (18 * 0.75))  # 5: still a plan, flagged
    table = plan_frame(plan).set_index("item")
    assert "GATES NOT MET" in table.loc["per-replica capacity", "basis"]


def test_ci_rule_needs_enough_requests_point_rule_does_not() -> None:
    # 20 requests: p95's upper end is unbounded below 72 requests, so the gate cannot PASS yet.
    small = level_rows("c4", [100.0] * 20, spacing_s=0.1)
    assert capacity_plan(small, params()).status == "gates not met"
    assert capacity_plan(small, params(level_rule="point")).status == "gates met"


def test_nothing_succeeded_gives_no_self_hosted_numbers() -> None:
    rows = level_rows("c4", [10.0] * 5, spacing_s=0.1, status=["error"] * 5)
    plan = capacity_plan(rows, params())
    assert plan.status == "no usable level" and plan.level is None
    assert plan.replicas is None and plan.monthly_self_hosted_usd is None
    assert plan.break_even.average_rps is None
    assert "cannot be computed: no usable load level" in plan.break_even.reason


def test_growth_average_and_token_overrides() -> None:
    plan = capacity_plan(
        TWO_LEVELS,
        params(
            growth_factor=None,
            annual_growth=0.5,
            horizon_years=2,
            peak_to_average=None,
            average_rps=10.0,
            mean_input_tokens=0,
            mean_output_tokens=200,
        ),
    )
    assert plan.growth_factor == pytest.approx(2.25)  # (1 + 0.5)^2
    assert plan.peak_to_average == pytest.approx(4.0)  # 40 / 10
    assert plan.planned_average_rps == pytest.approx(22.5)
    assert plan.hosted_usd_per_1m_output_tokens == pytest.approx(1.5)  # no input tokens
    default = capacity_plan(TWO_LEVELS, params(peak_to_average=None))
    assert default.peak_to_average == 2.0


def test_cost_curve_sits_on_the_replica_steps() -> None:
    plan = capacity_plan(TWO_LEVELS, params())
    curve = cost_curve_frame(plan, up_to_rps=10.0)
    assert list(curve.columns) == [
        "average_rps",
        "replicas",
        "self_hosted_monthly_usd",
        "hosted_monthly_usd",
    ]
    # steps every 1.875 req/s: 0, 1.875, ..., 9.375, then the end 10.0 on the 6th replica
    assert curve["average_rps"].iloc[1] == pytest.approx(1.875)
    assert list(curve["replicas"]) == [0, 1, 2, 3, 4, 5, 6]
    assert curve["hosted_monthly_usd"].iloc[-1] == pytest.approx(9198.0)


def test_tables() -> None:
    plan = capacity_plan(TWO_LEVELS, params())
    levels = capacity_levels_frame(plan)
    assert list(levels["level"]) == ["c4", "c16"]
    assert list(levels["chosen"]) == [True, False]
    assert list(levels["meets_gates"]) == [True, False]
    table = plan_frame(plan).set_index("item")
    assert table.loc["replicas", "value"] == 8
    assert table.loc["break-even average traffic", "unit"] == "req/s"


def test_rows_of_several_runs_are_refused() -> None:
    other = C4.assign(run_id="run-b")
    with pytest.raises(ConfigError, match=r"needs one run's rows, got runs \['run-a', 'run-b'\]"):
        capacity_plan(pd.concat([C4, other]), params())


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"peak_rps": 0}, r"peak_rps: Input should be greater than 0, got 0; give the forecast"),
        ({"peak_rps": -3}, r"peak_rps: .* got -3; give the forecast peak"),
        ({"headroom": 1.0}, r"headroom: Input should be less than 1, got 1.0; give the spare"),
        ({"headroom": -0.1}, r"headroom: Input should be greater than or equal to 0"),
        ({"hours_per_month": 800}, r"hours_per_month: .* use 730"),
        ({"peak_to_average": 0.5}, r"peak_to_average: .* >= 1"),
        ({"annual_growth": 0.2}, r"give growth_factor or annual_growth .*, not both"),
        ({"peak_to_average": None, "average_rps": 50}, r"average_rps 50 exceeds peak_rps 40"),
        ({"average_rps": 5}, r"give average_rps or peak_to_average, not both"),
        ({"hourly_usd": None}, r"hourly_usd: .* give one replica's machine price"),
        ({"peak": 3}, r"unknown parameter 'peak' \(known: .*peak_rps"),
    ],
)
def test_bad_params_name_the_field_and_the_fix(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        params(**over)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("invalid capacity parameters: ")


def test_missing_required_field() -> None:
    with pytest.raises(ConfigError, match=r"hourly_usd: Field required"):
        CapacityParams(peak_rps=1, hosted_input_usd_per_1m=0, hosted_output_usd_per_1m=0)


def test_fixture_run_smoke() -> None:
    run = load_run(VLLM)
    pricing = load_pricing()
    p = CapacityParams.from_prices(
        pricing.hosted["gpt-4o-mini"], pricing.machines["aws-g6.xlarge"].hourly_usd, peak_rps=5
    )
    plan = capacity_plan(run, p)
    assert plan.run_id == run.run_id and [lv.level for lv in plan.levels] == ["c1", "c8"]
    # the CPU run honestly misses the 1 s p50 gate: a flagged plan on the best goodput
    assert plan.status == "gates not met" and plan.replicas and plan.replicas >= 1
    gate = evaluate_gates(run, GateParams())
    c8 = plan.levels[1]
    p50_gate = next(g for g in gate.gates if g.name == "p50_latency")
    assert c8.p50_ms.value == pytest.approx(p50_gate.measured)  # same numbers as the gates
    saved = run.levels[1]["throughput"]["req_per_s"]["value"]
    assert c8.req_per_s == pytest.approx(saved, rel=1e-3)  # requests.csv keeps times to 1 ms
    assert len(plan_frame(plan)) == 11 and plan.monthly_hosted_usd > 0
