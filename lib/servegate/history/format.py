"""The history CSV's format: its columns, how each value is written, and how it is read back.

One definition serves the writer (``servegate.history.aggregate.rebuild_history``) and the reader
(``load_history``), so a rebuilt file always parses: fixed columns in a fixed order, fixed
decimals per column (ms 3, tok/s 3, req/s 4, USD 6), ``inf`` for a percentile among failed
requests, ``true``/``false``, and one line per row whatever an error message held.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from servegate.core.errors import HistoryError

__all__ = [
    "CONTRACT_COLUMNS",
    "EXTRA_COLUMNS",
    "HISTORY_COLUMNS",
    "HistoryRow",
    "column_kind",
    "parse_history",
    "render_history",
]

#: The original contract's columns (docs/contracts.md), in its order; then extras for the report.
CONTRACT_COLUMNS: Final[tuple[str, ...]] = (
    "run_id",
    "run_date",
    "label",
    "backend",
    "model",
    "model_sha256",
    "runtime_version",
    "hardware",
    "prompt_set_sha256",
    "concurrency",
    "request_rate",
    "n_requests",
    "n_ok",
    "n_errors",
    "n_oom",
    "duration_s",
    "req_per_s",
    "output_tok_per_s",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "e2e_p50_ms",
    "e2e_p95_ms",
    "e2e_p95_ci_low_ms",
    "e2e_p95_ci_high_ms",
    "cost_per_1m_output_tokens_usd",
)
EXTRA_COLUMNS: Final[tuple[str, ...]] = (
    "level",
    "state",
    "incomplete",
    "source",
    "n_timeouts",
    "n_cancelled",
    "hardware_class",
    "e2e_p50_ci_low_ms",
    "e2e_p50_ci_high_ms",
    "ttft_p50_ci_low_ms",
    "ttft_p50_ci_high_ms",
    "ttft_p95_ci_low_ms",
    "ttft_p95_ci_high_ms",
    "output_tok_per_s_ci_low",
    "output_tok_per_s_ci_high",
    "input_tokens_total",
    "output_tokens_total",
    "cost_basis",
    "git_commit",
    "note",
)
HISTORY_COLUMNS: Final[tuple[str, ...]] = CONTRACT_COLUMNS + EXTRA_COLUMNS

_INT_COLUMNS = frozenset(
    {
        "concurrency",
        "n_requests",
        "n_ok",
        "n_errors",
        "n_oom",
        "n_timeouts",
        "n_cancelled",
        "input_tokens_total",
        "output_tokens_total",
    }
)
_BOOL_COLUMNS = frozenset({"incomplete"})
#: Decimals written for each float column: ms to the microsecond, rates to 1e-4, USD to 1e-6.
_DECIMALS: Final[dict[str, int]] = {
    "duration_s": 3,
    "req_per_s": 4,
    "output_tok_per_s": 3,
    "output_tok_per_s_ci_low": 3,
    "output_tok_per_s_ci_high": 3,
    "cost_per_1m_output_tokens_usd": 6,
    **{c: 3 for c in HISTORY_COLUMNS if c.endswith("_ms")},
}
_FLOAT_COLUMNS = frozenset({*_DECIMALS, "request_rate"})
_NOTE_CHARS = 300


Text = str


class HistoryRow(BaseModel):
    """One history row: one run at one load level (or one row saying why a run has none).

    Fields are in the CSV's column order (``HISTORY_COLUMNS``). Unknown keys are refused, so a
    writer's typo fails the rebuild instead of silently dropping a column. Times are ms, rates
    per second, money USD; None is an empty cell; ``+inf`` is a percentile among failures.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: Text
    run_date: Text = Field(description="UTC start of the run, e.g. 2026-11-26T23:13:45Z")
    label: Text = ""
    backend: Text = ""
    model: Text = ""
    model_sha256: Text = ""
    runtime_version: Text = ""
    hardware: Text = ""
    prompt_set_sha256: Text = ""
    concurrency: int | None = None
    request_rate: float | None = None
    n_requests: int | None = None
    n_ok: int | None = None
    n_errors: int | None = None
    n_oom: int | None = None
    duration_s: float | None = None
    req_per_s: float | None = None
    output_tok_per_s: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None
    e2e_p50_ms: float | None = None
    e2e_p95_ms: float | None = None
    e2e_p95_ci_low_ms: float | None = None
    e2e_p95_ci_high_ms: float | None = None
    cost_per_1m_output_tokens_usd: float | None = None
    level: Text = ""
    state: Text = ""
    incomplete: bool = False
    source: Text = Field("", description="measured, imported, summary_only, or '' (no levels)")
    n_timeouts: int | None = None
    n_cancelled: int | None = None
    hardware_class: Text = ""
    e2e_p50_ci_low_ms: float | None = None
    e2e_p50_ci_high_ms: float | None = None
    ttft_p50_ci_low_ms: float | None = None
    ttft_p50_ci_high_ms: float | None = None
    ttft_p95_ci_low_ms: float | None = None
    ttft_p95_ci_high_ms: float | None = None
    output_tok_per_s_ci_low: float | None = None
    output_tok_per_s_ci_high: float | None = None
    input_tokens_total: int | None = None
    output_tokens_total: int | None = None
    cost_basis: Text = ""
    git_commit: Text = ""
    note: Text = ""


