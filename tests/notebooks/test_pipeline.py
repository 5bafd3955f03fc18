"""The three notebooks under papermill, end to end, against the calibration server.

The fast tier: a calibration server stands in for both targets so the pipeline's plumbing
(parameters, run folders, history, gates, HTML, PDF) is checked in seconds. The real vLLM CPU
server runs the same notebooks in tests/integration/test_vllm_notebooks.py.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import papermill
import pytest
import yaml

from servegate.analysis.gate_rule import decide
from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.core.errors import NotebookError
from servegate.history.aggregate import load_history
from servegate.jobs.pipeline import PipelineResult, notebook_path, run_report_pipeline
from servegate.report.decision import (
    CapacityPlanEntry,
    DecisionReport,
    FallbackReplay,
    load_decision,
)
from servegate.report.render import pdf_text, screenshot

pytestmark = pytest.mark.notebooks

CANARY = "sk-canary-pipeline-0123456789abcdefghij"

CONTRACT = {
    "01_benchmark.ipynb": {
        "backend",
        "base_url",
        "model",
        "prompts",
        "n_prompts",
        "concurrency",
        "baseline_prompts",
        "request_rate",
        "max_tokens",
        "temperature",
        "timeout_s",
        "results_dir",
        "run_label",
        "seed",
    },
    "02_aggregate.ipynb": {"results_dir", "history_path"},
    "04_capacity_plan.ipynb": {
        "results_dir",
        "local_run",
        "hosted_run",
        "peak_rps",
        "annual_growth",
        "headroom",
        "hourly_usd",
        "p50_ms",
        "p95_ms",
    },
    "03_decision_report.ipynb": {
        "results_dir",
        "history_path",
        "local_run",
        "hosted_run",
        "report_dir",
        "p95_ms",
        "p50_ms",
        "min_batching_gain",
        "min_prompts",
        "gate_latency_metric",
        "gate_concurrency",
    },
}


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_notebook_parameters_keep_the_contract(name: str) -> None:
    params = papermill.inspect_notebook(str(notebook_path(name)))
    assert CONTRACT[name] <= set(params), CONTRACT[name] - set(params)


@pytest.fixture(scope="module")
def targets() -> Iterator[tuple[CalibrationServer, CalibrationServer]]:
    local = CalibrationConfig(
        seed=1,
        ttft_ms={"kind": "uniform", "low": 20, "high": 60},
        itl_ms=3,
        output_tokens_min=8,
        output_tokens_max=24,
        model="smollm2",
    )
    hosted = CalibrationConfig(
        seed=2,
        ttft_ms={"kind": "uniform", "low": 80, "high": 160},
        itl_ms=6,
        output_tokens_min=8,
        output_tokens_max=24,
        model="gpt-4o-mini",
        require_api_key=CANARY,
        p_http_429=0.05,
    )
    with CalibrationServer(local) as a, CalibrationServer(hosted) as b:
        yield a, b


def _params(path: Path, **values: object) -> Path:
    base = {
        "prompts": "data/prompts/interactive_v1.jsonl",
        "n_prompts": 24,
        "concurrency": [1, 4],
        "baseline_prompts": 8,
        "max_tokens": 16,
        "warmup_requests": 1,
        "gate_concurrency": 4,
    }
    path.write_text(yaml.safe_dump({**base, **values}))
    return path


@dataclass(frozen=True)
class PipelineRun:
    """What one run of the whole pipeline left: its result, files and the report's text."""

    root: Path  # everything the run wrote is under here
    result: PipelineResult
    reports: Path
    history: Path
    decision: DecisionReport
    html: str
    text: str  # the report's visible text: the HTML body without tags


