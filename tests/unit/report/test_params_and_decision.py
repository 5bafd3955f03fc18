"""How the report is assembled: its parameters (flat notebook names, nested models), the typed
decision JSON, the run folders read once, the default hosted model and the shared HTML helpers."""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field

import servegate
from servegate.analysis.gate_rule import Verdict
from servegate.analysis.gates import GateResult
from servegate.analysis.ops_params import DEFAULT_HOSTED_MODEL, CapacityForecast
from servegate.core.config import validate_params
from servegate.core.errors import ConfigError, RunFolderError
from servegate.core.fsutil import json_safe
from servegate.core.names import DECISION_SCHEMA_VERSION
from servegate.history.aggregate import rebuild_history
from servegate.report import build
from servegate.report.build import ReportData, build_report
from servegate.report.decision import DecisionReport, Gate
from servegate.report.html import badge, escape, number
from servegate.report.ops import hosted_model_for
from servegate.report.params import ReportParams
from tests.conftest import REPO
from tests.helpers import PRICING, VLLM_RUN, copy_fixtures

FIXTURES = REPO / "tests/fixtures/runs"
BASE = {"results_dir": str(FIXTURES), "history_path": "/nonexistent.csv"}


@pytest.fixture(scope="module")
def report() -> ReportData:
    return build_report(BASE, write=False)


# --- parameters ----------------------------------------------------------------------------


def test_flat_notebook_names_go_into_the_nested_models() -> None:
    params = ReportParams.model_validate(
        {"p95_ms": 2500, "gate_latency_metric": "ttft", "peak_rps": 9, "headroom": 0.3}
    )
    assert params.gates.p95_ms == 2500 and params.gates.gate_latency_metric == "ttft"
    assert params.gates.p50_ms == 1000.0  # the rest keep their defaults
    assert params.capacity == CapacityForecast(peak_rps=9, headroom=0.3)
    # nested input is the same parameters
    nested = ReportParams.model_validate(
        {"gates": {"p95_ms": 2500, "gate_latency_metric": "ttft"}, "capacity": params.capacity}
    )
    assert nested == params


def test_from_namespace_takes_the_notebook_parameters_and_nothing_else() -> None:
    namespace = {"p50_ms": 800.0, "annual_growth": 0.1, "report_dir": "x", "plots": object()}
    params = ReportParams.from_namespace(namespace)
    assert params.gates.p50_ms == 800.0 and params.capacity.annual_growth == 0.1
    assert params.report_dir == "x"


