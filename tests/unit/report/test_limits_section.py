"""The report's "What the hardware allows": built from the fixture runs, labelled as an
estimate, never a gate, and still rendered when a hardware entry, the model or the
quantization is bad."""

from __future__ import annotations

from pathlib import Path

import yaml

from servegate.plots.limits import limits_figure
from servegate.report.build import build_report
from servegate.report.view_limits import limits_frame, limits_html
from tests.helpers import FIXTURE_RUNS, REPO, figure_texts, is_message_figure


def _report(tmp_path: Path, **params: object):  # -> ReportData
    base = {"results_dir": str(FIXTURE_RUNS), "report_dir": str(tmp_path), "poc_summaries": ""}
    return build_report({**base, **params}, write=False)


def test_the_cpu_run_shows_its_efficiency_per_level(tmp_path: Path) -> None:
    report = _report(tmp_path)
    section = report.decision_report.feasibility
    assert section is not None and section.run is not None
    assert section.run.hardware == "cpu-2core-epyc"
    assert [e.level for e in section.run.levels] == ["c1", "c8"]
    assert all(0 < (e.throughput_efficiency or 0) <= 1 for e in section.run.levels)
    # Never a gate: the gates are the same ones, with or without the section.
    assert "feasibility" not in {g.name for g in report.decision_report.gates}
    html = limits_html(section)
    assert "never a measurement" in html and "enters no gate" in html
    assert "c8" in html and "this machine" in html


def test_the_24gb_options_answer_the_gates(tmp_path: Path) -> None:
    section = _report(tmp_path, limits_concurrency=16).decision_report.feasibility
    assert section is not None and section.concurrency == 16
    by_key = {o.key: o for o in section.options}
    for key in ("nvidia-l4", "nvidia-a10g", "nvidia-rtx-4090"):
        o = by_key[key]
        assert o.included and o.p50_efficiency_needed is not None
        # Reachable at the limit exactly when the needed efficiency is at most 100%.
        assert o.p50_reachable == (o.p50_efficiency_needed <= 1)
        assert o.p50_reachable_realistic == (o.p50_efficiency_needed <= 0.5)
    # Bandwidth decides: the 4090 (1,008 GB/s) is bound lower than the L4 (300 GB/s).
    assert by_key["nvidia-rtx-4090"].e2e_p50_ms < by_key["nvidia-l4"].e2e_p50_ms
    assert by_key["nvidia-l4"].hourly_usd == 0.8048
    assert by_key["nvidia-rtx-4090"].hourly_usd is None


def test_a_bad_entry_and_a_model_too_big_are_left_out_with_the_reason(tmp_path: Path) -> None:
    sheet = yaml.safe_load((REPO / "data/hardware.yaml").read_text())
    del sheet["options"]["nvidia-a10g"]["memory_bandwidth_gbps"]
    path = tmp_path / "hardware.yaml"
    path.write_text(yaml.safe_dump(sheet))
    report = _report(tmp_path, hardware_path=str(path), limits_quantization="bf16")
    section = report.decision_report.feasibility
    assert section is not None
    by_key = {o.key: o for o in section.options}
    assert not by_key["nvidia-a10g"].included
    assert "memory_bandwidth_gbps is missing" in by_key["nvidia-a10g"].reason
    # Llama-3.1-8B in bf16 (15 GiB of weights) still fits a 24 GB card at 0.9.
    assert by_key["nvidia-l4"].included
    html = limits_html(section)
    assert "nvidia-a10g" in html and "memory_bandwidth_gbps is missing" in html
    fig = limits_figure(limits_frame(section), p50_ms=1000, p95_ms=3000, realistic=0.5, what="test")
    assert "left out: nvidia-a10g" in figure_texts(fig)


def test_a_model_that_fits_nowhere_and_an_unknown_quantization(tmp_path: Path) -> None:
    sheet = yaml.safe_load((REPO / "data/hardware.yaml").read_text())
    for entry in sheet["options"].values():
        entry["memory_gib"] = 4
    path = tmp_path / "hardware.yaml"
    path.write_text(yaml.safe_dump(sheet))
    section = _report(tmp_path, hardware_path=str(path)).decision_report.feasibility
    assert section is not None
    assert not any(o.included for o in section.options)
    assert all(
        o.reason.startswith("does not fit: the weights need 5.3 GiB") for o in section.options
    )
    fig = limits_figure(limits_frame(section), p50_ms=1000, p95_ms=3000, realistic=0.5)
    assert is_message_figure(fig)
    # An unknown quantization: no section, a caveat that says why; the report still builds.
    report = _report(tmp_path, limits_quantization="q3_k")
    assert report.decision_report.feasibility is None
    assert any("unknown quantization 'q3_k'" in c for c in report.decision_report.caveats)
    assert "Not shown" in limits_html(None)
