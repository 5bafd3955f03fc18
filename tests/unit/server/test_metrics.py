"""Parsing vLLM's /metrics (fixture captured from the real vLLM 0.32.0 CPU server)."""

from __future__ import annotations

import re

import pytest

from servegate.server.metrics import (
    KEY_VLLM_METRICS,
    LEVEL_COUNTERS,
    level_metrics,
    parse_metrics,
)
from tests.helpers import FIXTURES


def test_real_vllm_metrics_parse_and_sum_over_identity_labels() -> None:
    snap = parse_metrics((FIXTURES / "vllm_metrics.txt").read_text(), taken_at=1.0)
    assert snap.taken_at == 1.0
    assert snap.get("vllm:generation_tokens_total") == 16.0
    assert snap.get("vllm:num_requests_running") == 0.0
    assert snap.get("vllm:time_to_first_token_seconds_count") == 1.0
    # histogram buckets keep their `le` label
    assert 'vllm:time_to_first_token_seconds_bucket{le="+Inf"}' in snap.samples
    values = snap.key_values()
    assert set(values) == set(KEY_VLLM_METRICS)
    assert values["vllm:kv_cache_usage_perc"] == 0.0


def test_labels_other_than_identity_are_kept_apart() -> None:
    text = (
        "# TYPE vllm:request_success counter\n"
        'vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 3\n'
        'vllm:request_success_total{engine="0",finished_reason="length",model_name="m"} 4\n'
        'vllm:request_success_total{engine="1",finished_reason="length",model_name="m"} 1\n'
    )
    snap = parse_metrics(text)
    assert snap.get("vllm:request_success_total") == 8
    assert snap.samples['vllm:request_success_total{finished_reason="length"}'] == 5


def test_delta_and_absent_series() -> None:
    before = parse_metrics("# TYPE a counter\na_total 2\n")
    after = parse_metrics("# TYPE a counter\na_total 7\n")
    assert after.delta(before, "a_total") == 5
    assert after.get("missing") is None
    assert after.delta(before, "missing") is None


def test_a_levels_metrics_hold_both_snapshots_and_the_counters_change() -> None:
    before = parse_metrics(
        "# TYPE vllm:generation_tokens counter\nvllm:generation_tokens_total 10\n"
    )
    after = parse_metrics(
        "# TYPE vllm:generation_tokens counter\nvllm:generation_tokens_total 42\n"
    )
    story = level_metrics(before, after)
    assert story is not None and set(story) == {"before", "after", "delta"}
    assert set(story["delta"]) == set(LEVEL_COUNTERS)
    assert story["delta"]["vllm:generation_tokens_total"] == 32
    assert story["delta"]["vllm:num_preemptions_total"] is None  # absent from both scrapes
    assert story["after"]["vllm:generation_tokens_total"] == 42
    assert level_metrics(None, after) is None and level_metrics(before, None) is None


def test_text_that_is_not_prometheus_is_an_error() -> None:
    # prometheus_client's parser refuses it, quoting the line it could not read
    with pytest.raises(ValueError, match=re.escape("<html>not metrics</html>")):
        parse_metrics("<html>not metrics</html>\n")


def test_the_gauge_sampler_keeps_peak_and_mean_and_skips_failed_scrapes() -> None:
    import threading

    from servegate.server.metrics import GaugeSampler, MetricsSnapshot

    values = iter([None, 2.0, 8.0, 5.0])  # a failed scrape first, then three readings
    done = threading.Event()

    def scrape() -> MetricsSnapshot | None:
        try:
            value = next(values)
        except StopIteration:
            done.set()
            return MetricsSnapshot(0.0, {})  # gauges absent: counted, but adds no value
        if value is None:
            return None
        return MetricsSnapshot(0.0, {"vllm:num_requests_running": value})

    with GaugeSampler(scrape, interval_s=0.01) as sampler:
        assert done.wait(5)
    result = sampler.result()
    assert result["samples"] >= 4
    assert result["peak"]["vllm:num_requests_running"] == 8.0
    assert result["mean"]["vllm:num_requests_running"] == pytest.approx(5.0)
    assert result["peak"]["vllm:num_requests_waiting"] is None
