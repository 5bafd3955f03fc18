"""A benchmark told to stop (Ctrl-C, SIGTERM) or killed keeps every finished request."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.runs.reader import load_run


def _start_benchmark(tmp_path: Path, base_url: str) -> tuple[subprocess.Popen, Path]:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"p{i}",
                    "category": "t",
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": f"question {i}"}],
                }
            )
            + "\n"
            for i in range(200)
        )
    )
    results = tmp_path / "results"
    # A shell without job control starts background commands with SIGINT ignored, and Python
    # keeps it ignored; a person pressing Ctrl-C has the default handler, so the test does too.
    code = textwrap.dedent(f"""
        import signal
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from servegate.jobs.bench import run_benchmark
        run_benchmark({{"backend": "vllm", "base_url": {base_url!r}, "model": "calibration",
                        "prompts": {str(prompts)!r}, "n_prompts": 200, "concurrency": [8],
                        "results_dir": {str(results)!r}, "run_label": "stop",
                        "warmup_requests": 0}}, progress=False)
    """)
    return subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE), results


def _wait_for_rows(results: Path, n: int, timeout_s: float = 60) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for csv_path in results.glob("*/requests.csv"):
            if len(csv_path.read_text().splitlines()) > n:
                return csv_path.parent
        time.sleep(0.1)
    raise AssertionError("the benchmark wrote no rows in time")


@pytest.fixture(scope="module")
def slow_server():
    # ~0.5 s per answer: a level of 200 requests at 8 streams lasts ~12 s, time to interrupt it.
    config = CalibrationConfig(
        seed=4, ttft_ms=100, itl_ms=10, output_tokens_min=30, output_tokens_max=50
    )
    with CalibrationServer(config) as server:
        yield server


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_run_says_interrupted_and_keeps_every_row(
    slow_server: CalibrationServer, tmp_path: Path, sig: int
) -> None:
    proc, results = _start_benchmark(tmp_path, slow_server.root_url)
    run_dir = _wait_for_rows(results, 10)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    record = json.loads((run_dir / "run.json").read_text())
    assert record["state"] == "interrupted", stderr.decode()[-500:]
    with open(run_dir / "requests.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == record["n_request_rows"]
    statuses = {r["status"] for r in rows}
    assert "ok" in statuses and "cancelled" in statuses  # in-flight requests are rows too
    assert len(rows) < 200


def test_a_killed_run_is_read_back_as_incomplete(
    slow_server: CalibrationServer, tmp_path: Path
) -> None:
    proc, results = _start_benchmark(tmp_path, slow_server.root_url)
    run_dir = _wait_for_rows(results, 10)
    proc.kill()  # SIGKILL: no handler runs, run.json still says "running"
    proc.wait(timeout=30)
    assert json.loads((run_dir / "run.json").read_text())["state"] == "running"
    run = load_run(run_dir)
    assert run.incomplete
    finished = len(run.requests)
    assert finished >= 10
    assert sum(level.n_requests for level in run.levels) == finished
