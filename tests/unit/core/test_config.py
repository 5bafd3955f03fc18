"""Parameter validation errors: every field named, secrets never echoed."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from servegate.core.config import validate_params
from servegate.core.errors import ConfigError


def test_a_secret_looking_field_is_never_echoed_in_errors() -> None:
    class P(BaseModel):
        api_key: int

    with pytest.raises(ConfigError) as info:
        validate_params(P, {"api_key": "sk-canary-0123456789abcdef"}, what="p")
    assert "sk-canary" not in str(info.value) and "value not shown" in str(info.value)
