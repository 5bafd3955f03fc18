"""read_history: the history CSV as typed data, its version and header checked."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from servegate import plots
from servegate.core.errors import HistoryError
from servegate.core.names import HISTORY_SCHEMA_VERSION
from servegate.history.aggregate import load_history, rebuild_history
from servegate.history.format import HISTORY_COLUMNS, HISTORY_DTYPES, HistoryRow, render_history
from servegate.history.read import read_history
from tests.helpers import HOSTED_RUN, SKIPPED_RUN, copy_fixtures


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("history")
    path = tmp / "history.csv"
    rebuild_history(copy_fixtures(tmp / "results"), path)
    return path


def test_every_column_has_its_declared_dtype(history: Path) -> None:
    frame = read_history(history)
    assert list(frame.columns) == list(HISTORY_COLUMNS)
    assert {c: str(t) for c, t in frame.dtypes.items()} == HISTORY_DTYPES
    assert set(HISTORY_DTYPES.values()) == {
        "string",
        "Int64",
        "float64",
        "boolean",
        "datetime64[ns, UTC]",
    }


def test_counts_stay_whole_numbers_with_missing_values(history: Path) -> None:
    frame = read_history(history)
    skipped = frame[frame["run_id"] == SKIPPED_RUN].iloc[0]
    assert skipped["concurrency"] is pd.NA and skipped["n_timeouts"] is pd.NA  # no level
    assert skipped["n_requests"] == 0
    assert frame["concurrency"].dtype == "Int64" and frame["concurrency"].isna().sum() == 1
    measured = frame[frame["n_requests"] > 0]
    assert measured["concurrency"].tolist() == [1, 8, 1, 8]  # ints, not 1.0 and 8.0
    assert all(type(v) is int for v in measured["n_ok"].tolist())


def test_inf_dates_flags_and_text(history: Path) -> None:
    frame = read_history(history)
    hosted_c1 = frame[(frame["run_id"] == HOSTED_RUN) & (frame["level"] == "c1")].iloc[0]
    assert hosted_c1["e2e_p95_ms"] == math.inf  # its failed request: a p95 among failures
    assert hosted_c1["run_date"] == pd.Timestamp("2026-11-26T23:21:25Z")
    assert hosted_c1["run_date"].tzinfo is not None
    assert frame["incomplete"].tolist() == [False] * len(frame)
    assert frame["note"].iloc[0] == ""  # an empty text cell is "", not missing
    assert (frame["schema_version"] == HISTORY_SCHEMA_VERSION).all()


def test_a_typed_frame_goes_back_to_the_same_csv(history: Path) -> None:
    text = history.read_text()
    frame = read_history(history)
    rows = []
    for record in frame.to_dict("records"):
        values = {k: (None if v is pd.NA or v is None else v) for k, v in record.items()}
        values["run_date"] = record["run_date"].strftime("%Y-%m-%dT%H:%M:%SZ")
        values = {k: v for k, v in values.items() if not (isinstance(v, float) and math.isnan(v))}
        rows.append(HistoryRow.model_validate(values))
    assert render_history(rows) == text


def test_the_trend_figure_takes_the_typed_frame(history: Path) -> None:
    fig = plots.history_trend(read_history(history), p95_ms=3000, p50_ms=1000)
    assert fig.axes


def test_load_history_is_read_history(history: Path) -> None:
    pd.testing.assert_frame_equal(load_history(history), read_history(history))


def _edited(history: Path, tmp_path: Path, old: str, new: str, *, header: bool = True) -> Path:
    lines = history.read_text().splitlines(keepends=True)
    if header:
        lines[0] = lines[0].replace(old, new)
    else:
        lines[1:] = [line.replace(old, new) for line in lines[1:]]
    path = tmp_path / "edited.csv"
    path.write_text("".join(lines))
    return path


def test_a_renamed_column_is_named_with_the_fix(history: Path, tmp_path: Path) -> None:
    path = _edited(history, tmp_path, ",e2e_p95_ms,", ",e2e_p95,")
    with pytest.raises(HistoryError) as info:
        read_history(path)
    text = str(info.value)
    assert str(path) in text and "missing ['e2e_p95_ms']" in text
    assert "renamed? 'e2e_p95' for 'e2e_p95_ms'" in text and "make aggregate" in text


def test_a_missing_or_extra_column_is_named(history: Path, tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match=r"missing \['git_commit'\].*make aggregate"):
        read_history(_edited(history, tmp_path, ",git_commit,", ",commit_sha,"))
    frame = pd.read_csv(history, dtype=str, keep_default_na=False)
    frame.insert(3, "mine", "x")
    frame.to_csv(tmp_path / "extra.csv", index=False)
    with pytest.raises(HistoryError, match=r"unexpected \['mine'\]\); rebuild it with `make agg"):
        read_history(tmp_path / "extra.csv")


def test_a_version_1_history_says_to_rebuild(history: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(history, dtype=str, keep_default_na=False)
    frame.drop(columns="schema_version").to_csv(tmp_path / "v1.csv", index=False)
    with pytest.raises(HistoryError, match=r"no schema_version column.*version 1.*make aggregate"):
        read_history(tmp_path / "v1.csv")


def test_a_newer_history_says_so(history: Path, tmp_path: Path) -> None:
    newer = str(HISTORY_SCHEMA_VERSION + 1)
    path = _edited(history, tmp_path, f",{HISTORY_SCHEMA_VERSION}\n", f",{newer}\n", header=False)
    with pytest.raises(HistoryError, match=rf"version '{newer}'.*newer servegate.*make aggregate"):
        read_history(path)


def test_a_cell_of_the_wrong_type_names_its_line(history: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(history, dtype=str, keep_default_na=False)
    frame.loc[1, "n_ok"] = "2.5"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(HistoryError, match=r"line 3: column 'n_ok' must be a whole number"):
        read_history(tmp_path / "bad.csv")
    frame = pd.read_csv(history, dtype=str, keep_default_na=False)
    frame.loc[0, "run_date"] = "26/11/2026"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(HistoryError, match=r"line 2: column 'run_date' must be a UTC time"):
        read_history(tmp_path / "bad.csv")


def test_a_missing_or_empty_file(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="not found; build it with `make aggregate`"):
        read_history(tmp_path / "none.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(HistoryError, match="is empty; rebuild it"):
        read_history(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text(",".join(HISTORY_COLUMNS) + "\n")
    empty = read_history(tmp_path / "header.csv")
    assert len(empty) == 0 and {c: str(t) for c, t in empty.dtypes.items()} == HISTORY_DTYPES
