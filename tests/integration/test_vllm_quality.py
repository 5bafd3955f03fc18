"""The quality pass on the real engine: bfloat16 on vLLM's CPU build answers wrongly, fast.

vLLM 0.32's CPU build serves SmolLM2 in bfloat16 at about the speed of float32, and every
request succeeds, so no latency gate notices anything; its answers are wrong. The quality
pass is what tells the two settings apart, item by item.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.analysis.gate_rule import Verdict
from servegate.analysis.quality import judge_quality
from servegate.jobs.bench import run_benchmark
from servegate.quality.checks import DEFAULT_CHECKS
from servegate.runs.quality_csv import read_quality
from servegate.runs.reader import load_run
from servegate.server.lifecycle import VLLMServer
from tests.helpers import REPO

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

#: The first items of the checks file (the categories are interleaved): enough to tell the
#: settings apart, few enough for make test's budget on 2 cores.
N_ITEMS = 48


def _common(tmp_path: Path) -> dict[str, object]:
    checks = tmp_path / "checks.jsonl"
    lines = (REPO / DEFAULT_CHECKS).read_text(encoding="utf-8").splitlines(keepends=True)
    checks.write_text("".join(lines[:N_ITEMS]), encoding="utf-8")
    return {
        "backend": "vllm",
        "model": "smollm2",
        "prompts": str(REPO / "data/prompts/interactive_v1.jsonl"),
        "n_prompts": 4,
        "concurrency": [2],
        "baseline_prompts": None,
        "max_tokens": 16,
        "results_dir": str(tmp_path / "results"),
        "warmup_requests": 0,
        "quality_prompts": str(checks),
        "quality_max_tokens": 64,
        "quality_concurrency": 16,
    }


def test_bfloat16_fails_the_quality_gate_against_float32_while_every_request_succeeds(
    vllm_server: VLLMServer, built_model: Path, tmp_path: Path
) -> None:
    common = _common(tmp_path)
    f32 = run_benchmark(
        {**common, "base_url": vllm_server.base_url, "run_label": "f32"}, progress=False
    )
    bf16 = run_benchmark(
        {
            **common,
            "model_path": str(built_model),
            "run_label": "bf16",
            "server": {
                "dtype": "bfloat16",
                "enforce_eager": True,  # the quickest start: no torch.compile
                "max_model_len": 2048,
                "kv_cache_space_gib": 1,
                "warmup_requests": 1,
                "env": {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"},
            },
        },
        progress=False,
    )
    runs = {name: load_run(r.run_dir) for name, r in (("f32", f32), ("bf16", bf16))}
    for name, run in runs.items():
        assert run.state == "complete", name
        # What the latency gates see: every measured request answered, none failed.
        assert set(run.requests["status"]) == {"ok"}, name
        assert run.record.quality is not None and run.record.quality.n_failed_requests == 0
    rows = {name: read_quality(run.run_dir, run.record) for name, run in runs.items()}
    good, bad = runs["f32"].record.quality, runs["bf16"].record.quality
    assert good is not None and bad is not None
    assert good.n == bad.n == N_ITEMS
    # bfloat16 answers wrongly where float32 answers right: the gate, with float32 as the
    # reference, FAILs (its whole interval of bf16 - f32 is below -5 points).
    judged = judge_quality(rows["bf16"], rows["f32"], margin=0.05, floor=0.8)
    assert judged.basis == "hosted"
    assert judged.verdict == Verdict.FAIL, (judged.note, judged.estimate)
    assert judged.n_regressions >= 5
    assert (good.accuracy or 0) - (bad.accuracy or 0) >= 0.2, (good.accuracy, bad.accuracy)
