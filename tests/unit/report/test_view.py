"""The report's HTML tables from the typed decision report: headline, gates with the POC, cost."""

from __future__ import annotations

import re

import pytest

from servegate.report.build import build_report
from servegate.report.decision import DecisionReport
from servegate.report.view import cost_html, decision_html, gates_html
from tests.helpers import FIXTURE_RUNS


@pytest.fixture(scope="module")
def decision() -> DecisionReport:
    report = build_report(
        {"results_dir": str(FIXTURE_RUNS), "history_path": "/nonexistent.csv"}, write=False
    )
    return report.decision_report


def _cells(html: str, row: str) -> list[str]:
    """The text of each cell of the table row whose first cell is ``row``."""
    found = re.search(rf"<tr><td>{re.escape(row)}</td>(.*?)</tr>", html)
    assert found, f"no row {row!r} in the table"
    return [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", found.group(1))]


def test_the_headline_names_the_decision_and_the_runs(decision: DecisionReport) -> None:
    html = decision_html(decision)
    assert f"Decision: {decision.decision}</div>" in html
    assert f"Local run <code>{decision.local_run}</code>" in html
    assert f"(<code>{decision.hosted_run}</code>)" in html
    assert f"{decision.n_measured_prompts} prompts measured." in html


def test_the_gate_table_shows_each_gate_and_the_poc_start(decision: DecisionReport) -> None:
    html = gates_html(decision.gates, decision.poc_baseline, metric="e2e")
    p95 = next(g for g in decision.gates if g.name == "p95_latency")
    local_poc = next(p for p in decision.poc_baseline if p.backend == "vllm")
    assert p95.measured is not None and local_poc.e2e_p95_ms is not None
    cells = _cells(html, "p95 latency")
    assert cells[3] == p95.verdict and cells[4] == p95.level
    assert cells[-1] == f"{local_poc.e2e_p95_ms / 1000:.2f} s ({local_poc.rows} rows)"
    # the stability gate counts incidents and says how many prompts would settle it
    assert _cells(html, "Stability (OOMs + crashes)")[1] == "0"
    # the POC measured end-to-end only: a TTFT gate gets no POC figure
    ttft = gates_html(decision.gates, decision.poc_baseline, metric="ttft")
    assert _cells(ttft, "p95 latency")[-1] == "— (POC measured end-to-end only)"
    assert "POC start" not in gates_html(decision.gates)


def test_the_cost_table_gives_a_figure_or_says_it_is_not_available(
    decision: DecisionReport,
) -> None:
    html = cost_html(decision.cost)
    for option in decision.cost:
        usd = option.usd_per_1m_output_tokens
        value, basis = _cells(html, option.option)
        assert value == (f"${usd:,.2f}" if usd is not None else "not available")
        assert basis.replace("&#x27;", "'") == option.basis
    assert any(o.usd_per_1m_output_tokens is None for o in decision.cost)  # both cases shown
