"""Reading run folders back: the fixture runs, hand-edited and truncated files, a SIGKILLed run."""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from servegate.core.errors import ConfigError, RunFolderError
from servegate.core.names import REQUEST_COLUMNS
from servegate.runs.reader import as_float, list_runs, load_run
from tests.helpers import (
    FIXTURE_RUNS,
    HOSTED_RUN,
    SKIPPED_RUN,
    VLLM_RUN,
    clone_run,
    copy_fixtures,
    edit_json,
    make_killed_run,
)


def test_vllm_fixture_loads_with_typed_columns() -> None:
    run = load_run(FIXTURE_RUNS / VLLM_RUN)
    assert run.run_id == VLLM_RUN
    assert (run.backend, run.model, run.label, run.state) == ("vllm", "smollm2", "try", "complete")
    assert run.created_at == datetime(2026, 11, 26, 23, 13, 45, tzinfo=UTC)
    assert [lv["level"] for lv in run.levels] == ["c1", "c8"]
    assert run.manifest["hardware"]["cpu_model"] == "AMD EPYC"
    assert not run.incomplete and run.recomputed_levels == () and run.notes == ()
    frame = run.requests
    assert list(frame.columns) == list(REQUEST_COLUMNS)
    assert len(frame) == 30
    assert frame["e2e_ms"].dtype == "float64"
    assert str(frame["concurrency"].dtype) == "Int64"
    assert frame["e2e_ms"].iloc[0] == pytest.approx(1009.117)
    assert set(frame["status"]) == {"ok"}


def test_hosted_fixture_restores_inf_and_keeps_failed_rows() -> None:
    run = load_run(FIXTURE_RUNS / HOSTED_RUN)
    c1 = run.levels[0]
    assert c1["ttft_ms"]["p95"]["value"] == math.inf  # written as "inf" in run.json
    assert c1["ttft_ms"]["p95"]["ci_high"] is None  # unbounded stays None
    failed = run.requests[run.requests["status"] == "error"]
    assert len(failed) == 1
    assert int(failed["http_status"].iloc[0]) == 429
    assert math.isnan(failed["ttft_ms"].iloc[0])
    assert failed["error"].iloc[0].startswith("HTTP 429")


def test_skipped_run_loads_with_no_rows() -> None:
    run = load_run(FIXTURE_RUNS / SKIPPED_RUN)
    assert run.state == "skipped"
    assert run.levels == [] and run.manifest == {}
    assert list(run.requests.columns) == list(REQUEST_COLUMNS) and len(run.requests) == 0
    assert run.backend == "openai" and run.model == "gpt-4o-mini"
    assert not run.incomplete


def test_as_float() -> None:
    assert as_float("inf") == math.inf
    assert as_float("-inf") == -math.inf
    assert as_float(None) is None
    assert as_float(float("nan")) is None
    assert as_float(3) == 3.0 and isinstance(as_float(3), float)
    with pytest.raises(ValueError, match="expected a number or 'inf', got the string 'fast'"):
        as_float("fast")
    with pytest.raises(ValueError, match="boolean"):
        as_float(True)


def test_truncated_csv_mid_row_names_folder_file_and_line(tmp_path: Path) -> None:
    folder = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_cut_vllm")
    path = folder / "requests.csv"
    path.write_bytes(path.read_bytes()[:-25])
    with pytest.raises(RunFolderError, match=r"requests.csv line 31: the last line is cut") as info:
        load_run(folder)
    assert str(folder) in str(info.value)
    assert "delete the run folder" in str(info.value)
    assert (info.value.file, info.value.line, info.value.run_dir) == (
        "requests.csv",
        31,
        str(folder),
    )


