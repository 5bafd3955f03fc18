"""The real vLLM server killed mid-run: the run stops the level, records the crash, keeps every
finished request, and the gates call it a stability failure, not missing data."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from servegate.analysis.gates import GateParams, evaluate_gates
from servegate.jobs.bench import run_benchmark
from servegate.runs.reader import load_run
from tests.helpers import REPO

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def _vllm_servers() -> set[int]:
    """Our vLLM API servers (the session's shared one included), by pid."""
    return {
        child.pid
        for child in psutil.Process().children(recursive=True)
        if "vllm.entrypoints.openai.api_server" in " ".join(child.cmdline())
    }


def _kill_vllm_after_rows(results: Path, rows: int, others: set[int], killed: dict) -> None:
    """SIGKILL the run's own server (not the shared one) once ``rows`` requests finished."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for path in results.glob("*/requests.csv"):
            if len(path.read_text().splitlines()) > rows:
                for pid in _vllm_servers() - others:
                    killed["pid"], killed["pgid"] = pid, os.getpgid(pid)
                    os.kill(pid, signal.SIGKILL)
                    return
        time.sleep(0.2)


def test_vllm_killed_mid_run_is_a_recorded_crash(built_model: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    killed: dict = {}
    killer = threading.Thread(
        target=_kill_vllm_after_rows, args=(results, 3, _vllm_servers(), killed), daemon=True
    )
    killer.start()
    result = run_benchmark(
        {
            "backend": "vllm",
            "model_path": str(built_model),
            "prompts": str(REPO / "data/prompts/interactive_v1.jsonl"),
            "n_prompts": 40,
            "concurrency": [2],
            "max_tokens": 32,
            "results_dir": str(results),
            "run_label": "crash",
            "warmup_requests": 0,
            # enforce_eager: this tests the lifecycle, not speed; it starts in ~40 s, not ~95 s
            "server": {
                "kv_cache_space_gib": 1,
                "progress": False,
                "warmup_requests": 1,
                "enforce_eager": True,
            },
        },
        progress=False,
    )
    killer.join(5)
    assert killed, "the test never found the vLLM process to kill"
    record = json.loads((result.run_dir / "run.json").read_text())
    assert result.state == record["state"] == "server_crashed"
    assert "vLLM exited with code -9" in record["error"] and "SIGKILL" in record["error"]
    assert record["log_tail"].strip()
    assert record["server"]["crashed"] is True
    with open(result.run_dir / "requests.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == record["n_request_rows"]
    assert sum(r["status"] == "ok" for r in rows) >= 3  # every finished request kept
    # requests in flight or sent after the kill are rows too, failed, never dropped
    failed = [r for r in rows if r["status"] != "ok"]
    assert failed and {r["status"] for r in failed} <= {"error", "cancelled"}
    assert record["levels"][0]["n_errors"] == len(failed)
    # The level stops when the server dies instead of sending its other prompts into a dead
    # port (measured: 17 rows, 14 failed; before the pidfd watcher all 40 were sent, 37 failed).
    print(f"crash: {len(rows)} rows, {len(failed)} failed, of 40 prompts")
    assert len(rows) < 40 and record["levels"][0]["aborted"]
    gates = evaluate_gates(load_run(result.run_dir), GateParams(min_prompts=10)).gates
    stability = next(g for g in gates if g.name == "stability")
    assert stability.verdict == "FAIL" and "the server crashed" in stability.note
    assert not [
        p
        for p in psutil.process_iter(["cmdline"])
        if "vllm.entrypoints" in " ".join(p.info["cmdline"] or []) and p.pid == killed["pid"]
    ]
    # Its engine processes (EngineCore, workers) outlive a SIGKILLed API server unless stopped:
    # nothing of the crashed server's process group may be left holding memory.
    _, left = psutil.wait_procs(_group(killed["pgid"]), timeout=15)
    assert not left, f"processes of the crashed server left: {[p.name() for p in left]}"


def _group(pgid: int) -> list[psutil.Process]:
    out = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(proc.pid) == pgid:
                out.append(proc)
    return out
