"""The history CSV's format: its columns, how each value is written, and how it is read back.

One table, ``HISTORY_DTYPES`` (column -> pandas dtype), serves the writer
(``servegate.history.aggregate.rebuild_history``), the reader (``servegate.history.read``) and
schemas/history.columns.json, so a rebuilt file always parses: fixed columns in a fixed order,
fixed decimals per column (ms 3, tok/s 3, req/s 4, USD 6), ``inf`` for a percentile among failed
requests, ``true``/``false``, one line per row whatever an error message held, and the format's
version (``HISTORY_SCHEMA_VERSION``) in the last column of every row.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from servegate.core.names import HISTORY_SCHEMA_VERSION

__all__ = [
    "CONTRACT_COLUMNS",
    "EXTRA_COLUMNS",
    "HISTORY_COLUMNS",
    "HISTORY_DTYPES",
    "HistoryRow",
    "column_kind",
    "render_history",
]

#: The history's columns, in file order, each with the pandas dtype ``read_history`` gives it:
#: the one declaration the writer's row model, the reader and schemas/history.columns.json
#: follow. Counts are nullable ``Int64``, figures ``float64`` (``inf``: among failures), flags
#: nullable ``boolean``, ``run_date`` a UTC datetime, text ``string``. The first 25 are the
#: original contract (docs/contracts.md); then extras for the report; ``schema_version`` last.
HISTORY_DTYPES: Final[dict[str, str]] = {
    "run_id": "string",
    "run_date": "datetime64[ns, UTC]",
    "label": "string",
    "backend": "string",
    "model": "string",
    "model_sha256": "string",
    "runtime_version": "string",
    "hardware": "string",
    "prompt_set_sha256": "string",
    "concurrency": "Int64",
    "request_rate": "float64",
    "n_requests": "Int64",
    "n_ok": "Int64",
    "n_errors": "Int64",
    "n_oom": "Int64",
    "duration_s": "float64",
    "req_per_s": "float64",
    "output_tok_per_s": "float64",
    "ttft_p50_ms": "float64",
    "ttft_p95_ms": "float64",
    "e2e_p50_ms": "float64",
    "e2e_p95_ms": "float64",
    "e2e_p95_ci_low_ms": "float64",
    "e2e_p95_ci_high_ms": "float64",
    "cost_per_1m_output_tokens_usd": "float64",
    # extras
    "level": "string",
    "state": "string",
    "incomplete": "boolean",
    "source": "string",
    "n_timeouts": "Int64",
    "n_cancelled": "Int64",
    "hardware_class": "string",
    "e2e_p50_ci_low_ms": "float64",
    "e2e_p50_ci_high_ms": "float64",
    "ttft_p50_ci_low_ms": "float64",
    "ttft_p50_ci_high_ms": "float64",
    "ttft_p95_ci_low_ms": "float64",
    "ttft_p95_ci_high_ms": "float64",
    "output_tok_per_s_ci_low": "float64",
    "output_tok_per_s_ci_high": "float64",
    "input_tokens_total": "Int64",
    "output_tokens_total": "Int64",
    "cost_basis": "string",
    "git_commit": "string",
    "note": "string",
    # the format's version, on every row: a reader checks it before trusting the columns
    "schema_version": "Int64",
}
HISTORY_COLUMNS: Final[tuple[str, ...]] = tuple(HISTORY_DTYPES)
CONTRACT_COLUMNS: Final[tuple[str, ...]] = HISTORY_COLUMNS[:25]
EXTRA_COLUMNS: Final[tuple[str, ...]] = HISTORY_COLUMNS[25:]

#: The kind of each pandas dtype, as schemas/history.columns.json names it.
_KINDS: Final[dict[str, str]] = {
    "string": "str",
    "Int64": "int",
    "float64": "float",
    "boolean": "bool",
    "datetime64[ns, UTC]": "datetime",
}
_INT_COLUMNS = frozenset(c for c, t in HISTORY_DTYPES.items() if t == "Int64")
_BOOL_COLUMNS = frozenset(c for c, t in HISTORY_DTYPES.items() if t == "boolean")
_FLOAT_COLUMNS = frozenset(c for c, t in HISTORY_DTYPES.items() if t == "float64")
#: Decimals written for each float column: ms to the microsecond, rates to 1e-4, USD to 1e-6;
#: ``request_rate`` is written as given (``:g``).
_DECIMALS: Final[dict[str, int]] = {
    "duration_s": 3,
    "req_per_s": 4,
    "output_tok_per_s": 3,
    "output_tok_per_s_ci_low": 3,
    "output_tok_per_s_ci_high": 3,
    "cost_per_1m_output_tokens_usd": 6,
    **{c: 3 for c in HISTORY_COLUMNS if c.endswith("_ms")},
}
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
    schema_version: int = Field(
        HISTORY_SCHEMA_VERSION, description="the history format's version, on every row"
    )


def column_kind(column: str) -> str:
    """``"int"``, ``"float"``, ``"bool"``, ``"datetime"`` or ``"str"``: a history column's kind
    (``HISTORY_DTYPES``)."""
    return _KINDS[HISTORY_DTYPES[column]]


#: The Python type a ``HistoryRow`` field holds for each kind (``run_date`` is written as text).
_ROW_TYPES: Final[dict[str, object]] = {
    "str": str,
    "datetime": str,
    "int": int | None,
    "float": float | None,
    "bool": bool,
}


def _check_row_model() -> None:
    """The row model and the dtype table must agree: the same columns, in order, and types."""
    fields = HistoryRow.model_fields
    if tuple(fields) != HISTORY_COLUMNS:  # pragma: no cover - a developer's slip
        raise AssertionError("HistoryRow's fields must be HISTORY_DTYPES' columns, in order")
    wrong = [
        c
        for c, f in fields.items()
        if f.annotation != _ROW_TYPES[column_kind(c)] and c != "schema_version"
    ]
    if wrong:  # pragma: no cover - a developer's slip
        raise AssertionError(f"HistoryRow's types disagree with HISTORY_DTYPES for {wrong}")


_check_row_model()


def _sort_key(row: HistoryRow) -> tuple[str, str, bool, int, bool, float, str]:
    conc, rate = row.concurrency, row.request_rate
    return (row.run_date, row.run_id, conc is None, conc or 0, rate is None, rate or 0.0, row.level)


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


def render_history(rows: Sequence[HistoryRow]) -> str:
    """The CSV text of ``rows``, sorted by run date, run and level."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for row in sorted(rows, key=_sort_key):
        writer.writerow([_cell(c, getattr(row, c)) for c in HISTORY_COLUMNS])
    return buffer.getvalue()
