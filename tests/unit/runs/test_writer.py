"""The run writer: a run SIGKILLed mid-write is still a readable run folder."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from servegate.runs.reader import load_run

KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from servegate.records.request import RequestRecord
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
    assert level.level == "c4" and level.n_requests == len(run.requests) >= 40
    assert level.counts["timeout"] == (run.requests["seq"] % 10 == 0).sum()
    assert level.e2e_ms is not None and level.e2e_ms.p95.value == math.inf  # a miss
