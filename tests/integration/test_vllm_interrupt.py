"""SIGTERM to a benchmark that launched its own vLLM server, mid-level: the server's whole
process tree stops, run.json says ``interrupted``, and every finished request is kept.

The halves are tested apart with cheaper parts (test_interruption.py against the calibration
server, test_vllm_failures.py for SIGTERM during start-up); this is the whole path, once.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from servegate.runs.reader import load_run
from tests.helpers import REPO

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def _vllm_family(root: psutil.Process) -> list[psutil.Process]:
    """The API server launched under ``root`` and every process under it (engine core, ...)."""
    for child in root.children(recursive=True):
        if "vllm.entrypoints.openai.api_server" in " ".join(child.cmdline()):
            return [child, *child.children(recursive=True)]
    return []


def test_sigterm_mid_run_stops_vllm_and_records_interrupted(
    built_model: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    code = textwrap.dedent(f"""
        from servegate.jobs.bench import run_benchmark
        run_benchmark({{
            "backend": "vllm", "model_path": {str(built_model)!r},
            "prompts": {str(REPO / "data/prompts/interactive_v1.jsonl")!r},
            "n_prompts": 60, "concurrency": [4], "max_tokens": 32,
            "results_dir": {str(results)!r}, "run_label": "sigterm", "warmup_requests": 0,
            # The compiled default (no enforce_eager), as `make report` starts it: the one
            # test that starts it (the shared server is eager, to keep `make test` short).
            "server": {{"kv_cache_space_gib": 1, "progress": False, "warmup_requests": 1}},
        }}, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 600  # vLLM's start takes 1.5-2 min here
        run_dir = None
        while run_dir is None and time.monotonic() < deadline and proc.poll() is None:
            for path in results.glob("*/requests.csv"):
                if len(path.read_text().splitlines()) > 3:  # header + 3 finished requests
                    run_dir = path.parent
            time.sleep(0.2)
        assert run_dir is not None, "no requests finished in time"
        family = _vllm_family(psutil.Process(proc.pid))
        assert family, "the benchmark's vLLM server was not found under it"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _, alive = psutil.wait_procs(family, timeout=30)
    left = [p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"vLLM processes left after SIGTERM: {left}"
    assert proc.returncode != 0
    record = json.loads((run_dir / "run.json").read_text())
    assert record["state"] == "interrupted", stderr.decode()[-800:]
    with open(run_dir / "requests.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == record["n_request_rows"] < 60
    assert sum(r["status"] == "ok" for r in rows) >= 3
    assert {r["status"] for r in rows} <= {"ok", "cancelled"}
    # The stopped level has no summary in run.json; reading the run rebuilds it from the rows.
    run = load_run(run_dir)
    assert run.incomplete and run.levels[0].n_requests == len(rows)
    assert (run_dir / "server.log").stat().st_size > 0
