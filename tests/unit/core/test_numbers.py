"""Saved numbers: one encoding in JSON (+inf as "inf", NaN as null) and one strict decoder."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from servegate.core.fsutil import json_safe
from servegate.core.numbers import decode_number, encode_number


def test_decode_number() -> None:
    assert decode_number("inf") == math.inf
    assert decode_number("-inf") == -math.inf
    assert decode_number(None) is None
    assert decode_number(float("nan")) is None
    assert decode_number(3) == 3.0 and isinstance(decode_number(3), float)
    assert decode_number(np.int64(7)) == 7.0  # numpy scalars from frames
    with pytest.raises(ValueError, match="expected a number or 'inf', got the string 'fast'"):
        decode_number("fast")
    with pytest.raises(ValueError, match="boolean"):
        decode_number(True)
    with pytest.raises(ValueError, match="got list"):
        decode_number([1])


@pytest.mark.parametrize("value", [0.0, 1.5, -2.25, math.inf, -math.inf, 1e300])
def test_encode_then_decode_is_the_identity(value: float) -> None:
    text = json.dumps(encode_number(value), allow_nan=False)
    assert decode_number(json.loads(text)) == value


def test_nan_is_saved_as_null_and_read_as_no_value() -> None:
    assert encode_number(math.nan) is None
    assert (
        json.dumps(json_safe({"p95": math.nan, "p99": math.inf})) == '{"p95": null, "p99": "inf"}'
    )
