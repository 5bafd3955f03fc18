"""Turn pydantic validation errors into one ``ConfigError`` that names each field and the fix."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from servegate.core.errors import ConfigError

__all__ = ["params_error", "validate_params"]

M = TypeVar("M", bound=BaseModel)

# Fields whose values are never echoed back in an error message ("max_tokens" is a count).
_SECRET = re.compile(r"key|token(?!s)|secret|password|auth", re.IGNORECASE)
# A value echoed back is cut here: the field name and the fix matter more than a long list.
_MAX_SHOWN = 100


def _field(model: type[BaseModel], loc: Sequence[Any]) -> tuple[type[BaseModel], FieldInfo | None]:
    """The field at ``loc`` and the model that holds it, following nested parameter models."""
    owner, info = model, None
    for part in loc:
        if not isinstance(part, str) or part not in owner.model_fields:
            break
        info = owner.model_fields[part]
        if not (isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)):
            break
        owner = info.annotation
    return owner, info


def _known(model: type[BaseModel]) -> str:
    # A model that also accepts other names (its nested models' fields, given flat) lists them.
    names = getattr(model, "accepted_names", None)
    return ", ".join(sorted(names() if callable(names) else model.model_fields))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def validate_params(model: type[M], data: Mapping[str, Any], *, what: str) -> M:
    """Validate ``data`` into ``model``; raise ``ConfigError`` listing every problem.

    Each problem names the field, the value given (never for a secret-looking field) and, as the
    fix, the field's ``description``. An unknown name is refused with the known ones listed: the
    model's fields, or ``model.accepted_names()`` where the model defines it. A rule across
    fields (a model validator) is shown as its own message.

    :param what: how the user knows these parameters, e.g. ``"vLLM server parameters"``.
    """
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise params_error(model, exc, what=what) from None


def params_error(model: type[BaseModel], exc: ValidationError, *, what: str) -> ConfigError:
    """The ``ConfigError`` of ``validate_params`` for ``exc``, raised validating ``model``.

    For a model validated in its own ``__init__`` (pydantic calls a custom ``__init__`` from
    ``model_validate``, so it cannot call ``validate_params``): its errors read the same.
    """
    problems = []
    for err in exc.errors():
        loc = err["loc"]
        field = ".".join(str(p) for p in loc)
        msg = str(err["msg"]).removeprefix("Value error, ")
        owner, info = _field(model, loc)
        hint = f" ({info.description})" if info is not None and info.description else ""
        if not field:  # a rule across fields: its message names them and the fix
            problems.append(msg)
        elif err["type"] == "extra_forbidden":
            known = _known(owner if len(loc) > 1 else model)
            problems.append(f"unknown parameter {field!r} (known: {known})")
        elif _SECRET.search(field):
            problems.append(f"{field}: {msg} (value not shown: it may be a secret)")
        elif err["type"] == "missing":  # its "input" is the whole mapping, not a value
            problems.append(f"{field}: {msg}{hint}")
        else:
            problems.append(f"{field}: {msg}, got {_shown(err.get('input'))}{hint}")
    return ConfigError(f"invalid {what}: " + "; ".join(problems))
