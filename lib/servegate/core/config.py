"""Turn pydantic validation errors into one ``ConfigError`` that names each field and the fix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from servegate.core.errors import ConfigError

__all__ = ["validate_params"]

M = TypeVar("M", bound=BaseModel)

# Fields whose values are never echoed back in an error message.
_SECRET = re.compile(r"key|token|secret|password|auth", re.IGNORECASE)


def _hint(model: type[BaseModel], err: Mapping[str, Any]) -> str:
    """The field's own description, which says what a good value is (the fix), if it has one."""
    top = err["loc"][0] if err["loc"] else None
    info = model.model_fields.get(top) if isinstance(top, str) else None
    return f" ({info.description})" if info is not None and info.description else ""


def validate_params(model: type[M], data: Mapping[str, Any], *, what: str) -> M:
    """Validate ``data`` into ``model``; raise ``ConfigError`` listing every problem.

    :param what: how the user knows these parameters, e.g. ``"vLLM server parameters"``.
    """
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        known = ", ".join(sorted(model.model_fields))
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(top level)"
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown parameter {field!r} (known: {known})")
            elif _SECRET.search(field):
                problems.append(f"{field}: {err['msg']} (value not shown: it may be a secret)")
            else:
                problems.append(
                    f"{field}: {err['msg']}, got {err.get('input')!r}" + _hint(model, err)
                )
        raise ConfigError(f"invalid {what}: " + "; ".join(problems)) from None
