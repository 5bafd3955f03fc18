"""Capacity plan: replicas, monthly costs and break-even, checked by hand."""

from __future__ import annotations

import math

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
from servegate.core.errors import ConfigError
from servegate.runs.reader import load_run
from tests.helpers import C4, C16, FIXTURE_RUNS, TWO_LEVELS, VLLM_RUN, level_rows
from tests.helpers import capacity_params as params

VLLM = FIXTURE_RUNS / VLLM_RUN


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
    throughput = run.levels[1].throughput
    assert throughput is not None
    saved = throughput.req_per_s.value
    assert c8.req_per_s == pytest.approx(saved, rel=1e-3)  # requests.csv keeps times to 1 ms
    assert len(plan_frame(plan)) == 11 and plan.monthly_hosted_usd > 0