def test_hand_edited_text_latency_is_refused(tmp_path: Path) -> None:
    folder = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_edited_vllm")
    path = folder / "requests.csv"
    lines = path.read_text().splitlines(keepends=True)
    fields = lines[4].rstrip("\r\n").split(",")
    fields[REQUEST_COLUMNS.index("e2e_ms")] = "about 2 s"
    lines[4] = ",".join(fields) + "\r\n"
    path.write_text("".join(lines))
    with pytest.raises(
        RunFolderError, match=r"line 5: column 'e2e_ms' must be a finite number, got 'about 2 s'"
    ) as info:
        load_run(folder)
    assert info.value.line == 5


def test_missing_column_and_unknown_status_are_refused(tmp_path: Path) -> None:
    folder = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_nocol_vllm")
    path = folder / "requests.csv"
    original = path.read_text()
    rows = [line.split(",") for line in original.splitlines()]
    i = rows[0].index("ttft_ms")
    path.write_text("\n".join(",".join(r[:i] + r[i + 1 :]) for r in rows) + "\n")
    with pytest.raises(RunFolderError, match=r"line 1: the header .*missing \['ttft_ms'\]"):
        load_run(folder)
    lines = original.splitlines(keepends=True)
    lines[2] = lines[2].replace(",ok,", ",great,", 1)
    path.write_text("".join(lines))
    with pytest.raises(RunFolderError, match=r"line 3: column 'status' must be one of .*'great'"):
        load_run(folder)


def test_rows_missing_from_a_complete_run_are_refused(tmp_path: Path) -> None:
    folder = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_short_vllm")
    path = folder / "requests.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # cut at a line end: only the counts can tell
    with pytest.raises(RunFolderError, match=r"level 'c8' has 23 rows but run.json counts 24"):
        load_run(folder)


def test_rows_of_another_run_are_refused(tmp_path: Path) -> None:
    folder = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_mixed_vllm")
    path = folder / "requests.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace("20261126T231345Z_mixed_vllm", "20261126T000000Z_other_vllm")
    path.write_text("".join(lines))
    with pytest.raises(RunFolderError, match=r"line 4: run_id is '20261126T000000Z_other_vllm'"):
        load_run(folder)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "run.json").unlink(), "run.json is missing"),
        (lambda f: (f / "run.json").write_text("{not json"), "is not valid JSON"),
        (lambda f: (f / "run.json").write_text("[1, 2]"), "must hold a JSON object, got list"),
        (lambda f: edit_json(f, schema_version=2), "schema_version is 2, this servegate reads"),
        (lambda f: edit_json(f, state="done"), "state must be one of"),
        (lambda f: edit_json(f, created_at="yesterday"), "created_at must be an ISO 8601 time"),
        (lambda f: (f / "requests.csv").unlink(), "requests.csv is missing"),
        (lambda f: (f / "requests.csv").write_text(""), "is empty, not even a header"),
    ],
)
def test_broken_run_json_or_csv(tmp_path: Path, damage, message: str) -> None:
    folder = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_broken_vllm")
    damage(folder)
    with pytest.raises(RunFolderError, match=message) as info:
        load_run(folder)
    assert str(folder) in str(info.value)


def test_killed_run_is_incomplete_and_recomputed_from_requests(tmp_path: Path) -> None:
    folder = make_killed_run(tmp_path)
    run = load_run(folder)
    assert run.state == "running" and run.incomplete
    assert [lv["level"] for lv in run.levels] == ["c1", "c8"]
    c8 = run.levels[1]
    assert c8["recomputed_from"] == "requests.csv"
    assert (c8["n_requests"], c8["n_ok"], c8["counts"]["ok"]) == (10, 10, 10)
    assert c8["concurrency"] == 8 and c8["request_rate"] is None
    assert c8["e2e_ms"]["n"] == 10 and c8["throughput"]["output_tok_per_s"]["value"] > 0
    assert len(run.requests) == 16
    assert run.notes and "line 18 was cut mid-row" in run.notes[0]


