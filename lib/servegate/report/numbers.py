"""How the decision JSON (version 2) writes numbers: a number is always a JSON number or null.

JSON has no infinity, but a p95 that lands among failed requests, a local-only fallback time-out
or an unbounded capacity is ``+inf``. Version 1 wrote it as the string ``"inf"`` (as run.json
still does, ``servegate.core.numbers``), so a numeric field could hold a string. Version 2 keeps
every numeric field a number or ``null`` and names the infinite ones in their object:

    {"measured": null, "ci_low": 2100.5, "infinite": {"measured": "+inf"}}

``infinite`` maps a field of the same object (``"<list field>/<index>"`` for an item of a list
of numbers) to ``"+inf"`` or ``"-inf"``; it is left out when no field is infinite. Why this
form: a typed consumer (a dashboard, pandas, another language) reads every numeric field with
its declared type, and ``null`` keeps meaning "no value" unless ``infinite`` says otherwise, so a
reader that ignores ``infinite`` sees a missing value, never a wrong number or a string.

``list_infinite`` applies it to a python-mode dump (every object, every float field, whatever
model it came from); ``restore_infinite`` undoes it before validation; ``describe_infinite``
documents it in the published JSON Schema.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, ValidationInfo, WithJsonSchema

from servegate.core.numbers import decode_number

__all__ = [
    "INFINITE",
    "ReportFloat",
    "describe_infinite",
    "list_infinite",
    "restore_infinite",
]

#: The key, in any object of the decision JSON, that names its infinite fields.
INFINITE: Final = "infinite"
_SIGNS: Final = {"+inf": math.inf, "-inf": -math.inf}
#: Validation context key: the file is version 1, whose numbers may be "inf" strings.
INF_STRINGS: Final = "inf_strings"


def _number(value: Any, info: ValidationInfo) -> float | None:
    if isinstance(value, str) and not (info.context or {}).get(INF_STRINGS):
        raise ValueError(
            f"expected a number or null, got the string {value!r}: since decision JSON version "
            f"2 an infinite value is null and named in its object's {INFINITE!r}"
        )
    return decode_number(value)


_FLOAT_SCHEMA: Final[dict[str, Any]] = {
    "anyOf": [{"type": "number"}, {"type": "null"}],
    "description": f"a number; null: no value, or +/-inf when named in this object's {INFINITE!r}",
}

#: A float field of the decision JSON: ``None`` is "no value"; ``±inf`` is written as null and
#: named in the object's ``infinite`` (``list_infinite``). Strings are refused, except in a
#: version-1 file (validation context ``{"inf_strings": True}``), whose "inf" they decode.
ReportFloat = Annotated[float | None, BeforeValidator(_number), WithJsonSchema(_FLOAT_SCHEMA)]


def _sign(value: Any) -> str | None:
    """``"+inf"``/``"-inf"`` for an infinite float, else None."""
    if isinstance(value, float) and math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return None


def list_infinite(data: Any) -> Any:
    """``data`` (a python-mode dump) with every infinite float made null and named in its
    object's ``infinite``, recursively; NaN (no value) becomes null."""
    if isinstance(data, list | tuple):
        return [list_infinite(v) for v in data]
    if isinstance(data, float) and math.isnan(data):
        return None
    if not isinstance(data, dict):
        return data
    if INFINITE in data:  # pragma: no cover - a developer's slip: a field may not take the name
        raise ValueError(f"a decision JSON object may not have a field named {INFINITE!r}")
    out: dict[str, Any] = {}
    infinite: dict[str, str] = {}
    for key, value in data.items():
        if (sign := _sign(value)) is not None:
            infinite[key], out[key] = sign, None
        elif isinstance(value, list | tuple) and any(_sign(v) for v in value):
            items = []
            for i, item in enumerate(value):
                if (sign := _sign(item)) is not None:
                    infinite[f"{key}/{i}"] = sign
                items.append(None if sign else list_infinite(item))
            out[key] = items
        else:
            out[key] = list_infinite(value)
    if infinite:
        out[INFINITE] = dict(sorted(infinite.items()))
    return out


def restore_infinite(data: Any) -> Any:
    """``data`` as read from a file with each object's ``infinite`` put back as ``±inf``.

    :raises ValueError: when ``infinite`` is not an object of ``"+inf"``/``"-inf"``, or names a
        field that is absent or not null (the file was edited).
    """
    if isinstance(data, list):
        return [restore_infinite(v) for v in data]
    if not isinstance(data, dict):
        return data
    out = {k: restore_infinite(v) for k, v in data.items() if k != INFINITE}
    listed = data.get(INFINITE)
    if listed is None:
        return out
    if not isinstance(listed, dict):
        raise ValueError(f"{INFINITE!r} must be an object of field: '+inf' or '-inf'")
    for name, sign in listed.items():
        if sign not in _SIGNS:
            raise ValueError(f"{INFINITE}[{name!r}] must be '+inf' or '-inf', got {sign!r}")
        field, _, index = name.partition("/")
        if index:
            items = out.get(field)
            if not (index.isdigit() and isinstance(items, list) and int(index) < len(items)):
                raise ValueError(f"{INFINITE} names {name!r}, which is not an item of a list")
            if items[int(index)] is not None:
                raise ValueError(f"{INFINITE} names {name!r}, which must be null")
            items[int(index)] = _SIGNS[sign]
        elif field not in out or out[field] is not None:
            raise ValueError(f"{INFINITE} names {name!r}, which must be a field that is null")
        else:
            out[field] = _SIGNS[sign]
    return out


def _is_number(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "number" or any(
        s.get("type") == "number" for s in schema.get("anyOf", ())
    )


def describe_infinite(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a model dumped through ``list_infinite``: each object with a float
    field (or a list of them) gets the optional ``infinite`` property, described. In place."""
    for obj in [schema, *schema.get("$defs", {}).values()]:
        props = obj.get("properties", {})
        floats = [name for name, p in props.items() if _is_number(p)]
        lists = [
            name
            for name, p in props.items()
            if p.get("type") == "array" and _is_number(p.get("items", {}))
        ]
        if not floats and not lists:
            continue
        names = "|".join([*floats, *(f"{name}/[0-9]+" for name in lists)])
        props[INFINITE] = {
            "type": "object",
            "description": (
                "the fields of this object that are infinite, each null in the file: "
                '"+inf" (e.g. a p95 among failed requests) or "-inf"; absent when none is'
            ),
            "propertyNames": {"pattern": f"^({names})$"},
            "additionalProperties": {"enum": list(_SIGNS)},
        }
    return schema
