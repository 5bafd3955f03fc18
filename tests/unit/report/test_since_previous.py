"""01_benchmark's last section: this run against the previous comparable run."""

from __future__ import annotations

from pathlib import Path

from servegate.report.ops import since_previous
from servegate.runs.reader import load_run
from tests.helpers import VLLM_RUN, clone_run, copy_fixtures, edit_json


def test_a_rerun_is_compared_with_the_run_before_it(tmp_path: Path) -> None:
    results = copy_fixtures(tmp_path / "results")
    rerun = clone_run(VLLM_RUN, results, "20261127T080000Z_try_vllm")
    edit_json(rerun, created_at="2026-11-27T08:00:00+00:00")
    compared = since_previous(load_run(rerun), results)
    assert list(compared) == ["local"]
    local = compared["local"]
    assert local.previous_run == VLLM_RUN
    assert local.changes and all(c.change_ms == 0 for c in local.changes)  # the same requests
    assert local.regressions == []


def test_a_first_run_says_there_is_nothing_to_compare(tmp_path: Path) -> None:
    results = copy_fixtures(tmp_path / "results")
    compared = since_previous(load_run(results / VLLM_RUN), results)
    assert compared["local"].previous_run is None
    assert compared["local"].message == "no previous comparable run"
