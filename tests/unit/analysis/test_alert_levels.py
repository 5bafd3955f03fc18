"""The alerts' thresholds: from the gate level's measured figures, or from the gates alone."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from servegate.analysis.alert_levels import ERROR_SHARE_LIMIT, KV_CACHE_FULL, alert_levels
from servegate.analysis.gates import GateParams
from servegate.records.level import LevelSummary
from servegate.runs.reader import load_run
from tests.helpers import FIXTURE_RUNS, VLLM_RUN


@pytest.fixture(scope="module")
def c8() -> LevelSummary:
    """The fixture vLLM run's c8 level (24 requests, none failed, 19.29 s, TTFT p95 2758 ms;
    its metrics have before/after snapshots and deltas but no gauges sampled during it)."""
    run = load_run(FIXTURE_RUNS / VLLM_RUN)
    return next(level for level in run.levels if level.level == "c8")


def _with(level: LevelSummary, **update: Any) -> LevelSummary:
    return level.model_copy(update=update)


def _sampled(level: LevelSummary, *, waiting: float, kv: float, preempted: float) -> LevelSummary:
    """``level`` as if its gauges were scraped 9 times while it ran."""
    metrics = dict(level.metrics or {})
    metrics["delta"] = {**metrics.get("delta", {}), "vllm:num_preemptions_total": preempted}
    metrics["during"] = {
        "interval_s": 2.0,
        "samples": 9,
        "peak": {"vllm:num_requests_waiting": waiting, "vllm:kv_cache_usage_perc": kv},
        "mean": {"vllm:num_requests_waiting": waiting / 3, "vllm:kv_cache_usage_perc": kv / 2},
    }
    return _with(level, metrics=metrics)


def test_measured_peaks_give_twice_the_peak(c8: LevelSummary) -> None:
    levels = alert_levels(
        _sampled(c8, waiting=3, kv=0.12, preempted=4), GateParams(), run_id=VLLM_RUN
    )
    assert (levels.run_id, levels.level, levels.notes) == (VLLM_RUN, "c8", [])
    assert levels.waiting.value == 6
    assert "measured at most 3 waiting requests (9 scrapes)" in levels.waiting.basis
    assert levels.kv_cache.value == pytest.approx(0.24)
    assert "at most 12% KV-cache use" in levels.kv_cache.basis
    # 4 preemptions over the level's 19.293 s wall time: 0.2073/s, alert above twice that
    assert levels.preemptions_per_s.value == pytest.approx(2 * 4 / 19.293190124, rel=1e-6)
    assert "4 preemptions in 19 s" in levels.preemptions_per_s.basis


def test_a_kv_cache_peak_whose_double_is_past_full_alerts_at_full(c8: LevelSummary) -> None:
    levels = alert_levels(_sampled(c8, waiting=0, kv=0.5, preempted=0), GateParams(), run_id="r")
    assert levels.kv_cache.value == KV_CACHE_FULL
    assert "at most 50% KV-cache use; 2x that is past 90%" in levels.kv_cache.basis
    # none waiting and no preemption measured: any sustained queue or preemption alerts
    assert levels.waiting.value == 0 and "at most 0 waiting" in levels.waiting.basis
    assert levels.preemptions_per_s.value == 0
    assert "measured no preemptions in 19 s" in levels.preemptions_per_s.basis


def test_unsampled_gauges_fall_back_to_the_runbook(c8: LevelSummary) -> None:
    # The fixture run recorded snapshots but no `during` gauges.
    levels = alert_levels(c8, GateParams(), run_id=VLLM_RUN)
    assert levels.waiting.value == 0 and "did not record the waiting-requests gauge" in (
        levels.waiting.basis
    )
    assert levels.kv_cache.value == KV_CACHE_FULL and "docs/runbook.md" in levels.kv_cache.basis
    assert levels.preemptions_per_s.value == 0  # its delta says 0 preemptions


def test_latency_thresholds_are_the_gates_in_seconds_with_what_was_measured(
    c8: LevelSummary,
) -> None:
    levels = alert_levels(c8, GateParams(p95_ms=2500, p50_ms=800), run_id=VLLM_RUN)
    assert levels.latency_p95_s.value == 2.5 and levels.latency_p50_s.value == 0.8
    assert levels.latency_p95_s.basis.startswith("p95 gate 2500 ms (report parameter p95_ms")
    assert "measured e2e p95 9453 ms" in levels.latency_p95_s.basis
    assert levels.latency_metric == "e2e"
    ttft_gated = alert_levels(c8, GateParams(gate_latency_metric="ttft"), run_id=VLLM_RUN)
    assert ttft_gated.latency_metric == "ttft"
    assert "measured ttft p95 2758 ms" in ttft_gated.latency_p95_s.basis


def test_ttft_alerts_at_twice_its_p95_capped_by_the_p95_gate(c8: LevelSummary) -> None:
    # 2 x 2757.6 ms = 5.515 s: past the default 3 s gate, which caps it
    capped = alert_levels(c8, GateParams(), run_id=VLLM_RUN).ttft_p95_s
    assert capped.value == 3.0 and "which caps it" in capped.basis
    loose = alert_levels(c8, GateParams(p95_ms=10_000), run_id=VLLM_RUN).ttft_p95_s
    assert loose.value == pytest.approx(2 * 2.7576070157500226)
    assert "measured TTFT p95 2758 ms; alert above 2x that" in loose.basis


def test_an_infinite_ttft_p95_alerts_at_the_gate(c8: LevelSummary) -> None:
    assert c8.ttft_ms is not None
    p95 = dataclasses.replace(c8.ttft_ms.p95, value=float("inf"))
    failing = _with(c8, ttft_ms=c8.ttft_ms.model_copy(update={"p95": p95}))
    ttft = alert_levels(failing, GateParams(), run_id="r").ttft_p95_s
    assert ttft.value == 3.0 and "did not record a finite TTFT p95" in ttft.basis


@pytest.mark.parametrize(
    ("n_requests", "n_errors", "warn"),
    [(24, 0, 0.0), (200, 2, 0.02), (200, 5, None), (24, 2, None)],
    ids=["none-failed", "1pct", "2.5pct-double-is-the-limit", "8pct"],
)
def test_error_share_warns_at_twice_the_measured_share_below_the_limit(
    c8: LevelSummary, n_requests: int, n_errors: int, warn: float | None
) -> None:
    levels = alert_levels(
        _with(c8, n_requests=n_requests, n_errors=n_errors), GateParams(), run_id="r"
    )
    assert levels.error_share.value == ERROR_SHARE_LIMIT
    assert "the p95 gate cannot pass" in levels.error_share.basis
    if warn is None:
        assert levels.error_share_warn is None
    else:
        assert levels.error_share_warn is not None
        assert levels.error_share_warn.value == pytest.approx(warn)


def test_without_a_run_every_threshold_comes_from_the_gates_and_says_so() -> None:
    levels = alert_levels(None, GateParams(p95_ms=4000), missing="no comparable local vLLM run")
    assert (levels.run_id, levels.level) == (None, None)
    assert levels.notes == [
        "no comparable local vLLM run: thresholds from the gates and docs/runbook.md alone"
    ]
    assert levels.latency_p95_s.value == 4.0 and levels.ttft_p95_s.value == 4.0
    assert (levels.waiting.value, levels.kv_cache.value, levels.preemptions_per_s.value) == (
        0,
        KV_CACHE_FULL,
        0,
    )
    assert levels.error_share_warn is None
    for threshold in (levels.waiting, levels.kv_cache, levels.preemptions_per_s, levels.ttft_p95_s):
        assert threshold.basis.startswith("no comparable local run")


def test_a_level_without_metrics_is_noted(c8: LevelSummary) -> None:
    levels = alert_levels(_with(c8, metrics=None), GateParams(), run_id="r")
    assert levels.notes == [
        "the gate level c8 of run r has no /metrics snapshots: gauge alerts use the runbook's "
        "thresholds"
    ]
    assert levels.preemptions_per_s.basis.startswith("the gate level c8 of run r did not record")
