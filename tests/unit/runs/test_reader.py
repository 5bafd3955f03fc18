"""Reading run folders back: the fixture runs, a broken run.json, and listing a results folder."""

from __future__ import annotations

import logging
import math
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from servegate.core.errors import ConfigError, RunFolderError
from servegate.core.names import REQUEST_COLUMNS
from servegate.runs.reader import list_runs, load_run
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
    assert [lv.level for lv in run.levels] == ["c1", "c8"]
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
    assert c1.ttft_ms is not None
    assert c1.ttft_ms.p95.value == math.inf  # written as "inf" in run.json
    assert c1.ttft_ms.p95.ci_high is None  # unbounded stays None
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


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "run.json").unlink(), "run.json is missing"),
        (lambda f: (f / "run.json").write_text("{not json"), "is not valid JSON"),
        (lambda f: (f / "run.json").write_text("[1, 2]"), "must hold a JSON object, got list"),
        (lambda f: edit_json(f, schema_version=2), "schema_version is 2, this servegate reads"),
        (lambda f: edit_json(f, state="done"), "state: .*got 'done' \\(expected one of running"),
        (lambda f: edit_json(f, created_at="yesterday"), "created_at: .*expected an ISO 8601 time"),
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


def test_a_relative_results_dir_is_under_the_project_root(lab_project: Path) -> None:
    with pytest.raises(ConfigError) as info:
        list_runs("eval/results")  # from notebooks/, as JupyterLab runs a notebook
    assert str(info.value).startswith(
        f"results_dir {lab_project / 'eval/results'} does not exist (a relative results_dir is "
        f"read from the project root {lab_project}); run a benchmark first (`servegate bench "
    )
    copy_fixtures(lab_project / "eval/results")
    runs, broken = list_runs("eval/results")
    assert [r.run_id for r in runs] == [VLLM_RUN, HOSTED_RUN, SKIPPED_RUN] and broken == []
    assert runs[0].run_dir == lab_project / "eval/results" / VLLM_RUN
