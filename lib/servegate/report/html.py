"""HTML helpers the report's tables share: escaping, numbers with units, verdict badges."""

from __future__ import annotations

import html
import math
from typing import Any

__all__ = ["VERDICT_COLORS", "badge", "escape", "number"]

#: The colour of each decision and gate verdict (grey for anything else).
VERDICT_COLORS = {
    "GO": "#1b7f3b",
    "PAUSE": "#b3261e",
    "INCONCLUSIVE": "#8a6d00",
    "PASS": "#1b7f3b",
    "FAIL": "#b3261e",
}


def escape(text: Any) -> str:
    """``text`` as HTML-escaped text (``str`` of any value)."""
    return html.escape(str(text))


def number(value: Any, unit: str) -> str:
    """A figure for a table: ``ms`` as ms or s, ``x`` as a ratio, ``tok/s`` to one decimal,
    ``share`` as a percentage, ``share_diff`` in percentage points, "—" for none, ∞ for +inf."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "∞ (failures)" if value > 0 else "−∞"
    if unit == "ms":
        return f"{value / 1000:.2f} s" if abs(value) >= 1000 else f"{value:.0f} ms"
    if unit == "x":
        return f"{value:.2f}×"
    if unit == "tok/s":  # a rate measured to a few percent: one decimal says it all
        return f"{value:,.1f}"
    if unit == "share":  # accuracy, 0 to 1
        return f"{value:.1%}"
    if unit == "share_diff":  # a difference of two shares, in percentage points
        return f"{value * 100:+.1f} pts".replace("-", "−")
    return f"{value:g}"


def badge(verdict: str) -> str:
    """A verdict (PASS, FAIL, GO, ...) as a coloured label."""
    color = VERDICT_COLORS.get(verdict, "#555")
    return (
        f'<span style="background:{color};color:white;padding:2px 8px;border-radius:4px;'
        f'font-weight:600">{escape(verdict)}</span>'
    )
