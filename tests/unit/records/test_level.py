"""The one level-summary builder: every source gives the same shape, failures stay misses."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from servegate.core.fsutil import json_safe
from servegate.records.level import LevelSamples, LevelSummary, summarize_level
from servegate.records.request import RequestRecord


def _record(i: int, *, ok: bool = True) -> RequestRecord:
    return RequestRecord(
        run_id="r",
        backend="vllm",
        model="m",
        concurrency=2,
        request_rate=None,
        prompt_id=f"p{i}",
        status="ok" if ok else "timeout",
        http_status=200 if ok else None,
        error="" if ok else "no answer within 5 s",
        queue_ms=0.5,
        ttft_ms=100.0 + i if ok else None,
        e2e_ms=1000.0 + 10 * i if ok else 5000.0,
        itl_mean_ms=20.0 if ok else None,
        tpot_ms=20.0 if ok else None,
        input_tokens=10,
        output_tokens=40 if ok else None,
        tokens_source="usage" if ok else "none",
        level="c2",
        seq=i,
        category="x",
        due_s=i * 0.5,
        end_s=i * 0.5 + 1.0,
        itl_max_ms=25.0 if ok else None,
        n_content_chunks=40 if ok else 0,
        finish_reason="stop" if ok else None,
        gaps_ms=[20.0] * 39 if ok else [],
    )


def _summary(records: list[RequestRecord]) -> LevelSummary:
    return summarize_level(
        LevelSamples.from_records(records),
        level="c2",
        concurrency=2,
        request_rate=None,
        timeout_s=5.0,
    )


def test_counts_blocks_and_totals_of_a_live_level() -> None:
    summary = _summary([_record(i, ok=i % 5 != 0) for i in range(20)])
    assert (summary.n_requests, summary.n_ok, summary.n_errors) == (20, 16, 4)
    assert summary.counts == {"ok": 16, "error": 0, "timeout": 4, "oom": 0, "cancelled": 0}
    assert summary.e2e_ms is not None and summary.e2e_ms.n == 20
    assert summary.e2e_ms.p95.value == math.inf  # 20% misses: p95 is one of them
    assert summary.itl_pooled_ms is not None and summary.itl_pooled_ms.n == 16 * 39
    assert summary.output_tokens_total == 16 * 40 and summary.input_tokens_total == 16 * 10
    assert summary.tokens_source == {"usage": 16, "none": 4}
    assert [(e.error, e.count) for e in summary.top_errors] == [("no answer within 5 s", 4)]
    assert summary.throughput is not None and summary.duration_s == pytest.approx(10.5)


def test_an_empty_level_has_every_key_and_no_value() -> None:
    summary = _summary([])
    assert summary.n_requests == 0 and summary.counts["ok"] == 0
    assert summary.e2e_ms is None and summary.throughput is None and summary.itl_pooled_ms is None
    assert summary.output_tokens_total is None and summary.top_errors == []
    # The same keys as a measured level: readers never meet a missing key.
    assert set(summary.to_json()) == set(_summary([_record(0)]).to_json())


def test_what_the_source_never_measured_is_none_not_zero() -> None:
    samples = LevelSamples(
        status=np.array(["ok", "ok", "error"], dtype=object),
        error=np.array(["", "", "HTTP 500"], dtype=object),
        e2e_ms=np.array([900.0, 1100.0, np.nan]),
    )
    summary = summarize_level(
        samples, level="imported", concurrency=None, request_rate=None, timeout_s=None
    )
    assert summary.e2e_ms is not None and summary.e2e_ms.p50.value == pytest.approx(1100.0)
    assert summary.ttft_ms is None and summary.throughput is None and summary.queue_ms is None
    assert summary.output_tokens_total is None and summary.tokens_source == {}


def test_a_summary_survives_a_round_trip_through_json() -> None:
    summary = _summary([_record(i, ok=i % 5 != 0) for i in range(20)])
    text = json.dumps(json_safe(summary.to_json()), allow_nan=False)
    assert '"inf"' in text  # +inf is written as the string "inf"
    again = LevelSummary.model_validate(json.loads(text))
    assert again == summary


@pytest.mark.parametrize(
    ("value", "problem"), [("fast", "got the string 'fast'"), (True, "got the boolean True")]
)
def test_a_hand_edited_number_is_refused(value: object, problem: str) -> None:
    data = json.loads(json.dumps(json_safe(_summary([_record(0)]).to_json())))
    data["e2e_ms"]["p95"]["value"] = value
    with pytest.raises(ValidationError, match=problem):
        LevelSummary.model_validate(data)


def test_latency_and_percentile_names_are_checked() -> None:
    summary = _summary([_record(0)])
    with pytest.raises(ValueError, match="'ttft' or 'e2e'"):
        summary.latency("itl")
    assert summary.e2e_ms is not None
    with pytest.raises(ValueError, match="p50, p90, p95, p99"):
        summary.e2e_ms.percentile("p42")
