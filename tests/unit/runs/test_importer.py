"""Importing another tool's latency CSV: the run folder, its history row, and bad input."""

from __future__ import annotations

import hashlib
import json
import math
import random
from pathlib import Path

import pandas as pd
import pytest

import servegate.runs.imports.folder as folder
from servegate.core.errors import ConfigError, ImportFileError, RunFolderError
from servegate.core.names import REQUEST_COLUMNS
from servegate.history.aggregate import rebuild_history
from servegate.runs.importer import import_latency_csv
from servegate.runs.reader import list_runs, load_run
from tests.helpers import VLLM_RUN, copy_fixtures

#: 20 successes of 0.1 .. 2.0 s and one failure without a latency. Sorted with the failure as
#: +inf, n = 21: p50 is x[10] = 1100 ms and p95 is x[19] = 2000 ms (numpy's linear method,
#: h = (n - 1) q / 100 falls on a whole rank for both), so the expected values need no code.
OK_MS = [100.0 * k for k in range(1, 21)]
P50_MS, P95_MS = 1100.0, 2000.0


def _write_csv(path: Path, unit: str) -> list[dict[str, str]]:
    """A proof-of-concept-like eval_results CSV in ``unit``, rows shuffled, one failure."""
    scale = 1000.0 if unit == "s" else 1.0
    rows = [
        {"request": f"q{k:02d}", "latency": f"{ms / scale:g}", "error": ""}
        for k, ms in enumerate(OK_MS)
    ]
    rows.append({"request": "q99", "latency": "", "error": "HTTP 500: upstream\nreset"})
    random.Random(7).shuffle(rows)
    pd.DataFrame(rows).to_csv(path, index=False)
    return rows


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """The fixture runs (one measured vLLM, one hosted, one skipped) to import beside."""
    return copy_fixtures(tmp_path / "results")


@pytest.mark.parametrize("unit", ["s", "ms"])
def test_import_writes_a_run_that_loads_and_joins_the_history(
    tmp_path: Path, results: Path, unit: str
) -> None:
    source = tmp_path / f"eval_results_{unit}.csv"
    rows = _write_csv(source, unit)
    result = import_latency_csv(
        source,
        latency_column="latency",
        unit=unit,
        results_dir=results,
        model="smollm2",
        backend="poc-vllm",
        label="poc",
        id_column="request",
        run_date="2026-10-01T12:00:00Z",
    )
    assert result.run_id == "20261001T120000Z_poc_poc-vllm"
    assert result.run_dir == results / result.run_id
    assert (result.n_rows, result.n_errors) == (21, 1)
    assert result.columns == {"latency": "latency", "id": "request", "error": "error"}

    run = load_run(result.run_dir)
    req = run.requests
    assert list(req.columns) == list(REQUEST_COLUMNS)
    assert list(req["prompt_id"]) == [r["request"] for r in rows]
    failed = req["prompt_id"] == "q99"
    assert list(req.loc[failed, "status"]) == ["error"]
    assert list(req.loc[failed, "error"]) == ["HTTP 500: upstream reset"]  # one line
    assert math.isnan(req.loc[failed, "e2e_ms"].iloc[0])
    assert set(req.loc[~failed, "status"]) == {"ok"}
    expected_ms = {f"q{k:02d}": ms for k, ms in enumerate(OK_MS)}
    assert dict(zip(req.loc[~failed, "prompt_id"], req.loc[~failed, "e2e_ms"], strict=True)) == (
        pytest.approx(expected_ms)
    )
    for unknown in ("ttft_ms", "queue_ms", "due_s", "end_s", "concurrency", "request_rate"):
        assert req[unknown].isna().all(), unknown

    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    record = run.record
    assert (record.schema_version, record.state, record.source) == (
        1,
        "complete",
        "imported",
    )
    assert record.created_at.isoformat() == "2026-10-01T12:00:00+00:00"
    assert run.manifest["source"] == "imported"
    saved = run.manifest["source_file"]
    assert {k: saved[k] for k in ("path", "sha256", "n_rows", "tool", "ttft_comparable")} == {
        "path": str(source),
        "sha256": digest,
        "n_rows": 21,
        "tool": "csv",
        "ttft_comparable": False,
    }
    assert run.manifest["prompt_set"]["sha256"] == digest
    assert (run.backend, run.model, run.label) == ("poc-vllm", "smollm2", "poc")
    assert run.params["unit"] == unit and "api_key" not in record.model_dump_json()
    (level,) = run.levels
    assert (level.n_requests, level.n_ok, level.n_errors) == (21, 20, 1)
    assert level.concurrency is None and level.ttft_ms is None and level.throughput is None
    assert level.e2e_ms is not None
    assert level.e2e_ms.p50.value == pytest.approx(P50_MS)
    assert level.e2e_ms.p95.value == pytest.approx(P95_MS)
    assert [(e.error, e.count) for e in level.top_errors] == [("HTTP 500: upstream reset", 1)]

    history = rebuild_history(results, tmp_path / "history.csv", pricing=None).rows
    (row,) = [r for _, r in history.iterrows() if r["run_id"] == result.run_id]
    assert (row["backend"], row["model"], row["label"]) == ("poc-vllm", "smollm2", "poc")
    assert (row["source"], row["runtime_version"]) == ("imported", "unknown (imported)")
    assert (row["n_requests"], row["n_ok"], row["n_errors"]) == (21, 20, 1)
    assert row["e2e_p50_ms"] == pytest.approx(P50_MS)
    assert row["e2e_p95_ms"] == pytest.approx(P95_MS)
    assert row["prompt_set_sha256"] == digest
    assert row["run_date"] == pd.Timestamp("2026-10-01T12:00:00Z")
    assert pd.isna(row["concurrency"]) and math.isnan(row["ttft_p50_ms"])


