"""The report's operations sections, built from the fixture runs: capacity, fallback, comparison."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from servegate.analysis.ops_params import DEFAULT_TIMEOUTS_MS
from servegate.report.build import build_report
from servegate.report.decision import (
    CapacityPlanEntry,
    CapacityUnavailable,
    DecisionReport,
    FallbackNotRun,
    FallbackReplay,
)
from servegate.report.view_ops import capacity_html, comparison_html, fallback_html
from tests.helpers import FIXTURE_RUNS as FIXTURES
from tests.helpers import PRICING


@pytest.fixture(scope="module")
def decision(tmp_path_factory: pytest.TempPathFactory) -> DecisionReport:
    # The fixture's hosted run was served by the calibration server as model "calibration":
    # give that name a price so the plan can be priced.
    pricing = yaml.safe_load(PRICING.read_text())
    pricing["hosted"]["calibration"] = pricing["hosted"]["gpt-4o-mini"]
    path = tmp_path_factory.mktemp("pricing") / "pricing.yaml"
    path.write_text(yaml.safe_dump(pricing))
    report = build_report(
        {
            "results_dir": str(FIXTURES),
            "history_path": "/nonexistent.csv",
            "min_prompts": 20,
            "pricing_path": str(path),
        },
        write=False,
    )
    return report.decision_report


def test_an_unpriced_hosted_model_is_the_reason_for_no_plan() -> None:
    report = build_report(
        {"results_dir": str(FIXTURES), "history_path": "/nonexistent.csv"}, write=False
    )
    capacity = report.decision_report.capacity
    assert isinstance(capacity, CapacityUnavailable)
    assert "no hosted price for model 'calibration'" in capacity.reason
    assert "No capacity plan: no hosted price: no hosted price for model" in capacity_html(capacity)


def test_the_capacity_plan_is_in_the_decision(decision: DecisionReport) -> None:
    capacity = decision.capacity
    assert isinstance(capacity, CapacityPlanEntry)
    assert capacity.status in ("gates met", "gates not met")
    items = {row.item: row.value for row in capacity.table}
    # replicas follow the printed formula from the printed figures
    peak, per, headroom = (
        items["planned peak"],
        items["per-replica capacity"],
        items["headroom"],
    )
    assert peak is not None and per is not None and headroom is not None
    assert capacity.replicas == math.ceil(round(peak / (per * (1 - headroom)), 9))
    # the fixture run is on a 2-core CPU machine: priced as the sheet's default CPU machine
    hourly = yaml.safe_load(PRICING.read_text())["machines"]["aws-c7a.large"]["hourly_usd"]
    assert capacity.machine.startswith(f"aws-c7a.large {hourly:g} USD/h")
    assert capacity.monthly_self_hosted_usd == pytest.approx(capacity.replicas * hourly * 730)
    html = capacity_html(capacity)
    assert f"<b>{capacity.replicas}</b> replica(s)" in html and "Basis" in html


def test_the_fallback_replay_is_in_the_decision(decision: DecisionReport) -> None:
    fallback = decision.fallback
    assert isinstance(fallback, FallbackReplay)
    rows = fallback.rows
    assert rows[0].timeout_ms == 0 and rows[0].fallback_rate == 1.0
    assert rows[-1].timeout_ms == math.inf and rows[-1].fallback_rate == 0.0
    # falling back sooner never sends fewer requests to the hosted API
    rates = [r.fallback_rate for r in rows]
    assert rates == sorted(rates, reverse=True)
    html = fallback_html(fallback)
    assert "Fall back after T" in html
    assert "<td>hosted only</td>" in html and "<td>local only</td>" in html


def test_a_first_run_has_no_previous_comparable_run(decision: DecisionReport) -> None:
    assert decision.comparison["local"].previous_run is None
    html = comparison_html(decision.comparison)
    assert "no previous comparable run" in html


def test_a_skipped_hosted_run_is_named_as_the_reason(tmp_path: Path) -> None:
    report = build_report(
        {
            "results_dir": str(FIXTURES),
            "history_path": "/nonexistent.csv",
            "hosted_run": "20261126T232143Z_hosted-skip_openai",
            "local_run": "20261126T231345Z_try_vllm",
        },
        write=False,
    )
    assert not report.fallback.simulated
    assert "the hosted run was skipped" in report.fallback.reason
    entry = report.decision_report.fallback
    assert isinstance(entry, FallbackNotRun) and entry.reason == report.fallback.reason


def test_the_fallback_replays_the_given_time_outs_and_the_default_ones() -> None:
    base = {"results_dir": str(FIXTURES), "history_path": "/nonexistent.csv"}
    given = build_report({**base, "fallback_ttft_ms": [1000, 250, 1000]}, write=False)
    assert given.fallback.timeouts() == [0, 250, 1000, math.inf]  # plus hosted and local only
    default = build_report(base, write=False)
    assert default.fallback.timeouts() == [0, *DEFAULT_TIMEOUTS_MS, math.inf]


def test_a_gate_level_the_local_run_lacks_leaves_the_fallback_unsimulated_not_a_crash() -> None:
    report = build_report(
        {
            "results_dir": str(FIXTURES),
            "history_path": "/nonexistent.csv",
            "gate_concurrency": 64,
        },
        write=False,
    )
    fallback = report.decision_report.fallback
    assert fallback is not None and not fallback.simulated
    assert "cannot simulate" in fallback.reason and "'c64'" in fallback.reason
    p95 = next(g for g in report.decision_report.gates if g.name == "p95_latency")
    assert p95.verdict == "INCONCLUSIVE" and "no requests at c64" in p95.note
