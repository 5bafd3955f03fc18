"""The operations sections' HTML: what each says when its piece is missing, the server metrics."""

from __future__ import annotations

import math
import re

import pytest

from servegate.report.decision import (
    CapacityUnavailable,
    ChangeRow,
    FallbackNotRun,
    RefusedRun,
    RunComparison,
)
from servegate.report.view_ops import capacity_html, comparison_html, fallback_html


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            capacity_html(CapacityUnavailable(available=False, reason="no machine price: x")),
            "No capacity plan: no machine price: x.",
        ),
        (
            fallback_html(
                FallbackNotRun(
                    simulated=False,
                    reason="cannot simulate: the hosted run was skipped (no key)",
                )
            ),
            "Not simulated: the hosted run was skipped (no key).",
        ),
        (comparison_html({}), "No measured run to compare."),
        (capacity_html(None), "No capacity plan: not computed."),
        (fallback_html(None), "Not simulated: not computed."),
    ],
    ids=["capacity", "fallback", "comparison", "capacity-none", "fallback-none"],
)
def test_missing_pieces_say_why(html: str, expected: str) -> None:
    assert expected in html


def test_the_comparison_table_puts_the_gate_level_first_and_flags_regressions() -> None:
    def change(
        level: str, metric: str, previous: float, current: float, low: float | None
    ) -> ChangeRow:
        return ChangeRow(
            level=level,
            metric=metric,
            previous_ms=previous,
            current_ms=current,
            change_ms=current - previous,
            change_ci_low_ms=low,
            change_ci_high_ms=current - previous + 50,
            relative_change=(current - previous) / previous,
            verdict="regression" if low is not None and low > 0 else "no clear change",
        )

    comparison = RunComparison(
        current_run="now",
        previous_run="then",
        message="compared with then",
        changes=[
            change("c1", "e2e p95", 1000, 1010, None),
            change("c8", "e2e p95", 1000, math.inf, 200),
        ],
        regressions=["c8 e2e p95"],
        refused=[],
        context=["engine version: 0.7 now, 0.6 then"],
    )
    html = comparison_html({"local": comparison}, gate_level="c8")
    rows = re.findall(r"<tr><td>(c\d+)</td><td>[^<]*</td>(.*?)</tr>", html)
    assert [level for level, _ in rows] == ["c8", "c1"]
    c8 = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", rows[0][1])]
    assert c8 == [
        "1.00 s",
        "∞ (failures)",
        "+∞ (failures)",
        "+200 ms to +∞ (failures)",
        "regression",
    ]
    c1 = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", rows[1][1])]
    assert c1[2:4] == ["+10 ms (+1%)", "unbounded below to +60 ms"]
    assert "<b>Regression</b> in c8 e2e p95." in html and "engine version" in html
    refused = RunComparison(
        current_run="now",
        previous_run=None,
        message="no previous comparable run",
        changes=[],
        regressions=[],
        refused=[RefusedRun(run_id="old", reasons=["model differs", "max_tokens differs"])],
        context=[],
    )
    assert "<li><code>old</code>: model differs; max_tokens differs</li>" in comparison_html(
        {"local": refused}
    )


def test_the_server_metrics_table_shows_counters_and_gauge_peaks() -> None:
    from servegate.records.level import LevelSummary
    from servegate.report.view_ops import server_metrics_html

    level = {
        "level": "c16",
        "concurrency": 16,
        "request_rate": None,
        "n_requests": 64,
        "n_ok": 64,
        "n_errors": 0,
        "n_oom": 0,
        "counts": {"ok": 64},
        "metrics": {
            "delta": {
                "vllm:request_success_total": 64.0,
                "vllm:generation_tokens_total": 2048.0,
                "vllm:num_preemptions_total": 3.0,
            },
            "during": {
                "samples": 21,
                "peak": {
                    "vllm:num_requests_running": 8.0,
                    "vllm:num_requests_waiting": 12.0,
                    "vllm:kv_cache_usage_perc": 1.0,
                },
            },
        },
    }
    html = server_metrics_html([LevelSummary.model_validate(level)])
    cells = re.findall(r"<td>([^<]*)</td>", html)
    assert cells == ["c16", "64", "64", "2,048", "3", "8", "12", "100%", "21"]
    assert "docs/runbook.md" in html
    hosted = server_metrics_html([LevelSummary.model_validate({**level, "metrics": None})])
    assert "No server metrics for this run" in hosted
