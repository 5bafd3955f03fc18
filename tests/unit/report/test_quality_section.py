"""The quality gate and section end to end: a local and a hosted run on the same checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.jobs.bench import run_benchmark
from servegate.plots import quality_by_category
from servegate.quality.checks import DEFAULT_CHECKS, load_checks
from servegate.report.build import build_report
from servegate.report.view_quality import quality_html, run_quality_html
from servegate.runs.reader import load_run
from tests.helpers import CALIBRATION_MODEL, TEST_PROMPTS, figure_texts, is_message_figure

WRONG = "<b>I am not sure</b>, sorry."  # HTML in a model's answer must reach the report escaped


def _answers(right_every: int) -> dict[str, str]:
    """Every `right_every`-th item answered with its reference answer, the rest WRONG."""
    out = {}
    for i, item in enumerate(load_checks(DEFAULT_CHECKS).items):
        last_user = [m.content for m in item.messages if m.role == "user"][-1]
        out[last_user] = item.answer if i % right_every == 0 else WRONG
    return out


def _run(tmp_path: Path, backend: str, answers: dict[str, str]) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(p.model_dump_json() + "\n" for p in TEST_PROMPTS[:6]))
    config = CalibrationConfig(
        seed=9, ttft_ms=2, itl_ms=1, output_tokens_min=400, output_tokens_max=400, answers=answers
    )
    with CalibrationServer(config) as srv:
        result = run_benchmark(
            {
                "backend": backend,
                "base_url": srv.base_url,
                "model": CALIBRATION_MODEL,
                "prompts": str(prompts),
                "n_prompts": 6,
                "concurrency": [1, 2],
                "baseline_prompts": 6,
                "results_dir": str(tmp_path / "results"),
                "run_label": f"q-{backend}",
                "warmup_requests": 0,
                "gate_concurrency": 2,
                "quality_max_tokens": 512,
            },
            progress=False,
        )
    assert result.state == "complete"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("quality-report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", "sk-test-quality-canary")
        _run(tmp, "vllm", _answers(right_every=2))  # half right
        _run(tmp, "openai", _answers(right_every=1))  # all right
    return tmp / "results"


def test_local_far_below_hosted_fails_the_gate_and_the_section_shows_both_answers(
    results: Path, tmp_path: Path
) -> None:
    report = build_report(
        {"results_dir": str(results), "min_prompts": 5, "report_dir": str(tmp_path)}, write=False
    )
    decision = report.decision_report
    gate = next(g for g in decision.gates if g.name == "quality")
    assert gate.verdict == "FAIL" and gate.unit == "share_diff" and gate.threshold == -0.05
    assert gate.measured == pytest.approx(-0.5, abs=0.01)  # 72 of 144 right vs 144 of 144
    assert gate.ci_high is not None and gate.ci_high < -0.05
    assert decision.decision == "PAUSE"
    section = decision.quality
    assert section is not None and section.basis == "hosted"
    assert {r.backend for r in section.rows} == {"vllm", "openai"}
    local_all = next(r for r in section.rows if r.backend == "vllm" and r.category == "all")
    assert (local_all.n, local_all.n_passed) == (144, 72)
    assert section.local_fails_hosted_passes == 72 and len(section.examples) == 5
    assert section.checks_sha256 == load_checks(DEFAULT_CHECKS).sha256
    html = quality_html(section)
    assert "&lt;b&gt;I am not sure&lt;/b&gt;" in html and "<b>I am not sure</b>" not in html
    assert section.checks_sha256 in html
    fig = quality_by_category(report.quality_frame(), floor=report.quality_floor())
    assert report.quality_floor() is None  # compared with hosted: no floor drawn
    texts = figure_texts(fig)
    assert "local vLLM" in texts and "hosted API" in texts and "all items" in texts


def test_without_the_hosted_run_the_floor_judges_with_a_caveat(
    results: Path, tmp_path: Path
) -> None:
    local = next(p for p in results.iterdir() if p.name.endswith("_vllm"))
    alone = tmp_path / "results"
    shutil.copytree(local, alone / local.name)
    report = build_report(
        {"results_dir": str(alone), "min_prompts": 5, "quality_floor": 0.4}, write=False
    )
    section = report.decision_report.quality
    assert section is not None and section.basis == "floor"
    gate = next(g for g in report.decision_report.gates if g.name == "quality")
    assert (gate.verdict, gate.unit, gate.threshold) == ("PASS", "share", 0.4)  # 50% [42, 58]
    assert gate.ci_low is not None and gate.ci_low > 0.4
    assert "judged against the absolute floor 0.4" in gate.note
    assert any("could not be compared with the hosted model" in c for c in report.caveats)
    assert report.quality_floor() == 0.4
    fig = quality_by_category(report.quality_frame(), floor=report.quality_floor())
    assert "floor 40%" in figure_texts(fig)


def test_one_runs_quality_shows_in_notebook_01_and_an_empty_frame_says_so(results: Path) -> None:
    local = next(p for p in results.iterdir() if p.name.endswith("_vllm"))
    html = run_quality_html(load_run(local))
    assert "50.0%" in html and "did not pass" in html and "&lt;b&gt;" in html
    import pandas as pd

    assert is_message_figure(quality_by_category(pd.DataFrame()))


def test_the_hosted_key_reaches_no_file_of_either_run(results: Path) -> None:
    for path in results.rglob("*"):
        if path.is_file():
            assert b"sk-test-quality-canary" not in path.read_bytes(), path
