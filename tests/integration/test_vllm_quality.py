"""The quality pass on the real engine: a misconfigured server answers fast and wrongly.

The setting: a chat template written for ShareGPT-style roles (``human``/``gpt``), served
with vLLM's ``--chat-template``. It renders the system prompt and silently drops every
``user`` turn, so the model never sees the question. Every request succeeds, as fast as
before: no latency gate notices anything. Its answers are wrong, and the quality pass, paired
item by item with the correctly served model, is what catches it.

(bfloat16 was the first candidate, after round one saw vLLM 0.32's CPU build answer "What is the
capital of France?" wrongly in bfloat16; re-measured on the 144 checks it scores like float32,
47 and 48 passed: benchmarks/RESULTS.md.)
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
#: A template for ShareGPT-style roles: a "user" message matches no branch and vanishes.
SHAREGPT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}<|im_start|>system\n{{ m['content'] }}<|im_end|>\n"
    "{% elif m['role'] == 'human' %}<|im_start|>user\n{{ m['content'] }}<|im_end|>\n"
    "{% elif m['role'] == 'gpt' %}<|im_start|>assistant\n{{ m['content'] }}<|im_end|>\n"
    "{% endif %}{% endfor %}<|im_start|>assistant\n"
)


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


def test_a_server_that_drops_the_user_turn_fails_the_quality_gate_while_every_request_succeeds(
    vllm_server: VLLMServer, built_model: Path, tmp_path: Path
) -> None:
    common = _common(tmp_path)
    template = tmp_path / "sharegpt.jinja"
    template.write_text(SHAREGPT_TEMPLATE, encoding="utf-8")
    right = run_benchmark(
        {**common, "base_url": vllm_server.base_url, "run_label": "served-right"}, progress=False
    )
    wrong = run_benchmark(
        {
            **common,
            "model_path": str(built_model),
            "run_label": "sharegpt-template",
            "server": {
                "dtype": "float32",
                "enforce_eager": True,  # the quickest start: no torch.compile
                "max_model_len": 2048,
                "kv_cache_space_gib": 1,
                "warmup_requests": 1,
                "extra_args": ["--chat-template", str(template)],
                "env": {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"},
            },
        },
        progress=False,
    )
    runs = {name: load_run(r.run_dir) for name, r in (("right", right), ("wrong", wrong))}
    for name, run in runs.items():
        assert run.state == "complete", name
        # What the latency gates see: every measured request answered, none failed.
        assert set(run.requests["status"]) == {"ok"}, name
        quality = run.record.quality
        assert quality is not None and quality.n == N_ITEMS, name
    good, bad = runs["right"].record.quality, runs["wrong"].record.quality
    assert good is not None and bad is not None
    rows = {name: read_quality(run.run_dir, run.record) for name, run in runs.items()}
    # The gate, the correctly served model as the reference: the whole interval of
    # wrong - right is below -5 points.
    judged = judge_quality(rows["wrong"], rows["right"], margin=0.05, floor=0.8)
    assert judged.basis == "hosted"
    assert judged.verdict == Verdict.FAIL, (judged.note, judged.estimate, good, bad)
    assert judged.n_regressions >= 5
    assert (good.accuracy or 0) - (bad.accuracy or 0) >= 0.15, (good.accuracy, bad.accuracy)
