"""The history CSV's format: typed rows, one column order, cells written one way."""

from __future__ import annotations

import io
import math

import pytest
from pydantic import ValidationError

from servegate.history.format import (
    HISTORY_COLUMNS,
    HistoryRow,
    column_kind,
    render_history,
)
from servegate.history.read import parse_history


def _row(**fields: object) -> HistoryRow:
    return HistoryRow.model_validate({"run_id": "r1", "run_date": "2026-11-30T00:00:00Z", **fields})


def test_the_row_model_is_the_column_order() -> None:
    assert tuple(HistoryRow.model_fields) == HISTORY_COLUMNS


def test_a_misspelt_column_is_refused_not_dropped() -> None:
    with pytest.raises(ValidationError, match="e2e_p95_msec"):
        _row(e2e_p95_msec=1.0)


def test_a_value_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ValidationError, match="n_requests"):
        _row(n_requests="many")


def test_rows_round_trip_with_inf_and_empty_cells() -> None:
    rows = [
        _row(concurrency=8, n_requests=10, e2e_p95_ms=math.inf, incomplete=True),
        _row(run_id="r0", run_date="2026-01-01T00:00:00Z", e2e_p50_ms=1234.5678),
    ]
    text = render_history(rows)
    assert text.splitlines()[0].split(",") == list(HISTORY_COLUMNS)
    frame = parse_history(io.StringIO(text), "test")
    assert list(frame["run_id"]) == ["r0", "r1"]  # sorted by run date
    assert frame["e2e_p95_ms"].iloc[1] == math.inf and frame["incomplete"].iloc[1]
    assert frame["e2e_p50_ms"].iloc[0] == pytest.approx(1234.568)  # ms to the microsecond
    assert math.isnan(frame["e2e_p95_ms"].iloc[0])  # an empty cell: no value


def test_column_kinds() -> None:
    kinds = {c: column_kind(c) for c in ("run_id", "n_ok", "req_per_s", "incomplete")}
    assert kinds == {"run_id": "str", "n_ok": "int", "req_per_s": "float", "incomplete": "bool"}
