"""The calibration script: a pure function of the seed and the request's index, faults included."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from pydantic import ValidationError

from servegate.calibration.script import CalibrationConfig, Dist, FaultBurst, script_for
from tests.helpers import TIMED


def test_the_script_is_a_pure_function_of_seed_and_index() -> None:
    again = CalibrationConfig.model_validate(TIMED.model_dump())
    assert [script_for(TIMED, i) for i in range(50)] == [script_for(again, i) for i in range(50)]
    other_seed = TIMED.model_copy(update={"seed": 12})
    assert [script_for(TIMED, i) for i in range(5)] != [script_for(other_seed, i) for i in range(5)]
    s = script_for(TIMED, 3)
    assert s.fault is None and s.finish_reason == "stop"
    assert 5 <= s.output_tokens <= 10 and len(s.itl_ms) == s.output_tokens - 1
    assert 10 <= s.ttft_ms <= 20 and all(2 <= g <= 6 for g in s.itl_ms)
    assert s.e2e_ms == pytest.approx(s.ttft_ms + sum(s.itl_ms))
    assert s.token_due_ms()[-1] == pytest.approx(s.e2e_ms)


def test_the_fault_mix_matches_the_configured_rates() -> None:
    rates = {"http_429": 0.05, "http_500": 0.03, "stall": 0.02, "cut": 0.1, "empty": 0.04}
    config = CalibrationConfig(seed=5, **{f"p_{k}": v for k, v in rates.items()})
    n = 2000
    counts = Counter(script_for(config, i).fault for i in range(n))
    for fault, p in [*rates.items(), (None, 1 - sum(rates.values()))]:
        sd = math.sqrt(n * p * (1 - p))
        assert abs(counts[fault] - n * p) <= 4 * sd, (fault, counts[fault], n * p)


def test_each_fault_scripts_what_it_should() -> None:
    config = CalibrationConfig(seed=1, p_cut=0.5, p_empty=0.5, output_tokens_min=9, stall_s=3)
    by_fault = {script_for(config, i).fault: script_for(config, i) for i in range(40)}
    cut, empty = by_fault["cut"], by_fault["empty"]
    assert cut.finish_reason is None and 4 <= cut.output_tokens <= 64
    assert empty.output_tokens == 0 and empty.ttft_ms is None and empty.finish_reason == "stop"
    stall = script_for(CalibrationConfig(seed=1, p_stall=1, stall_s=3), 0)
    assert stall.ttft_ms == 3000 and stall.e2e_ms > 3000
    error = script_for(CalibrationConfig(seed=1, p_http_429=1), 0)
    assert (error.fault, error.output_tokens, error.e2e_ms) == ("http_429", 0, 0.0)


def test_a_burst_forces_its_fault_on_consecutive_requests_only() -> None:
    base = CalibrationConfig(seed=4, p_http_500=0.1)
    burst = base.model_copy(update={"bursts": (FaultBurst(fault="http_429", start=5, count=3),)})
    faults = [script_for(burst, i).fault for i in range(12)]
    assert faults[5:8] == ["http_429"] * 3
    # outside the burst, the same draws as without it
    for i in [*range(5), *range(8, 12)]:
        assert script_for(burst, i) == script_for(base, i)
    with pytest.raises(ValidationError, match=r"bursts overlap: http_429 at 0\.\.9 and http_500"):
        CalibrationConfig(
            seed=1,
            bursts=[
                {"fault": "http_429", "start": 0, "count": 10},
                {"fault": "http_500", "start": 9, "count": 2},
            ],
        )


def test_a_request_cap_shortens_the_answer_and_says_length() -> None:
    s = script_for(TIMED, 0)
    capped = s.limited(2)
    assert capped.output_tokens == 2 and capped.finish_reason == "length"
    assert capped.e2e_ms == pytest.approx(s.ttft_ms + s.itl_ms[0])
    assert s.limited(None) is s and s.limited(1000) is s


def test_invalid_settings_are_named() -> None:
    with pytest.raises(ValueError, match=r"fault rates add up to 1\.2"):
        CalibrationConfig(seed=1, p_cut=0.6, p_stall=0.6)
    with pytest.raises(ValueError, match="lognormal distribution needs median"):
        Dist(kind="lognormal", sigma=0.3)
    with pytest.raises(ValueError, match=r"output_tokens_min .* above output_tokens_max"):
        CalibrationConfig(seed=1, output_tokens_min=9, output_tokens_max=3)
    assert CalibrationConfig(seed=1, ttft_ms=7).ttft_ms == Dist(kind="constant", value=7)
    assert "SECRET" not in repr(CalibrationConfig(seed=1, require_api_key="SECRET"))
    with pytest.raises(ValueError) as bad:
        CalibrationConfig(seed=1, p_cut=2, require_api_key="SECRET")
    assert "SECRET" not in str(bad.value)
