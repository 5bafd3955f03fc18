"""The sweep table, winner and differences, on run folders made by real capacity searches
against calibration servers whose knees are known (tests/helpers.py, CalibrationSweep)."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest

from servegate.analysis.sweep import SweepRow, SweepTable, sweep_table
from servegate.analysis.sweep_diff import Difference
from servegate.runs.sweep import sweep_runs
from tests.helpers import PRICING, CalibrationSweep


@pytest.fixture(scope="module")
def table(calibration_sweep: CalibrationSweep) -> SweepTable:
    return sweep_table(calibration_sweep.results, calibration_sweep.sweep_id, pricing_path=PRICING)


def _row(table: SweepTable, name: str) -> SweepRow:
    return next(r for r in table.rows if r.name == name)


def _diff(table: SweepTable, setting: str, metric: str) -> Difference:
    return next(d for d in table.differences if d.setting == setting and d.metric == metric)


def test_each_setting_finds_its_own_knee_and_the_widest_wins(table: SweepTable) -> None:
    assert [r.name for r in table.rows] == ["base", "more-slots", "slow"]  # not another-sweep's
    base, more = _row(table, "base"), _row(table, "more-slots")
    assert base.capacity is not None and base.capacity.concurrency == 3
    assert more.capacity is not None and more.capacity.concurrency == 6
    assert (base.shown, more.shown) == (base.capacity, more.capacity)
    assert table.winner == "more-slots"
    assert table.verdict.startswith("winner: more-slots (max_num_seqs=6): capacity c6, ")
    assert "against base: +" in table.verdict and table.verdict.endswith("at the capacity, better")
    # Same machine, same price: the cheaper setting is the one with more tokens per second.
    assert more.cost_per_1m is not None and base.cost_per_1m is not None
    assert more.cost_per_1m.value < base.cost_per_1m.value
    for cost in (more.cost_per_1m, base.cost_per_1m):
        assert cost.ci_low <= cost.value <= cost.ci_high
    tok = more.capacity.goodput_tok_per_s.value
    hourly = 0.10264  # aws-c7a.large, the pricing file's default CPU machine
    assert more.cost_per_1m.value == pytest.approx(hourly / (tok * 3600) * 1e6)
    assert any("recorded, not applied" in n for n in table.notes)


def test_a_setting_where_nothing_passes_names_the_gate_that_stops_it(table: SweepTable) -> None:
    slow = _row(table, "slow")
    assert slow.capacity is None and slow.cost_per_1m is None
    assert slow.shown is not None and slow.shown.concurrency == 1 and slow.shown.verdict == "FAIL"
    # ~505 ms against p50 <= 200 ms (2.5x) and p95 <= 400 ms (1.3x): p50 is the further off.
    assert slow.blocking is not None and slow.blocking.startswith("the p50 gate at c1: ")
    assert slow.closeness == pytest.approx(slow.shown.p50_ms.value / 200.0)
    assert slow.run is not None
    alone = sweep_table(slow.run.run_dir.parent, table.sweep_id, settings=[("slow", slow.server)])
    assert alone.winner is None and alone.base is None and not alone.differences
    assert alone.verdict.startswith("no setting passes the gates (p95 <= 400 ms, p50 <= 200 ms); ")
    assert (
        "the closest is slow (enforce_eager=true), stopped by the p50 gate at c1" in alone.verdict
    )


def test_differences_from_the_base_are_called_by_their_intervals(table: SweepTable) -> None:
    capacity = _diff(table, "more-slots", "capacity")
    assert capacity.where == "c6 vs base c3" and capacity.label == "better" and capacity.low > 0
    slow = _diff(table, "slow", "capacity")
    assert slow.value == 0 and slow.label == "worse" and slow.high < 0
    assert _diff(table, "slow", "p50").label == "worse"
    # more-slots never measured c3: its latencies are compared one level below, where both pass.
    assert _diff(table, "more-slots", "p50").where == "c2"
    for d in table.differences:
        holds_zero = (d.low is None or d.low <= 0) and (d.high is None or d.high >= 0)
        assert (d.label == "noise") == holds_zero, d
    frame = table.differences_frame()
    assert list(frame["setting"]) == ["more-slots"] * 3 + ["slow"] * 3


def _twin(results: Path, base_dir: Path, factor: float) -> Path:
    """A copy of the base's run as another setting, every latency times ``factor``."""
    new_id = base_dir.name.replace("cal-base", "cal-twin")
    folder = shutil.copytree(base_dir, results / new_id)
    record = json.loads((folder / "run.json").read_text().replace(base_dir.name, new_id))
    record["setting"] = {"name": "twin", "server": {"max_num_seqs": 3}}
    (folder / "run.json").write_text(json.dumps(record))
    with open(folder / "requests.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    assert header is not None
    for row in rows:
        row["run_id"] = new_id
        for col in ("ttft_ms", "e2e_ms"):
            if row[col]:
                row[col] = f"{float(row[col]) * factor:.3f}"
    with open(folder / "requests.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerows(rows)
    return folder


def test_a_better_setting_inside_the_noise_is_called_noise(
    calibration_sweep: CalibrationSweep, tmp_path: Path
) -> None:
    results = shutil.copytree(calibration_sweep.results, tmp_path / "results")
    base = next(r for r in sweep_runs(results, calibration_sweep.sweep_id) if r.label == "cal-base")
    _twin(results, base.run_dir, 0.97)  # 3% faster: a real gain far inside the intervals
    table = sweep_table(
        results,
        calibration_sweep.sweep_id,
        settings=[("base", {}), ("twin", {"max_num_seqs": 3})],
        pricing_path=None,
    )
    for metric in ("p50", "p95"):
        d = _diff(table, "twin", metric)
        assert d.where == "c3" and d.change is not None and d.change < 0 and d.label == "noise"
    assert _diff(table, "twin", "capacity").label == "noise"
    assert all(r.cost_per_1m is None for r in table.rows)  # no pricing file: no cost
    assert table.winner == "base"  # a tie is no win: the first of equals


def test_a_start_failure_is_a_row_with_its_reason(
    calibration_sweep: CalibrationSweep, tmp_path: Path
) -> None:
    results = shutil.copytree(calibration_sweep.results, tmp_path / "results")
    slow = next(r for r in sweep_runs(results, calibration_sweep.sweep_id) if r.label == "cal-slow")
    record = json.loads((slow.run_dir / "run.json").read_text())
    record.update(
        state="failed",
        error_kind="oom",
        error="vLLM ran out of memory at start-up (exit code 1): 'out of memory'",
        levels=[],
        search=None,
        n_request_rows=0,
    )
    (slow.run_dir / "run.json").write_text(json.dumps(record))
    header = (slow.run_dir / "requests.csv").read_text().splitlines(keepends=True)[0]
    (slow.run_dir / "requests.csv").write_text(header)
    table = sweep_table(results, calibration_sweep.sweep_id, pricing_path=None)
    row = _row(table, "slow")
    assert row.state == "failed" and row.reason is not None
    assert row.reason.startswith("oom: vLLM ran out of memory") and row.shown is None
    assert table.winner == "more-slots"
    assert not [d for d in table.differences if d.setting == "slow"]
    frame = table.frame().set_index("setting")
    assert frame.loc["slow", "state"] == "failed" and math.isnan(frame.loc["slow", "p95_ms"])
    assert bool(frame.loc["more-slots", "winner"]) and not bool(frame.loc["base", "winner"])


def test_settings_not_run_yet_and_unknown_sweeps(calibration_sweep: CalibrationSweep) -> None:
    table = sweep_table(
        calibration_sweep.results,
        calibration_sweep.sweep_id,
        settings=[("base", {}), ("later", {"max_num_seqs": 2})],
        pricing_path=None,
    )
    assert [(r.name, r.state) for r in table.rows] == [
        ("base", "complete"),
        ("later", "not run yet"),
    ]
    empty = sweep_table(calibration_sweep.results, "no-such-sweep", pricing_path=None)
    assert empty.rows == () and empty.winner is None
    assert empty.verdict == "no setting was measured; settings: none"
