"""The operations sections' HTML: what each says when its piece is missing, the server metrics."""

from __future__ import annotations

import re

import pytest

from servegate.report.view_ops import capacity_html, comparison_html, fallback_html


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            capacity_html({"available": False, "reason": "no machine price: x"}),
            "No capacity plan: no machine price: x.",
        ),
        (
            fallback_html(
                {
                    "simulated": False,
                    "reason": "cannot simulate: the hosted run was skipped (no key)",
                }
            ),
            "Not simulated: the hosted run was skipped (no key).",
        ),
        (comparison_html({}), "No measured run to compare."),
    ],
    ids=["capacity", "fallback", "comparison"],
)
def test_missing_pieces_say_why(html: str, expected: str) -> None:
    assert expected in html


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