@pytest.fixture(scope="module")
def pipeline(
    targets: tuple[CalibrationServer, CalibrationServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> PipelineRun:
    """Both benchmarks, the history and the report, run once for the tests below."""
    local, hosted = targets
    root = tmp_path_factory.mktemp("pipeline")
    results, reports = root / "results", root / "reports"
    history = root / "history.csv"
    local_params = _params(
        root / "local.yaml",
        backend="vllm",
        base_url=local.root_url,
        model="smollm2",
        run_label="local-test",
    )
    hosted_layer = root / "hosted.yaml"  # over local.yaml: the same workload by construction
    hosted_layer.write_text(
        yaml.safe_dump(
            {
                "backend": "openai",
                "base_url": "",
                "model": "gpt-4o-mini",
                "run_label": "hosted-test",
            }
        )
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", CANARY)
        mp.setenv("OPENAI_BASE_URL", hosted.base_url)
        result = run_report_pipeline(
            [local_params],
            hosted=hosted_layer,
            results_dir=str(results),
            history_path=str(history),
            report_dir=str(reports),
            report_params={"min_prompts": 20},
        )
    assert result.html is not None
    html = result.html.read_text()
    # Code would show as highlighted source; compare the visible text of the body, since
    # highlighting splits source into many spans (and the theme's CSS names input areas).
    text = re.sub(r"<[^>]+>", "", html[html.index("<body") :])
    assert result.decision is not None
    assert result.decision == load_decision(reports / "latest.json")  # what was published
    return PipelineRun(root, result, reports, history, result.decision, html, text)


def test_each_run_folder_records_every_request_and_keeps_its_notebook(
    pipeline: PipelineRun,
) -> None:
    assert len(pipeline.result.runs) == 2
    # the hosted run is layered over the local run's parameters: the same workload
    local, hosted = (
        json.loads((d / "run.json").read_text())["params"] for d in pipeline.result.runs
    )
    assert (local["backend"], hosted["backend"]) == ("vllm", "openai")
    for name in ("prompts", "n_prompts", "concurrency", "baseline_prompts", "max_tokens", "seed"):
        assert local[name] == hosted[name], name
    for run_dir in pipeline.result.runs:
        record = json.loads((run_dir / "run.json").read_text())
        assert record["state"] == "complete"
        assert (run_dir / "01_benchmark.ipynb").is_file()
        lines = (run_dir / "requests.csv").read_text().splitlines()
        assert len(lines) - 1 == record["n_request_rows"] == 32


def test_the_history_has_a_row_per_run_and_level_and_the_poc_rows(pipeline: PipelineRun) -> None:
    rows = load_history(pipeline.history)
    measured = rows[rows["source"] != "summary_only"]
    assert len(measured) == 4 and set(measured["backend"]) == {"vllm", "openai"}
    assert len(rows) - len(measured) == 3  # the POC's figures of record, summary only


def test_the_decision_follows_the_gate_rule(pipeline: PipelineRun) -> None:
    decision = pipeline.decision
    verdicts = [g.verdict for g in decision.gates]
    assert decision.decision == decide(verdicts, decision.n_measured_prompts, 20)
    for g in decision.gates:
        if g.verdict == "PASS" and g.name.endswith("latency"):
            assert g.ci_high is not None and g.ci_high <= g.threshold
        if g.verdict == "FAIL" and g.name.endswith("latency"):
            assert g.ci_low is not None and g.ci_low > g.threshold
    assert decision.hosted_status == "measured"


def test_the_html_shows_no_code_and_the_decision_first(pipeline: PipelineRun) -> None:
    html, text = pipeline.html, pipeline.text
    body = html[html.index("<body") :]
    assert "build_report(" not in text and "plots.latency_distributions" not in text
    assert 'class="highlight' not in body and "In&nbsp;[" not in body
    assert html.index("Decision: ") < html.index("Caveats")


def test_the_html_embeds_every_figure_and_fetches_nothing(pipeline: PipelineRun) -> None:
    html = pipeline.html
    assert len(re.findall(r'src="data:image/png;base64,', html)) >= 6
    assert not re.search(r'<script[^>]+src="https?://', html)
    assert (pipeline.reports / "latest.html").read_text() == html


def test_the_alert_rules_are_published_with_the_report(pipeline: PipelineRun) -> None:
    reports = pipeline.reports
    [dated] = reports.glob("*_local-test_alerts.yml")
    latest = reports / "latest_alerts.yml"
    assert latest.read_text() == dated.read_text()
    assert f"from run {pipeline.decision.local_run}, gate level c" in latest.read_text()
    rules = yaml.safe_load(latest.read_text())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} >= {"VllmServerDown", "VllmLatencyP95AboveGate"}
    scrape = yaml.safe_load((reports / "latest_scrape.yml").read_text())
    assert scrape["scrape_configs"][0]["job_name"] == "vllm"
    published = [p.name for p in pipeline.result.latest]
    assert published[-2:] == ["latest_alerts.yml", "latest_scrape.yml"]


def test_a_first_run_shows_the_poc_start_and_nothing_to_compare(pipeline: PipelineRun) -> None:
    text = pipeline.text
    assert "POC start" in text and "47.60 s (20 rows)" in text
    assert text.count("no previous comparable run") == 2  # local and hosted
    assert pipeline.decision.comparison["local"].previous_run is None


def test_the_capacity_plan_is_in_the_report(pipeline: PipelineRun) -> None:
    capacity = pipeline.decision.capacity
    assert isinstance(capacity, CapacityPlanEntry)
    assert capacity.replicas is not None and capacity.replicas >= 1
    # the plan's sentence with its replica count, and its figure under the section's heading
    assert f"{capacity.replicas} replica(s) of " in pipeline.text
    assert 'alt="Figure: Capacity plan"' in pipeline.html


def test_the_fallback_replay_of_both_runs_is_in_the_report(pipeline: PipelineRun) -> None:
    fallback = pipeline.decision.fallback
    assert isinstance(fallback, FallbackReplay) and fallback.level == "c4"
    assert (fallback.rows[0].timeout_ms, fallback.rows[-1].timeout_ms) == (0, math.inf)
    assert "Fall back after T" in pipeline.text


def test_the_pdf_printed_by_chromium_holds_the_decision(pipeline: PipelineRun) -> None:
    result = pipeline.result
    assert result.pdf is not None and result.pdf.path is not None
    assert (pipeline.reports / "latest.pdf").read_bytes()[:4] == b"%PDF"
    assert f"Decision: {pipeline.decision.decision}" in pdf_text(pipeline.reports / "latest.pdf")


def test_a_screenshot_of_the_report_is_a_png(pipeline: PipelineRun, tmp_path: Path) -> None:
    # what a reader sees (looked at by hand when the report changes)
    shot = screenshot(pipeline.result.html, tmp_path / "report.png")
    assert shot is not None and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_api_key_is_nowhere_in_what_the_run_wrote(pipeline: PipelineRun) -> None:
    for path in [*pipeline.root.rglob("*")]:
        if path.is_file() and path.suffix != ".yaml":
            assert CANARY.encode() not in path.read_bytes(), path
            if path.suffix == ".pdf":  # its bytes are compressed: search its text
                assert CANARY not in pdf_text(path), path


def test_a_hosted_run_without_a_key_is_recorded_as_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servegate.jobs.pipeline import execute_benchmark

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    params = _params(
        tmp_path / "hosted.yaml", backend="openai", model="gpt-4o-mini", run_label="hosted-skip"
    )
    run_dir = execute_benchmark(params, results_dir=str(tmp_path / "results"))
    record = json.loads((run_dir / "run.json").read_text())
    assert record["state"] == "skipped"
    assert "OPENAI_API_KEY is not set" in record["skipped_reason"]
    assert (run_dir / "01_benchmark.ipynb").is_file()


def test_a_failed_step_publishes_nothing(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    with pytest.raises(NotebookError, match="does not exist"):
        run_report_pipeline(
            [],
            results_dir=str(tmp_path / "no-such-results"),
            history_path=str(tmp_path / "h.csv"),
            report_dir=str(reports),
        )
    assert not reports.exists() or not list(reports.glob("latest.*"))


def test_the_capacity_notebook_plans_and_replays_from_saved_runs(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """notebooks/04 on the fixture runs: no traffic, just the recorded requests."""
    import nbformat

    from servegate.jobs.pipeline import execute_notebook

    out = execute_notebook(
        "04_capacity_plan.ipynb",
        tmp_path / "04.ipynb",
        {
            "results_dir": "tests/fixtures/runs",
            "hosted_model": "gpt-4o-mini",
            "peak_rps": 20.0,
            "headroom": 0.3,
        },
    )
    nb = nbformat.read(out, as_version=4)
    shown = "\n".join(
        str(o.get("data", {}).get("text/html", "")) + str(o.get("text", ""))
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
    )
    assert "local run:  20261126T231345Z_try_vllm" in shown
    assert "replica(s) of aws-c7a.large" in shown and "gpt-4o-mini" in shown
    assert "Fall back after T" in shown
    # The capacity plan's figure, the fallback's, and what the hardware allows.
    assert (
        sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])) == 3
    )
    # the kernel is reached over Unix sockets, not localhost TCP (it warns on TCP)
    assert "Kernel is running over TCP" not in capfd.readouterr().err


@pytest.mark.slow
def test_a_rerun_with_a_known_slowdown_is_flagged_as_a_regression(tmp_path: Path) -> None:
    """The quarterly path end to end: two runs of the same setup, the second 300 ms slower to
    its first token; the second report compares with the first and flags the regression."""
    from servegate.cli import main

    def server(ttft: dict) -> CalibrationServer:
        config = CalibrationConfig(
            seed=5,
            ttft_ms=ttft,
            itl_ms=3,
            output_tokens_min=8,
            output_tokens_max=16,
            model="smollm2",
        )
        return CalibrationServer(config)

    dirs = {
        "results_dir": str(tmp_path / "results"),
        "history_path": str(tmp_path / "history.csv"),
        "report_dir": str(tmp_path / "reports"),
    }
    for ttft in (
        {"kind": "uniform", "low": 20, "high": 60},
        {"kind": "uniform", "low": 320, "high": 360},
    ):
        with server(ttft) as srv:
            params = _params(
                tmp_path / "q.yaml",
                backend="vllm",
                base_url=srv.root_url,
                model="smollm2",
                run_label="quarterly",
                n_prompts=40,
            )
            run_report_pipeline([params], report_params={"min_prompts": 20}, **dirs)
    decision = json.loads((tmp_path / "reports/latest.json").read_text())
    local = decision["comparison"]["local"]
    assert local["previous_run"] is not None and local["previous_run"] != local["current_run"]
    assert {"c4 TTFT p50", "c4 e2e p50"} <= set(local["regressions"])
    ttft = next(c for c in local["changes"] if c["level"] == "c4" and c["metric"] == "TTFT p50")
    assert 250 < ttft["change_ms"] < 350 and ttft["change_ci_low_ms"] > 0
    html = (tmp_path / "reports/latest.html").read_text()
    assert "Regression" in html and "got slower" in html  # the table and the caveat
    assert main(["regressions", str(tmp_path / "reports/latest.json")]) == 1
