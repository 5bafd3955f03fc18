"""`servegate bench` in a terminal or a log: one line per stage and level, the run folder, and
no escape codes when the output is not a terminal (cron mail, CI logs)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.core.progress import FILE_ENV, INTERVAL_ENV, MODE_ENV

pytestmark = pytest.mark.notebooks

SERVEGATE = [sys.executable, "-m", "servegate.cli"]


@pytest.fixture(scope="module")
def target() -> Iterator[CalibrationServer]:
    config = CalibrationConfig(
        seed=5,
        ttft_ms=20,
        itl_ms=5,
        output_tokens_min=8,
        output_tokens_max=16,
        p_http_500=0.1,
        model="smollm2",
    )
    with CalibrationServer(config) as server:
        yield server


def _bench(
    target: CalibrationServer, results: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (MODE_ENV, FILE_ENV)}
    env[INTERVAL_ENV] = "0.2"  # an update line every 0.2 s, so a short level has several
    argv = [
        *SERVEGATE,
        "bench",
        "-p",
        f"base_url={target.base_url}",
        "-p",
        f"results_dir={results}",
    ]
    argv += ["-p", "n_prompts=40", "-p", "baseline_prompts=6", "-p", "concurrency=[1, 4]"]
    argv += ["-p", "warmup_requests=0"]  # a scripted 500 must not stop the warm-up
    return subprocess.run(
        [*argv, *extra], capture_output=True, text=True, env=env, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def bench_run(
    target: CalibrationServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One `servegate bench` whose output and run folder several tests read."""
    results = tmp_path_factory.mktemp("progress") / "results"
    done = _bench(target, results)
    assert done.returncode == 0, done.stderr
    (run_dir,) = results.iterdir()
    return done, run_dir


def test_the_terminal_output_names_each_level_with_its_counts_and_the_run_folder(
    bench_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, run_dir = bench_run
    record = json.loads((run_dir / "run.json").read_text())
    err = done.stderr
    for level in record["levels"]:
        n, failed = level["n_requests"], level["n_errors"]
        summary = f"vllm {level['level']}: {n}/{n} requests ({n - failed} ok, {failed} failed) in "
        assert summary in err, err
    c4_updates = re.findall(
        r"^vllm c4: (\d+)/40 requests \(\d+ ok, \d+ failed\), .* ETA ", err, re.M
    )
    assert c4_updates, "a level says how far it is while it runs"
    assert f"run folder {run_dir} (complete)" in err
    assert f"bench: run folder {run_dir}\nbench: complete\n" in done.stdout
    assert "\x1b" not in done.stdout + done.stderr  # not a terminal: no escape codes
    assert "\r" not in done.stdout + done.stderr


def test_the_executed_notebook_keeps_a_summary_not_the_updates(
    bench_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, run_dir = bench_run
    nb = nbformat.read(run_dir / "01_benchmark.ipynb", as_version=4)
    streams = "".join(
        "".join(o["text"])
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream"
    )
    assert "vllm c4: 40/40 requests" in streams
    assert " ETA " not in streams, "the live updates stay out of the notebook"
    assert len(streams.splitlines()) < 12


def test_quiet_shows_no_progress_but_still_the_run_folder(
    target: CalibrationServer, tmp_path: Path
) -> None:
    done = _bench(target, tmp_path / "results", "-q")
    assert done.returncode == 0, done.stderr
    (run_dir,) = (tmp_path / "results").iterdir()
    assert "requests (" not in done.stderr
    assert f"bench: run folder {run_dir}" in done.stdout


def test_a_failed_cell_is_one_line_naming_the_error_and_the_kept_notebook(
    target: CalibrationServer, tmp_path: Path
) -> None:
    done = _bench(target, tmp_path / "results", "-p", "base_url=http://127.0.0.1:9/v1")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("servegate: error:")]
    assert "01_benchmark.ipynb stopped at cell" in line and "127.0.0.1:9" in line
    kept = Path(line.rsplit("whole traceback: ", 1)[1].rstrip(")"))
    assert kept.is_file() and kept.is_relative_to(tmp_path / "results")
