"""``servegate search`` end to end: papermill runs notebooks/05_search.ipynb against a knee."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.cli import main

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

CANARY = "sk-canary-search-0123456789abcdefghij"
KNEE = 3


def test_search_prints_the_answer_and_keeps_its_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    config = CalibrationConfig(
        seed=5,
        ttft_ms={"kind": "lognormal", "median": 15, "sigma": 0.3},
        itl_ms=1,
        output_tokens_min=2,
        output_tokens_max=4,
        model="smollm2",
        slots=KNEE,
        knee_delay_ms=300,
    )
    params = tmp_path / "search.yaml"
    block = {"p95_ms": 150, "p50_ms": 80, "max_concurrency": 16}
    params.write_text(yaml.safe_dump({"extends": str(Path.cwd() / "params/search_cpu.yaml")}))
    results = tmp_path / "results"
    with CalibrationServer(config) as srv:
        argv = ["search", "--params", str(params), "-p", f"base_url={srv.base_url}", "-q"]
        argv += ["-p", f"results_dir={results}", "-p", "warmup_requests=0"]
        argv += [x for key, value in block.items() for x in ("-p", f"search.{key}={value}")]
        assert main(argv) == 0
    out = capsys.readouterr().out
    (run_dir,) = results.iterdir()
    assert f"search: run folder {run_dir}\nsearch: complete\n" in out
    assert f"search: highest passing concurrency {KNEE}, lowest failing {KNEE + 1}" in out
    record = json.loads((run_dir / "run.json").read_text())
    assert record["search"]["max_passing_concurrency"] == KNEE
    assert record["search"]["limits"]["p95_ms"] == 150
    notebook = nbformat.read(run_dir / "05_search.ipynb", as_version=4)
    shown = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    assert f"One replica carries concurrency {KNEE}" in shown
    assert "image/png" in shown  # the search path and the latency figures
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


def test_a_bad_search_block_stops_before_any_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["search", "--params", "params/search_cpu.yaml", "-q"]
    argv += ["-p", f"results_dir={tmp_path / 'results'}", "-p", "search.max_concurrency=8"]
    argv += ["-p", "search.min_concurrency=99"]
    # An address nothing listens on: were the check to slip, no vLLM would start.
    argv += ["-p", "base_url=http://127.0.0.1:9/v1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "search: min_concurrency (99) is above max_concurrency (8); swap them" in err
    assert err.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "results").exists()
