"""How servegate saves numbers in JSON, and the one decoder that reads them back.

JSON has no infinity and no NaN, but a latency percentile that lands among failed requests is
``+inf`` ("worse than the time-out"), and a statistic with no data has no value. So:

- ``+inf``/``-inf`` are saved as the strings ``"inf"``/``"-inf"``;
- NaN and "no value" are saved as ``null``;
- every other number is a plain JSON number.

``decode_number`` reads every saved number (run.json, the decision JSON) through that rule and
refuses anything else, so a hand-edited file fails loudly instead of turning into NaN.
``SavedFloat`` attaches it to a pydantic field.
"""

from __future__ import annotations

import math
import numbers
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

__all__ = ["SAVED_FLOAT_SCHEMA", "SavedFloat", "decode_number", "encode_number"]


def encode_number(value: float) -> float | str | None:
    """``value`` as strict JSON: ``inf`` -> ``"inf"``, ``-inf`` -> ``"-inf"``, NaN -> None."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def decode_number(value: Any) -> float | None:
    """A saved number back as a float: ``"inf"``/``"-inf"`` -> ``±inf``, null and NaN -> None.

    :raises ValueError: for a bool, a string that is not a number, or any other type; the
        message names the value and where it usually comes from.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got the boolean {value!r}")
    if isinstance(value, numbers.Real):  # numpy scalars too
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(
                f"expected a number or 'inf', got the string {value!r}; "
                "the file was edited or written by another tool"
            ) from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__} {value!r:.60}")
    return None if math.isnan(number) else number


#: How a saved number looks in JSON Schema: a number, null (no value), or "inf"/"-inf".
SAVED_FLOAT_SCHEMA: dict[str, object] = {
    "anyOf": [{"type": "number"}, {"type": "null"}, {"enum": ["inf", "-inf"]}],
    "description": 'a number; null: no value; "inf": a percentile among failed requests',
}

#: A float field of a saved record: read with ``decode_number`` (None means "no value").
SavedFloat = Annotated[
    float | None, BeforeValidator(decode_number), WithJsonSchema(SAVED_FLOAT_SCHEMA)
]