def test_recomputed_level_agrees_with_the_summary_it_replaces(tmp_path: Path) -> None:
    # All c8 rows kept, its summary removed: the recomputation must match what bench wrote.
    folder = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_again_vllm")
    record = edit_json(folder, state="running")
    original = record["levels"][1]
    edit_json(folder, levels=record["levels"][:1])
    again = load_run(folder).levels[1]
    assert again["n_requests"] == original["n_requests"] == 24
    for block in ("e2e_ms", "ttft_ms"):
        for q in ("p50", "p95"):
            assert again[block][q]["value"] == pytest.approx(original[block][q]["value"], abs=1e-2)
    tok = again["throughput"]["output_tok_per_s"]["value"]
    assert tok == pytest.approx(original["throughput"]["output_tok_per_s"]["value"], rel=1e-3)
    assert again["output_tokens_total"] == original["output_tokens_total"]


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from servegate.measure.loadgen import RequestRecord
    from servegate.runs.writer import RunWriter

    w = RunWriter(sys.argv[1], "20261127T000000Z_sigkill_vllm")
    w.update(params={"backend": "vllm", "model": "smollm2", "run_label": "sigkill",
                     "timeout_s": 60.0}, manifest={}, levels=[])
    i = 0
    while True:
        ok = i % 10 != 0
        w.append(RequestRecord(
            run_id=w.run_id, backend="vllm", model="smollm2", concurrency=4, request_rate=None,
            prompt_id=f"p{i}", status="ok" if ok else "timeout", http_status=200 if ok else None,
            error="" if ok else "no complete answer within 60 s", queue_ms=0.1,
            ttft_ms=50.0 + i if ok else None, e2e_ms=500.0 + i if ok else 60000.0,
            itl_mean_ms=10.0, tpot_ms=10.0, input_tokens=20, output_tokens=40 if ok else None,
            tokens_source="usage", level="c4", seq=i, category="x", due_s=i * 0.1,
            end_s=i * 0.1 + 0.5, itl_max_ms=12.0, n_content_chunks=40, finish_reason="stop"))
        i += 1
        time.sleep(0.002)
    """
)


def test_a_really_sigkilled_writer_leaves_a_readable_run(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path)])
    csv_path = tmp_path / "20261127T000000Z_sigkill_vllm" / "requests.csv"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if csv_path.exists() and csv_path.read_text().count("\n") > 40:
                break
            assert proc.poll() is None, "the writer exited on its own"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
    run = load_run(csv_path.parent)
    assert run.state == "running" and run.incomplete
    (level,) = run.levels
    assert level["level"] == "c4" and level["n_requests"] == len(run.requests) >= 40
    assert level["counts"]["timeout"] == (run.requests["seq"] % 10 == 0).sum()
    assert level["e2e_ms"]["p95"]["value"] == math.inf  # 10% timeouts: p95 is a miss


def test_list_runs_sorts_and_reports_broken_folders(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    results = copy_fixtures(tmp_path / "results")
    (results / "20261126T000000Z_norun_vllm").mkdir()
    (results / ".hidden").mkdir()
    (results / "notes.txt").write_text("not a run")
    shutil.copytree(results / VLLM_RUN, results / "copy-of-try")
    make_killed_run(results)
    with caplog.at_level(logging.WARNING, logger="servegate.runs.reader"):
        runs, broken = list_runs(results)
    assert [r.run_id for r in runs] == [
        VLLM_RUN,
        HOSTED_RUN,
        SKIPPED_RUN,
        "20261126T235900Z_killed_vllm",
    ]
    reasons = {p.name: why for p, why in broken}
    assert set(reasons) == {"20261126T000000Z_norun_vllm", "copy-of-try"}
    assert "run.json is missing" in reasons["20261126T000000Z_norun_vllm"]
    assert "the folder is a copy" in reasons["copy-of-try"]
    assert "20261126T000000Z_norun_vllm" in caplog.text and "copy-of-try" in caplog.text


def test_list_runs_needs_the_results_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"results_dir .*nowhere does not exist; run a bench"):
        list_runs(tmp_path / "nowhere")
