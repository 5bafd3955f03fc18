"""The command line's parameters end to end: ``-p`` reaches run.json, a typo stops papermill."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.cli import main
from servegate.core.errors import NotebookError
from servegate.jobs.pipeline import execute_notebook

pytestmark = pytest.mark.notebooks

CANARY = "sk-canary-cli-0123456789abcdefghij"


@pytest.fixture(scope="module")
def target() -> Iterator[CalibrationServer]:
    config = CalibrationConfig(
        seed=3, ttft_ms=5, itl_ms=1, output_tokens_min=4, output_tokens_max=8, model="smollm2"
    )
    with CalibrationServer(config) as server:
        yield server


def test_bench_overrides_reach_run_json_and_no_key_does(
    target: CalibrationServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"n_prompts": 50, "concurrency": [1, 8], "warmup_requests": 0}))
    results = tmp_path / "results"
    argv = ["bench", "--params", str(base), "-p", f"base_url={target.root_url}"]
    argv += ["-p", "n_prompts=6", "-p", "baseline_prompts=3", "-p", "concurrency=[2]"]
    argv += ["-p", "max_tokens=null", "-p", "run_label=cli-p", "-p", f"results_dir={results}"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    (run_dir,) = results.iterdir()
    assert f"bench: run folder {run_dir}\nbench: complete\n" in out
    record = json.loads((run_dir / "run.json").read_text())
    params = record["params"]
    assert params["n_prompts"] == 6 and params["concurrency"] == [2]
    assert params["max_tokens"] is None and params["run_label"] == "cli-p"
    assert record["state"] == "complete"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


def test_bench_prints_a_skipped_hosted_run_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    argv = ["bench", "--params", "params/cpu_default.yaml", "params/hosted_openai.yaml"]
    assert main([*argv, "-p", f"results_dir={tmp_path}", "-q"]) == 0
    captured = capsys.readouterr()
    assert "notice: hosted run will be skipped: OPENAI_API_KEY is not set" in captured.err
    assert "bench: skipped: OPENAI_API_KEY is not set in the environment" in captured.out


def test_a_misspelt_papermill_parameter_stops_the_notebook(tmp_path: Path) -> None:
    params = {
        "results_dir": str(tmp_path / "results"),
        "history_path": str(tmp_path / "history.csv"),
        "resluts_dir": "eval/results",
    }
    (tmp_path / "results").mkdir()
    with pytest.raises(NotebookError) as info:
        execute_notebook("02_aggregate.ipynb", tmp_path / "02.ipynb", params)
    assert "unknown parameter 'resluts_dir' (did you mean 'results_dir'?)" in str(info.value)
    assert not (tmp_path / "history.csv").exists()