if tuple(HistoryRow.model_fields) != HISTORY_COLUMNS:  # pragma: no cover - a developer's slip
    raise AssertionError("HistoryRow's fields must be HISTORY_COLUMNS, in order")


def column_kind(column: str) -> str:
    """``"int"``, ``"float"``, ``"bool"`` or ``"str"``: how a history column is typed."""
    if column in _INT_COLUMNS:
        return "int"
    if column in _FLOAT_COLUMNS:
        return "float"
    if column in _BOOL_COLUMNS:
        return "bool"
    return "str"


def _sort_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    conc, rate = row.get("concurrency"), row.get("request_rate")
    return (
        row["run_date"],
        row["run_id"],
        conc is None,
        conc or 0,
        rate is None,
        rate or 0.0,
        row.get("level") or "",
    )


def _cell(column: str, value: Any) -> str:
    """One value as the history writes it: fixed decimals, ``inf``, ``true``/``false``, ""."""
    if value is None:
        return ""
    if column in _BOOL_COLUMNS:
        return "true" if value else "false"
    if column in _INT_COLUMNS:
        return str(int(value))
    if column in _FLOAT_COLUMNS:
        number = float(value)
        if math.isnan(number):
            return ""
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        if column == "request_rate":
            return f"{number:g}"
        return f"{number:.{_DECIMALS[column]}f}"
    text = " ".join(str(value).split())  # one line per row, whatever an error message held
    return text[: _NOTE_CHARS - 3] + "..." if len(text) > _NOTE_CHARS else text


def render_history(rows: list[dict[str, Any]]) -> str:
    """The CSV text of ``rows`` (dicts keyed by column), sorted by run date, run and level.

    Each row is validated as a ``HistoryRow`` first.

    :raises pydantic.ValidationError: for an unknown column or a value of the wrong type.
    """
    rows = [HistoryRow.model_validate(row).model_dump() for row in rows]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for row in sorted(rows, key=_sort_key):
        writer.writerow([_cell(c, row.get(c)) for c in HISTORY_COLUMNS])
    return buffer.getvalue()


def parse_history(source: Any, name: str) -> pd.DataFrame:
    """Typed frame of a history CSV (``source``: a path or a text buffer; ``name`` for errors).

    :raises HistoryError: for other columns, or a cell that is not of its column's type.
    """
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    header = list(frame.columns)
    if header != list(HISTORY_COLUMNS):
        missing = [c for c in HISTORY_COLUMNS if c not in header]
        extra = [c for c in header if c not in HISTORY_COLUMNS]
        detail = "; ".join(
            [f"missing {missing}"] * bool(missing) + [f"unexpected {extra}"] * bool(extra)
        )
        raise HistoryError(
            f"history {name} does not have this servegate's {len(HISTORY_COLUMNS)} columns "
            f"({detail or 'same names, different order'}); rebuild it with `make aggregate` "
            "(it is made from eval/results, nothing is lost)"
        )
    out = pd.DataFrame(index=frame.index)
    for column in HISTORY_COLUMNS:
        text = frame[column]
        if column in _FLOAT_COLUMNS or column in _INT_COLUMNS:
            number = pd.to_numeric(text.where(text != ""), errors="coerce").astype(float)
            bad = (text != "") & number.isna()
            if column in _INT_COLUMNS:
                bad |= number.notna() & np.isfinite(number) & (number % 1 != 0)
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise HistoryError(
                    f"history {name} line {i + 2}: column {column!r} must be a number, got "
                    f"{text.iat[i]!r}; rebuild it with `make aggregate`"
                )
            out[column] = number.astype("Int64") if column in _INT_COLUMNS else number
        elif column in _BOOL_COLUMNS:
            bad = ~text.isin(["true", "false"])
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise HistoryError(
                    f"history {name} line {i + 2}: column {column!r} must be true or false, got "
                    f"{text.iat[i]!r}; rebuild it with `make aggregate`"
                )
            out[column] = text == "true"
        else:
            out[column] = text.astype(str)
    return out