def test_the_accepted_names_are_the_parameters_of_notebook_03() -> None:
    # papermill sets these names: they are a contract, whatever the model's structure
    notebook = json.loads((REPO / "notebooks/03_decision_report.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    names = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets}
    assert set(ReportParams.accepted_names()) == names


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"p59_ms": 1.0}, r"unknown parameter 'p59_ms' \(known: .*p50_ms, p95_ms, peak_rps"),
        ({"peak_rps": 0}, r"capacity\.peak_rps: .* got 0 \(capacity plan: the forecast peak"),
        ({"p95_ms": -1}, r"gates\.p95_ms: Input should be greater than 0, got -1"),
        ({"gate_latency_metric": "tpot"}, r"gates\.gate_latency_metric: .*'e2e' or 'ttft'"),
        ({"p95_ms": 1, "gates": {"p95_ms": 2}}, r"p95_ms is given twice, flat and in gates"),
        ({"hourly_usd": 0}, r"hourly_usd: .* got 0 \(self-hosted machine USD/h\)"),
    ],
    ids=["unknown", "capacity", "gate", "metric", "twice", "own field"],
)
def test_bad_report_parameters_name_the_parameter_and_the_fix(
    given: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        build_report({**BASE, **given}, write=False)
    assert str(info.value).startswith("invalid report parameters: ")


def test_an_unknown_name_lists_the_notebook_names_as_known() -> None:
    with pytest.raises(ConfigError) as info:
        validate_params(ReportParams, {"peak": 5}, what="report parameters")
    known = ", ".join(ReportParams.accepted_names())
    assert f"unknown parameter 'peak' (known: {known})" in str(info.value)
    assert "gates" not in known and "capacity," not in known


def test_validate_params_errors_read_well() -> None:
    class Inner(BaseModel, extra="forbid"):
        size: int = Field(1, gt=0, description="a whole number > 0, e.g. 4")

    class Outer(BaseModel, extra="forbid"):
        inner: Inner = Inner()
        name: str
        max_tokens: int = 0
        api_key: str = ""

    with pytest.raises(ConfigError) as info:
        validate_params(
            Outer,
            {"inner": {"size": 0, "sise": 1}, "max_tokens": "x", "api_key": 3},
            what="test parameters",
        )
    text = str(info.value)
    assert "inner.size: Input should be greater than 0, got 0 (a whole number > 0, e.g. 4)" in text
    assert "unknown parameter 'inner.sise' (known: size)" in text
    assert "name: Field required;" in text  # not the whole mapping as the "value"
    assert "max_tokens: Input should be a valid integer, unable to parse string" in text
    assert "got 'x'" in text  # a token count is no secret
    assert "api_key: Input should be a valid string (value not shown" in text


# --- the decision JSON -----------------------------------------------------------------------


def test_the_decision_report_round_trips_through_its_json(report: ReportData) -> None:
    text = json.dumps(report.decision, allow_nan=False)
    # the local-only fallback row: +inf is null, named in its object's "infinite"
    assert '"infinite": {"timeout_ms": "+inf"}' in text and '"inf"' not in text
    assert DecisionReport.model_validate(json.loads(text)) == report.decision_report


def test_each_gate_of_the_evaluation_is_saved_whole() -> None:
    # build._gate copies a GateResult field by field: a new field must reach the decision JSON.
    assert [f.name for f in dataclasses.fields(GateResult)] == list(Gate.model_fields)


def test_the_decision_names_its_schema_version_and_commit(report: ReportData) -> None:
    decision = report.decision_report
    assert decision.schema_version == DECISION_SCHEMA_VERSION
    assert decision.servegate_version == servegate.__version__
    commit = decision.git_commit
    assert commit is None or (len(commit) == 40 and int(commit, 16) >= 0)
    assert all(isinstance(g.verdict, Verdict) for g in decision.gates)
    assert all(isinstance(g.verdict, Verdict) for g in report.evaluation.gates)
    assert report.decision["decision"] == decision.decision == report.evaluation.decision


def test_the_written_file_is_the_decision_report(tmp_path: Path) -> None:
    report = build_report({**BASE, "report_dir": str(tmp_path), "report_label": "t"})
    path, alerts, scrape = report.written  # the alert rules and scrape job beside it
    assert path.parent == tmp_path and path.name.endswith("_t_decision.json")
    assert alerts.name == path.name.replace("_decision.json", "_alerts.yml")
    assert scrape.name == path.name.replace("_decision.json", "_scrape.yml")
    saved = json.loads(path.read_text())
    assert {"schema_version", "servegate_version", "git_commit", "gates", "fallback"} <= set(saved)
    assert DecisionReport.model_validate(saved) == report.decision_report


def test_a_decision_file_with_a_mistyped_key_is_refused(report: ReportData) -> None:
    saved = json.loads(json.dumps(json_safe(report.decision)))
    saved["gates"][0]["verdict"] = "MAYBE"
    with pytest.raises(ValueError, match="verdict"):
        DecisionReport.model_validate(saved)


def test_the_report_data_is_built_once(report: ReportData) -> None:
    with pytest.raises(AttributeError):
        report.caveats = []  # type: ignore[misc]
    gain = report.gain()
    assert gain is not None and gain["value"] == pytest.approx(3.0238, abs=1e-3)


# --- run folders, the hosted model --------------------------------------------------------------


@pytest.mark.parametrize(
    "named",
    [
        {},
        {
            "local_run": "20261126T231345Z_try_vllm",
            "hosted_run": "20261126T232143Z_hosted-skip_openai",
        },
    ],
    ids=["latest", "named"],
)
def test_run_folders_are_listed_once_per_report(
    named: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = build.list_runs

    def counting(results_dir: Any) -> Any:
        calls.append(results_dir)
        return real(results_dir)

    monkeypatch.setattr(build, "list_runs", counting)
    report = build_report({**BASE, **named}, write=False)
    assert len(calls) == 1
    assert report.local is not None and report.local.run_id == "20261126T231345Z_try_vllm"


def test_a_named_run_that_does_not_exist_is_named_in_the_error() -> None:
    with pytest.raises(RunFolderError, match=r"run folder .*nope does not exist"):
        build_report({**BASE, "local_run": "nope"}, write=False)


def test_the_default_paths_are_the_projects_from_its_notebooks_folder(lab_project: Path) -> None:
    """JupyterLab runs 03 and 04 in notebooks/: the defaults still read the project's eval/ and
    data/ and write its reports/, and nothing lands in notebooks/."""
    with pytest.raises(ConfigError, match=rf"results_dir {lab_project / 'eval/results'} does"):
        build_report({}, write=False)
    copy_fixtures(lab_project / "eval/results")
    (lab_project / "data/history").mkdir(parents=True)
    shutil.copy(PRICING, lab_project / "data/pricing.yaml")
    shutil.copy(REPO / "data/history/poc_summaries.yaml", lab_project / "data/history")
    rebuild_history()
    report = build_report({})
    assert report.local is not None and report.local.run_id == VLLM_RUN
    assert report.poc  # data/history/poc_summaries.yaml, read from the project root
    history, why_empty = report.history()
    assert why_empty == "" and len(history)
    written = report.written
    assert all(p.parent == lab_project / "reports" and p.is_file() for p in written)
    local, hosted, _ = build.select_runs("eval/results")  # as notebook 04 calls it
    assert local is not None and local.run_dir == lab_project / "eval/results" / VLLM_RUN
    assert hosted is not None and report.hosted is not None
    assert hosted.run_id == report.hosted.run_id
    assert list((lab_project / "notebooks").iterdir()) == []


def test_the_default_hosted_model_is_the_hosted_benchmarks_model() -> None:
    hosted = yaml.safe_load((REPO / "params/hosted_openai.yaml").read_text())
    assert hosted["model"] == DEFAULT_HOSTED_MODEL == hosted_model_for(None)


# --- HTML helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (None, "ms", "—"),
        (math.nan, "ms", "—"),
        (math.inf, "ms", "∞ (failures)"),
        (250.0, "ms", "250 ms"),
        (2500.0, "ms", "2.50 s"),
        (3.0, "x", "3.00×"),
        (7, "", "7"),
    ],
)
def test_number(value: Any, unit: str, shown: str) -> None:
    assert number(value, unit) == shown


def test_badge_and_escape() -> None:
    assert "#b3261e" in badge(Verdict.FAIL) and ">FAIL</span>" in badge(Verdict.FAIL)
    assert "#555" in badge("<odd>") and "&lt;odd&gt;" in badge("<odd>")
    assert escape("a & <b>") == "a &amp; &lt;b&gt;"
