"""The three notebooks under papermill, end to end, against the calibration server.

The fast tier: a calibration server stands in for both targets so the pipeline's plumbing
(parameters, run folders, history, gates, HTML, PDF) is checked in seconds. The real vLLM CPU
server runs the same notebooks in tests/integration/test_vllm_notebooks.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import papermill
import pytest
import yaml

from servegate.analysis.gate_rule import decide
from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.history.aggregate import load_history
from servegate.jobs.pipeline import NOTEBOOKS, run_report_pipeline
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
    params = papermill.inspect_notebook(str(NOTEBOOKS / name))
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


def test_the_whole_pipeline_writes_runs_history_and_a_report(
    targets: tuple[CalibrationServer, CalibrationServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local, hosted = targets
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("OPENAI_BASE_URL", hosted.base_url)
    results, reports = tmp_path / "results", tmp_path / "reports"
    history = tmp_path / "history.csv"
    local_params = _params(
        tmp_path / "local.yaml",
        backend="vllm",
        base_url=local.root_url,
        model="smollm2",
        run_label="local-test",
    )
    hosted_params = _params(
        tmp_path / "hosted.yaml", backend="openai", model="gpt-4o-mini", run_label="hosted-test"
    )
    result = run_report_pipeline(
        [local_params, hosted_params],
        results_dir=str(results),
        history_path=str(history),
        report_dir=str(reports),
        report_params={"min_prompts": 20},
    )
    # run folders: every request recorded, the executed notebook kept beside them
    assert len(result.runs) == 2
    for run_dir in result.runs:
        record = json.loads((run_dir / "run.json").read_text())
        assert record["state"] == "complete"
        assert (run_dir / "01_benchmark.ipynb").is_file()
        lines = (run_dir / "requests.csv").read_text().splitlines()
        assert len(lines) - 1 == record["n_request_rows"] == 32
    # history: one row per run and level, rebuilt from the folders
    rows = load_history(history)
    measured = rows[rows["source"] != "summary_only"]
    assert len(measured) == 4 and set(measured["backend"]) == {"vllm", "openai"}
    assert len(rows) - len(measured) == 3  # the POC's figures of record, summary only
    # the decision JSON follows the gate rule
    decision = json.loads((reports / "latest.json").read_text())
    verdicts = [g["verdict"] for g in decision["gates"]]
    assert decision["decision"] == str(decide(verdicts, decision["n_measured_prompts"], 20))
    for g in decision["gates"]:
        if g["verdict"] == "PASS" and g["name"].endswith("latency"):
            assert g["ci_high"] is not None and g["ci_high"] <= g["threshold"]
        if g["verdict"] == "FAIL" and g["name"].endswith("latency"):
            assert g["ci_low"] is not None and g["ci_low"] > g["threshold"]
    assert decision["hosted_status"] == "measured"
    # HTML: no code, the decision first, every figure embedded, nothing fetched
    html = result.html.read_text()
    # Code would show as highlighted source; compare the visible text of the body, since
    # highlighting splits source into many spans (and the theme's CSS names input areas).
    body = html[html.index("<body") :]
    text = re.sub(r"<[^>]+>", "", body)
    assert "build_report(" not in text and "plots.latency_distributions" not in text
    assert 'class="highlight' not in body and "In&nbsp;[" not in body
    assert html.index("Decision: ") < html.index("Caveats")
    assert len(re.findall(r'src="data:image/png;base64,', html)) >= 6
    assert not re.search(r'<script[^>]+src="https?://', html)
    assert (reports / "latest.html").read_text() == html
    # the POC's starting point beside the gates, and a first run has nothing to compare with
    assert "POC start" in text and "47.60 s (20 rows)" in text
    assert text.count("no previous comparable run") == 2  # local and hosted
    assert decision["comparison"]["local"]["previous_run"] is None
    # the operations sections: a capacity plan and the fallback replay of both runs
    assert decision["capacity"]["available"] and decision["capacity"]["replicas"] >= 1
    assert "Monthly cost against average traffic" in text or "replica(s)" in text
    fallback = decision["fallback"]
    assert fallback["simulated"] and fallback["level"] == "c4"
    assert (fallback["rows"][0]["timeout_ms"], fallback["rows"][-1]["timeout_ms"]) == (0, "inf")
    assert "Fall back after T" in text
    # PDF: printed by Chromium, holding the decision text
    assert result.pdf is not None and result.pdf.path is not None
    assert (reports / "latest.pdf").read_bytes()[:4] == b"%PDF"
    assert f"Decision: {decision['decision']}" in pdf_text(reports / "latest.pdf")
    # a screenshot of the page, as a reader sees it (looked at by hand when the report changes)
    shot = screenshot(result.html, tmp_path / "report.png")
    assert shot is not None and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the canary key is nowhere in what the run wrote
    for path in [*tmp_path.rglob("*")]:
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
    with pytest.raises(papermill.PapermillExecutionError, match="does not exist"):
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
    assert (
        sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])) == 2
    )
    # the kernel is reached over Unix sockets, not localhost TCP (it warns on TCP)
    assert "Kernel is running over TCP" not in capfd.readouterr().err


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
