"""A report over an imported run says whose TTFT it holds, and keeps it out of the gates."""

from __future__ import annotations

from pathlib import Path

from servegate.report.build import build_report
from servegate.runs.importer import import_tool_file
from tests.helpers import FIXTURES

VLLM_FILE = FIXTURES / "imports" / "vllm_bench_serve.json"


def _report(tmp_path: Path, **flags: object):  # type: ignore[no-untyped-def]
    results = tmp_path / "results"
    run = import_tool_file("vllm-bench", VLLM_FILE, results_dir=results, **flags)  # type: ignore[arg-type]
    params = {
        "results_dir": str(results),
        "history_path": "/nonexistent.csv",
        "local_run": run.run_id,
        "gate_latency_metric": "ttft",
    }
    return build_report(params, write=False).decision_report


def test_the_report_over_an_imported_vllm_run_shows_the_ttft_caveat(tmp_path: Path) -> None:
    decision = _report(tmp_path)
    text = "\n".join(decision.caveats)
    assert "imported from vllm-bench 0.32.0" in text
    assert "Its TTFT is vllm-bench's, not comparable with servegate's" in text
    assert "role-only chunk" in text and "no gate reads it" in text
    assert "vLLM's CPU build" not in text  # the import's machine is unknown
    p95 = next(g for g in decision.gates if g.name == "p95_latency")
    assert p95.measured is None and "--ttft-comparable" in p95.note


def test_a_vouched_ttft_has_no_caveat_and_is_gated(tmp_path: Path) -> None:
    decision = _report(tmp_path, ttft_comparable=True)
    text = "\n".join(decision.caveats)
    assert "imported from vllm-bench" in text and "not comparable" not in text
    p95 = next(g for g in decision.gates if g.name == "p95_latency")
    assert p95.measured is not None and p95.n == 20
