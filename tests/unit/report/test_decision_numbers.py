"""The decision JSON's numbers are numbers: +inf is null and named in ``infinite``, and reads back.

Reports are rendered from the fixture runs plus a later copy of the hosted run, whose c1 p95
lands among failed requests (+inf): in the hosted comparison's changes, and, with the hosted run
judged as the local one at concurrency 1, in the p95 gate itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from servegate.core.errors import ConfigError
from servegate.history.aggregate import rebuild_history
from servegate.report.build import ReportData, build_report
from servegate.report.decision import DecisionReport, load_decision
from tests.helpers import FIXTURES, HOSTED_RUN, REPO, clone_run, copy_fixtures, edit_json

SCHEMA = json.loads((REPO / "schemas/decision.schema.json").read_text())
LATER_HOSTED = "20261127T000000Z_hosted-fixture_openai"


def _report(tmp: Path, **params: object) -> ReportData:
    results = copy_fixtures(tmp / "results")
    edit_json(clone_run(HOSTED_RUN, results, LATER_HOSTED), created_at="2026-11-27T00:00:00Z")
    rebuild_history(results, tmp / "history.csv")
    return build_report(
        {
            "results_dir": str(results),
            "history_path": str(tmp / "history.csv"),
            "report_dir": str(tmp / "reports"),
            "min_prompts": 20,
            **params,
        }
    )


@pytest.fixture(scope="module", params=["local-vllm", "hosted-judged-at-c1"])
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ReportData:
    judged = (
        {} if request.param == "local-vllm" else {"local_run": LATER_HOSTED, "gate_concurrency": 1}
    )
    return _report(tmp_path_factory.mktemp(request.param), **judged)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _numeric_values(value: Any, schema: dict[str, Any], where: str) -> list[tuple[str, Any]]:
    """Every (path, value) whose schema type is a number, walking ``value`` with ``schema``."""
    schema = _resolve(schema)
    branches = [_resolve(s) for s in schema.get("anyOf", [schema])]
    if any(b.get("type") in ("number", "integer") for b in branches):
        return [(where, value)]
    if value is None:
        return []
    if len(branches) > 1:  # a union of objects: walk the branch the value is
        fits = [
            b
            for b in branches
            if jsonschema.Draft202012Validator({**b, "$defs": SCHEMA["$defs"]}).is_valid(value)
        ]
        assert len(fits) == 1, f"{where}: {len(fits)} branches fit"
        schema = fits[0]
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out = []
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            assert sub is not None, f"{where}.{key} is not in the schema"
            out += _numeric_values(item, sub, f"{where}.{key}")
        return out
    if isinstance(value, list):
        items = schema.get("items", {})
        return [n for i, v in enumerate(value) for n in _numeric_values(v, items, f"{where}[{i}]")]
    return []


def _infinite_entries(value: Any, where: str = "") -> list[tuple[str, str]]:
    if isinstance(value, list):
        return [e for i, v in enumerate(value) for e in _infinite_entries(v, f"{where}[{i}]")]
    if not isinstance(value, dict):
        return []
    own = [(f"{where}.{k}", sign) for k, sign in value.get("infinite", {}).items()]
    return own + [e for k, v in value.items() for e in _infinite_entries(v, f"{where}.{k}")]


def test_no_numeric_field_of_a_rendered_decision_is_a_string(report: ReportData) -> None:
    path = next(p for p in report.written if p.name.endswith("_decision.json"))
    saved = json.loads(path.read_text())
    jsonschema.validate(saved, SCHEMA)
    numbers = _numeric_values(saved, SCHEMA, "")
    assert len(numbers) > 50  # the walk reached the gates, rows and tables
    bad = [(w, v) for w, v in numbers if not (v is None or type(v) in (int, float))]
    assert not bad, f"numeric fields holding something else: {bad}"
    infinite = _infinite_entries(saved)
    assert infinite and all(sign == "+inf" for _, sign in infinite)
    assert '"inf"' not in path.read_text()


def test_an_infinite_p95_is_null_and_named(report: ReportData) -> None:
    saved = json.loads(report.written[0].read_text())
    (compared,) = [c for c in saved["comparison"].values() if c["current_run"] == LATER_HOSTED]
    rows = compared["changes"]
    p95 = next(r for r in rows if r["level"] == "c1" and r["metric"].endswith("p95"))
    assert p95["current_ms"] is None and p95["infinite"]["current_ms"] == "+inf"
    if saved["local_run"] == LATER_HOSTED:  # the gate judged the c1 level with its failure
        gate = saved["gates"][0]
        assert gate["name"] == "p95_latency" and gate["measured"] is None
        assert gate["infinite"] == {"measured": "+inf"}


def test_the_round_trip_is_lossless(report: ReportData) -> None:
    back = load_decision(report.written[0])
    assert back == report.decision_report
    (compared,) = [c for c in back.comparison.values() if c.current_run == LATER_HOSTED]
    change = next(c for c in compared.changes if c.level == "c1" and "p95" in c.metric)
    assert change.current_ms == math.inf and change.previous_ms == math.inf
    assert back.model_dump(mode="json") == json.loads(report.written[0].read_text())


def test_a_version_1_file_reads_as_the_version_2_file_of_the_same_report() -> None:
    folder = FIXTURES / "decision"
    old = load_decision(folder / "fixture_runs_decision_v1.json")
    new = load_decision(folder / "fixture_runs_decision.json")
    # feasibility: a section added after the version-1 file was written (absent: None).
    volatile = {"generated_at", "git_commit", "servegate_version", "feasibility"}
    assert old.model_dump(exclude=volatile) == new.model_dump(exclude=volatile)
    assert old.feasibility is None and new.feasibility is not None
    assert old.schema_version == new.schema_version == 2
    assert old.fallback is not None and old.fallback.simulated
    assert old.fallback.rows[-1].timeout_ms == math.inf  # was the string "inf"


def _saved_with(tmp_path: Path, edit: Any) -> Path:
    data = json.loads((FIXTURES / "decision/fixture_runs_decision.json").read_text())
    data.update(servegate_version="0.1.0", git_commit=None)
    edit(data)
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(data))
    return path


def test_a_string_in_a_numeric_field_of_version_2_is_refused(tmp_path: Path) -> None:
    def inf_string(data: dict[str, Any]) -> None:
        row = data["fallback"]["rows"][-1]
        row["timeout_ms"] = "inf"
        del row["infinite"]

    with pytest.raises(ConfigError, match=r"timeout_ms.*string 'inf'.*'infinite'"):
        load_decision(_saved_with(tmp_path, inf_string))


def test_an_infinite_entry_for_a_field_with_a_value_is_refused(tmp_path: Path) -> None:
    def both(data: dict[str, Any]) -> None:
        data["fallback"]["rows"][-1]["timeout_ms"] = 100.0

    with pytest.raises(ConfigError, match=r"names 'timeout_ms'.*null.*make render"):
        load_decision(_saved_with(tmp_path, both))


def test_the_schema_documents_infinite_where_a_number_may_be_infinite() -> None:
    gate = SCHEMA["$defs"]["Gate"]["properties"]
    assert set(gate["infinite"]["additionalProperties"]["enum"]) == {"+inf", "-inf"}
    assert "infinite" in gate["measured"]["description"]
    assert "+inf" in SCHEMA["description"] or "infinite" in SCHEMA["description"]
    assert "infinite" not in SCHEMA["$defs"]["RefusedRun"]["properties"]  # no numbers there
    replay = SCHEMA["$defs"]["FallbackReplay"]["properties"]["infinite"]
    assert "passing_timeouts_ms/[0-9]+" in replay["propertyNames"]["pattern"]
    decision = DecisionReport.model_json_schema()
    assert "infinite" not in decision["$defs"]["Gate"]["properties"]  # added on publishing only