def test_history_keeps_the_measured_rows_and_the_report_never_picks_an_import(
    tmp_path: Path, results: Path
) -> None:
    from servegate.report.build import select_runs

    before = rebuild_history(results, tmp_path / "before.csv", pricing=None).rows
    source = tmp_path / "poc.csv"
    _write_csv(source, "s")
    # Dated after the fixtures, so it is the newest run of all.
    imported = import_latency_csv(
        source, latency_column="latency", unit="s", results_dir=results, run_date="2030-01-01"
    )
    after = rebuild_history(results, tmp_path / "after.csv", pricing=None).rows
    kept = after[after["run_id"] != imported.run_id].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, before)
    assert list(after["backend"][after["run_id"] == imported.run_id]) == ["imported"]
    assert set(kept["source"]) == {"measured", ""}  # "" for the skipped run, as before
    local, hosted, broken = select_runs(results)
    assert local is not None and local.run_id == VLLM_RUN
    assert hosted is not None and hosted.backend == "openai" and broken == []


def test_status_and_error_columns_decide_the_status(tmp_path: Path) -> None:
    source = tmp_path / "s.csv"
    source.write_text(
        "status,err,ms\n"
        "ok,,10\nSuccess,,11\n200,,12\nTrue,false,13\n"  # ok in four spellings
        "timeout,,30000\n"  # a servegate status is kept
        "500,,14\nfailed,,\n,,15\n"  # an HTTP error, a word, no status: errors
        "ok,boom,16\n"  # an error text wins over an ok status
    )
    result = import_latency_csv(
        source,
        latency_column="ms",
        unit="ms",
        results_dir=tmp_path / "results",
        error_column="err",
    )
    req = load_run(result.run_dir).requests
    assert list(req["status"]) == ["ok"] * 4 + ["timeout"] + ["error"] * 4
    assert list(req["error"])[4:] == [
        "source status 'timeout'",
        "source status '500'",
        "source status 'failed'",
        "no status in the source",
        "boom",
    ]
    assert list(req["e2e_ms"])[:5] == [10.0, 11.0, 12.0, 13.0, 30000.0]
    assert list(req["prompt_id"]) == [str(i) for i in range(1, 10)]  # the row number


def test_without_failure_columns_every_row_is_ok(tmp_path: Path) -> None:
    source = tmp_path / "plain.csv"
    source.write_text("latency_s\n0.5\n1.25\n")
    result = import_latency_csv(
        source, latency_column="latency_s", unit="s", results_dir=tmp_path / "r"
    )
    req = load_run(result.run_dir).requests
    assert list(req["status"]) == ["ok", "ok"] and list(req["e2e_ms"]) == [500.0, 1250.0]
    assert result.n_errors == 0 and result.columns == {"latency": "latency_s"}


def test_relaxed_columns_are_for_imported_runs_only(tmp_path: Path) -> None:
    source = tmp_path / "plain.csv"
    source.write_text("latency_s\n0.5\n")
    run_dir = import_latency_csv(
        source, latency_column="latency_s", unit="s", results_dir=tmp_path / "r"
    ).run_dir
    record = json.loads((run_dir / "run.json").read_text())
    del record["source"]  # now it claims to be measured, with no queue or clock times
    (run_dir / "run.json").write_text(json.dumps(record))
    with pytest.raises(RunFolderError, match="column 'queue_ms' must not be empty"):
        load_run(run_dir)


def _entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


