"""The capacity plan's and the fallback replay's parameters: each problem named with its fix."""

from __future__ import annotations

from typing import Any

import pytest

from servegate.analysis.ops_params import CapacityParams, FallbackParams
from servegate.core.errors import ConfigError
from tests.helpers import capacity_params as params


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"peak_rps": 0}, r"peak_rps: Input should be greater than 0, got 0 \(the forecast peak"),
        ({"peak_rps": -3}, r"peak_rps: .* got -3 \(the forecast peak in requests"),
        ({"headroom": 1.0}, r"headroom: Input should be less than 1, got 1.0 \(spare share"),
        ({"headroom": -0.1}, r"headroom: Input should be greater than or equal to 0"),
        ({"hours_per_month": 800}, r"hours_per_month: .* use 730"),
        ({"peak_to_average": 0.5}, r"peak_to_average: .* >= 1"),
        ({"annual_growth": 0.2}, r"give growth_factor or annual_growth .*, not both"),
        ({"peak_to_average": None, "average_rps": 50}, r"average_rps 50 exceeds peak_rps 40"),
        ({"average_rps": 5}, r"give average_rps or peak_to_average, not both"),
        ({"hourly_usd": None}, r"hourly_usd: .* got None \(one replica's machine price"),
        ({"peak": 3}, r"unknown parameter 'peak' \(known: .*peak_rps"),
    ],
)
def test_bad_params_name_the_field_and_the_fix(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        params(**over)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("invalid capacity parameters: ")


def test_missing_required_field() -> None:
    with pytest.raises(ConfigError, match=r"hourly_usd: Field required"):
        CapacityParams(peak_rps=1, hosted_input_usd_per_1m=0, hosted_output_usd_per_1m=0)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"timeouts_ms": [0, 500]}, r"timeouts_ms: .*must be > 0 and finite \(\[0.0\] are not"),
        ({"timeouts_ms": []}, r"timeouts_ms: .* got \[\] \(time-to-first-token limits in ms"),
        ({"level": 0}, r"level: .*concurrency must be >= 1"),
        ({"p95_ms": -1}, r"p95_ms: Input should be greater than 0"),
        ({"timeout": 3}, r"unknown parameter 'timeout' \(known: .*timeouts_ms"),
    ],
)
def test_bad_params(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FallbackParams(**over)
