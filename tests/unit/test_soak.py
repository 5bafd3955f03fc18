"""Soak: 2,000 requests at 256 concurrent streams from a 2-core machine, nothing lost, timings
still true. Marked slow (about 40 s): `make test` runs it, `make test-fast` leaves it out."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.jobs.bench import run_benchmark
from servegate.jobs.selftest import compare_to_truth

pytestmark = pytest.mark.slow

N, STREAMS = 2000, 256


def test_2000_requests_at_256_streams_lose_nothing_and_stay_true(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"s{i:04d}",
                    "category": "soak",
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": f"soak question {i}"}],
                }
            )
            + "\n"
            for i in range(N)
        )
    )
    config = CalibrationConfig(
        seed=7,
        ttft_ms={"kind": "uniform", "low": 180, "high": 220},
        itl_ms=40,
        output_tokens_min=16,
        output_tokens_max=64,
    )
    with CalibrationServer(config, truth_path=tmp_path / "truth.jsonl") as server:
        result = run_benchmark(
            {
                "backend": "vllm",
                "base_url": server.root_url,
                "model": "calibration",
                "prompts": str(prompts),
                "n_prompts": N,
                "concurrency": [STREAMS],
                "results_dir": str(tmp_path / "results"),
                "run_label": "soak",
                "warmup_requests": 0,
                "quality_prompts": None,  # the truth log must hold the 2,000 measured only
                "timeout_s": 60,
            },
            progress=False,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            truth = [t for t in server.truth() if t["output_tokens"] > 1]  # not the warm-up
            if len(truth) >= N:
                break
            time.sleep(0.1)
    with open(result.run_dir / "requests.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert result.state == "complete"
    assert len(rows) == N == result.record.n_request_rows  # zero lost rows
    assert len({r["prompt_id"] for r in rows}) == N
    assert {r["status"] for r in rows} == {"ok"}
    assert len(truth) == N
    errors = compare_to_truth(
        [float(r["ttft_ms"]) for r in rows], [float(r["e2e_ms"]) for r in rows], truth
    )
    # What this guards is a client that falls behind its streams, which shows as tens to
    # hundreds of ms (vLLM's own client: +146 ms at p50, +210 ms at p95 at 512 streams). The
    # few-ms fidelity figure is a measurement, kept in benchmarks/harness_fidelity.py and its
    # RESULTS.md: on this shared 2-core machine the same code measured 2 to 11 ms here from
    # run to run (12 runs, before and after the load generator's refactor alike), so a 5 ms
    # bar made this test fail by chance, not by a change; at the end of a slow day's full
    # `make test` (2026-11-30) TTFT p95 was 25.9 ms off, so the bar is 50 ms: still a third
    # of the smallest error of a client that falls behind.
    print(f"soak errors vs truth (ms): {errors}")
    assert all(abs(err) <= 50.0 for err in errors.values()), errors
