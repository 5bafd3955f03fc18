"""The self-test's comparison of client timings with the calibration server's truth."""

from __future__ import annotations

import pytest

from servegate.calibration.app import TruthRow
from servegate.jobs.selftest import compare_to_truth


def _truth(ttft_ms: float | None, e2e_ms: float) -> TruthRow:
    return TruthRow(
        index=0,
        request_id="cal-000000",
        stream=True,
        fault=None,
        scripted_ttft_ms=ttft_ms,
        scripted_e2e_ms=e2e_ms,
        observed_ttft_ms=ttft_ms,
        observed_e2e_ms=e2e_ms,
        scripted_output_tokens=4,
        output_tokens=4,
        scripted_finish_reason="stop",
        interrupted=False,
        arrival_unix_s=0.0,
    )


def test_the_errors_are_client_minus_server_percentiles() -> None:
    truth = [_truth(t, t * 10) for t in (10.0, 20.0, 30.0, 40.0)]
    errors = compare_to_truth([11.0, 21.0, 31.0, 41.0], [99.0, 199.0, 299.0, 399.0], truth)
    assert set(errors) == {"ttft_p50", "ttft_p95", "e2e_p50", "e2e_p95"}
    assert errors["ttft_p50"] == pytest.approx(1.0) and errors["ttft_p95"] == pytest.approx(1.0)
    assert errors["e2e_p50"] == pytest.approx(-1.0) and errors["e2e_p95"] == pytest.approx(-1.0)


def test_a_truth_row_without_content_cannot_be_compared() -> None:
    with pytest.raises(ValueError, match="a truth row has no observed_ttft_ms"):
        compare_to_truth([1.0, 2.0], [3.0, 4.0], [_truth(1.0, 3.0), _truth(None, 4.0)])
