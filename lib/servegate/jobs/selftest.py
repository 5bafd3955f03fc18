"""``servegate selftest``: measure the harness itself against the calibration server's truth.

Starts a calibration server scripted to known timings, runs one closed-loop level of
servegate's load generator against it, and compares the client's TTFT and end-to-end
percentiles with what the server measured for the same requests. On this project's 2-core
machines the errors stay within about a millisecond at 64 streams (benchmarks/RESULTS.md);
a machine that cannot keep up shows it here before it distorts a real benchmark.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from servegate.calibration.server import CalibrationConfig, CalibrationServer, TruthRow
from servegate.measure.eventloop import run_async
from servegate.measure.loadgen import ChatTarget, LevelSpec, LoadGenerator
from servegate.measure.prompts import Message, Prompt

__all__ = ["SelftestResult", "compare_to_truth", "run_selftest"]


@dataclass(frozen=True)
class SelftestResult:
    """Client-minus-truth errors in ms (p50 and p95 of TTFT and end-to-end) and the verdict."""

    streams: int
    n_requests: int
    n_failed: int
    errors_ms: dict[str, float]
    tolerance_ms: float
    client_cpu_s_per_1k_tokens: float

    @property
    def passed(self) -> bool:
        return self.n_failed == 0 and all(
            abs(v) <= self.tolerance_ms for v in self.errors_ms.values()
        )


def compare_to_truth(
    ttft_ms: Sequence[float], e2e_ms: Sequence[float], truth: Sequence[TruthRow]
) -> dict[str, float]:
    """Client percentile minus the server's, for p50 and p95 of TTFT and end-to-end latency.

    The server's truth is its own clock from a request's arrival to its first content token
    (``observed_ttft_ms``) and to its last byte (``observed_e2e_ms``). Percentiles are numpy's
    linear ones over the same set of requests on both sides.
    """
    pairs = {
        "ttft": (ttft_ms, _observed([t["observed_ttft_ms"] for t in truth], "observed_ttft_ms")),
        "e2e": (e2e_ms, _observed([t["observed_e2e_ms"] for t in truth], "observed_e2e_ms")),
    }
    return {
        f"{name}_p{q}": float(np.percentile(ours, q) - np.percentile(theirs, q))
        for name, (ours, theirs) in pairs.items()
        for q in (50, 95)
    }


def _observed(values: Sequence[float | None], name: str) -> list[float]:
    """The server's times of the compared requests, each of which sent content.

    :raises ValueError: when a row has none (a failed or empty answer was compared).
    """
    if any(v is None for v in values):
        raise ValueError(f"a truth row has no {name}: compare only requests that sent content")
    return [v for v in values if v is not None]


def run_selftest(
    *,
    streams: int = 64,
    n_requests: int = 256,
    ttft_ms: float = 200.0,
    itl_ms: float = 40.0,
    tokens: tuple[int, int] = (32, 128),
    tolerance_ms: float = 2.0,
    seed: int = 1,
) -> SelftestResult:
    """Run the self-test; see the module docstring. Takes about n_requests / streams * 4 s."""
    config = CalibrationConfig(
        seed=seed,
        ttft_ms={"kind": "uniform", "low": ttft_ms * 0.9, "high": ttft_ms * 1.1},
        itl_ms=itl_ms,
        output_tokens_min=tokens[0],
        output_tokens_max=tokens[1],
    )
    prompts = [
        Prompt(
            id=f"selftest-{i}",
            category="selftest",
            max_tokens=tokens[1],
            messages=[Message(role="user", content=f"Tell me about item {i}.")],
        )
        for i in range(n_requests)
    ]
    with (
        tempfile.TemporaryDirectory() as tmp,
        CalibrationServer(config, truth_path=Path(tmp) / "truth.jsonl") as server,
    ):
        gen = LoadGenerator(
            ChatTarget(base_url=server.base_url, model=config.model, backend="calibration"),
            run_id="selftest",
            timeout_s=60,
            progress=False,
        )
        spec = LevelSpec(prompts=prompts, concurrency=streams)
        cpu0 = time.process_time()
        result = run_async(lambda abort: gen.run_level(spec, abort))
        cpu_s = time.process_time() - cpu0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the last rows land just after the last bytes
            truth = [t for t in server.truth() if t["arrival_unix_s"] >= result.started_unix]
            if len(truth) >= n_requests:
                break
            time.sleep(0.05)
    ok = [r for r in result.records if r.status == "ok"]
    # An ok record always has a TTFT (its answer had content); the filter only tells mypy.
    ttft = [r.ttft_ms for r in ok if r.ttft_ms is not None]
    tokens_total = sum(t["output_tokens"] for t in truth)
    return SelftestResult(
        streams=streams,
        n_requests=len(result.records),
        n_failed=len(result.records) - len(ok),
        errors_ms=compare_to_truth(ttft, [r.e2e_ms for r in ok], truth),
        tolerance_ms=tolerance_ms,
        client_cpu_s_per_1k_tokens=cpu_s / tokens_total * 1000 if tokens_total else float("nan"),
    )