GOOD = "id,latency_s,error\na,0.5,\nb,0.7,\n"
BAD_INPUT = [
    # (case, file text or None for no file, flags, words the message must hold)
    ("no such file", None, {}, "no such file"),
    ("empty file", "", {}, "the file is empty"),
    ("header only", "id,latency_s,error\n", {}, "has a header but no rows"),
    (
        "no such column",
        GOOD,
        {"latency_column": "latency"},
        "no column 'latency' (asked for as the latency column); use one of the file's columns: "
        "'id', 'latency_s', 'error'",
    ),
    (
        "no such status column",
        GOOD,
        {"status_column": "state"},
        "no column 'state' (asked for as the status column)",
    ),
    (
        "not a number",
        "id,latency_s,error\na,0.5,\nb,fast,\nc,1.x,\n",
        {},
        "column 'latency_s' row 2 (line 3) is not a finite number, got 'fast' "
        "(1 more row(s) like it)",
    ),
    ("infinite", "latency_s\n0.5\ninf\n", {}, "row 2 (line 3) is not a finite number, got 'inf'"),
    ("negative", "latency_s\n0.5\n0.2\n-0.5\n", {}, "row 3 (line 4) is negative, got '-0.5'"),
    (
        "ok row without latency",
        "id,latency_s,error\na,0.5,\nb,,\n",
        {},
        "row 2 (line 3) is empty but the request succeeded",
    ),
    ("unknown unit", GOOD, {"unit": "sec"}, "unknown unit 'sec'; pass --unit s or --unit ms"),
    ("reserved backend", GOOD, {"backend": "vllm"}, "backend 'vllm' is reserved"),
    ("bad backend", GOOD, {"backend": "a/b"}, "backend 'a/b' is unfit for a folder name"),
    ("bad run date", GOOD, {"run_date": "yesterday"}, "'yesterday' is not an ISO 8601"),
    ("bad label", GOOD, {"label": "my run"}, "run_label 'my run' must be"),
]


@pytest.mark.parametrize(
    ("text", "flags", "message"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_is_one_clear_error_and_writes_nothing(
    tmp_path: Path, results: Path, text: str | None, flags: dict[str, str], message: str
) -> None:
    source = tmp_path / "in.csv"
    if text is not None:
        source.write_text(text)
    before = _entries(results)
    kwargs = {"latency_column": "latency_s", "unit": "s", "results_dir": results, **flags}
    with pytest.raises(ConfigError) as caught:
        import_latency_csv(source, **kwargs)
    assert message in str(caught.value)
    assert _entries(results) == before  # no run folder, no temporary folder


def test_bad_input_errors_name_the_file_and_row(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("latency_s\n0.5\n-1\n")
    with pytest.raises(ImportFileError) as caught:
        import_latency_csv(source, latency_column="latency_s", unit="s", results_dir=tmp_path)
    assert (caught.value.path, caught.value.row) == (str(source), 2)
    assert str(caught.value).startswith(f"{source}: ")


def test_the_same_file_twice_is_refused(tmp_path: Path) -> None:
    source, results = tmp_path / "in.csv", tmp_path / "results"
    source.write_text(GOOD)
    first = import_latency_csv(source, latency_column="latency_s", unit="s", results_dir=results)
    with pytest.raises(ImportFileError, match=f"already imported as {first.run_dir}"):
        import_latency_csv(source, latency_column="latency_s", unit="s", results_dir=results)
    assert _entries(results) == {first.run_id}


def test_a_write_that_fails_midway_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, results = tmp_path / "in.csv", tmp_path / "results"
    source.write_text(GOOD)

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(folder, "atomic_write_json", disk_full)  # after requests.csv
    with pytest.raises(OSError, match="No space left"):
        import_latency_csv(source, latency_column="latency_s", unit="s", results_dir=results)
    assert _entries(results) == set()
    runs, broken = list_runs(results)
    assert runs == [] and broken == []


def test_a_percentile_among_failures_is_saved_as_inf_and_read_back(tmp_path: Path) -> None:
    source = tmp_path / "half_failed.csv"
    rows = [{"latency": f"{100 + k}", "error": "HTTP 500" if k % 2 else ""} for k in range(20)]
    pd.DataFrame(rows).to_csv(source, index=False)
    result = import_latency_csv(
        source, latency_column="latency", unit="ms", results_dir=tmp_path / "r", model="m"
    )
    text = (result.run_dir / "run.json").read_text()
    assert '"value": "inf"' in text and "Infinity" not in text  # strict JSON, one spelling
    (level,) = load_run(result.run_dir).levels
    assert level.e2e_ms is not None and level.e2e_ms.p95.value == math.inf
