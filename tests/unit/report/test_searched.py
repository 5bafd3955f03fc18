"""The report sizes one replica on a comparable capacity search, and says when it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.analysis.capacity import capacity_plan, plan_frame
from servegate.analysis.cost import load_pricing
from servegate.analysis.searched import searched_capacity
from servegate.report.build import build_report, select_runs
from servegate.report.cost import local_cost
from servegate.runs.reader import list_runs, load_run
from tests.helpers import PRICING, VLLM_RUN, capacity_params, clone_run, copy_fixtures, edit_json

SEARCH_RUN = "20261127T010000Z_search_vllm"


def _estimate(value: float, low: float, high: float, unit: str) -> dict[str, object]:
    return {"value": value, "ci_low": low, "ci_high": high, "n": 120, "confidence": 0.95,
            "method": "batch-means", "unit": unit}  # fmt: skip


def _search_block(p95_ms: float = 3000, p50_ms: float = 1000) -> dict[str, object]:
    """run.json's search block as jobs.search writes it, for a search that found c12."""
    return {
        "max_passing_concurrency": 12,
        "min_failing_concurrency": 13,
        "inconclusive": [],
        "treatment": "INCONCLUSIVE counts as not passing",
        "levels": [],
        "requests_sent": 700,
        "limits": {
            "p95_ms": p95_ms,
            "p50_ms": p50_ms,
            "gate_latency_metric": "e2e",
            "confidence": 0.95,
            "confidence_per_look": 0.994,
            "looks": [20, 115, 300],
            "min_requests": 20,
            "max_requests": 300,
            "min_concurrency": 1,
            "max_concurrency": 64,
        },
        "capacity": {
            "concurrency": 12,
            "req_per_s": _estimate(3.5, 3.2, 3.8, "req/s"),
            "output_tok_per_s": _estimate(110.0, 100.0, 120.0, "tok/s"),
        },
        "complete": True,
    }


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """The fixture runs, and a search on the same model, prompts and hardware, newer."""
    copy_fixtures(tmp_path)
    folder = clone_run(VLLM_RUN, tmp_path, SEARCH_RUN)
    edit_json(folder, search=_search_block(), created_at="2026-11-27T01:00:00+00:00")
    return tmp_path


def test_the_report_keeps_the_benchmark_as_its_local_run(results: Path) -> None:
    local, _, _ = select_runs(results)
    assert local is not None and local.run_id == VLLM_RUN


def test_a_comparable_search_at_the_same_limits_sizes_the_plan_and_the_cost(
    results: Path,
) -> None:
    local = load_run(results / VLLM_RUN)
    runs = list_runs(results)[0]
    found, why = searched_capacity(local, runs, p95_ms=3000, p50_ms=1000, metric="e2e")
    assert found is not None and why == ""
    assert (found.run_id, found.concurrency, found.req_per_s.value) == (SEARCH_RUN, 12, 3.5)
    plan = capacity_plan(local, capacity_params(), searched=found)
    assert plan.replica_rps == 3.5 and plan.level == "c12" and plan.gates_met
    basis = plan_frame(plan).set_index("item").loc["per-replica capacity", "basis"]
    assert f"capacity search {SEARCH_RUN}: c12, 3.5 req/s [3.2-3.8]" in basis
    cost = local_cost(
        local, load_pricing(PRICING), hourly_usd=2.0, p50_ms=1000, p95_ms=3000, metric="e2e",
        searched=found,
    )  # fmt: skip
    assert cost.output_tok_per_s == 110.0 and cost.level == "c12"
    assert f"capacity search {SEARCH_RUN}" in cost.basis


def test_a_search_at_other_limits_is_not_used_and_the_plan_says_why(results: Path) -> None:
    edit_json(results / SEARCH_RUN, search=_search_block(p95_ms=5000))
    local = load_run(results / VLLM_RUN)
    found, why = searched_capacity(
        local, list_runs(results)[0], p95_ms=3000, p50_ms=1000, metric="e2e"
    )
    assert found is None
    assert why == (
        f"the newest comparable capacity search ({SEARCH_RUN}) used other limits "
        "(p95 5000 ms, p50 1000 ms, e2e)"
    )
    plan = capacity_plan(local, capacity_params(), searched=None, unsearched_reason=why)
    basis = plan_frame(plan).set_index("item").loc["per-replica capacity", "basis"]
    assert "no search used: the newest comparable capacity search" in basis


def test_the_decision_json_carries_the_searched_basis(results: Path, tmp_path: Path) -> None:
    report = build_report(
        {"results_dir": str(results), "report_dir": str(tmp_path / "reports"),
         "pricing_path": str(PRICING), "poc_summaries": ""},
        write=False,
    )  # fmt: skip
    local_row = report.cost[0]
    assert local_row.level == "c12" and SEARCH_RUN in local_row.basis
    saved = report.decision_report.model_dump(mode="json")
    assert any(SEARCH_RUN in row["basis"] for row in saved["cost"])
