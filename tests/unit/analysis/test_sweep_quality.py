"""A sweep judges answers too: a fast setting that answers worse than the base never wins.

The run folders are real capacity searches and quality passes against calibration servers
scripted to answer the checks file right or wrong (tests/helpers.py, ``make_quality_sweep``).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from servegate.analysis.gate_rule import Verdict
from servegate.analysis.sweep import SweepRow, SweepTable, sweep_table
from servegate.analysis.sweep_quality import SettingQuality
from servegate.analysis.sweep_summary import row_line, summary_frame
from servegate.runs.sweep import sweep_runs
from tests.helpers import CalibrationSweep

SETTINGS = [
    ("base", {}),
    ("fast-wrong", {"dtype": "bfloat16"}),
    ("same-answers", {"max_num_seqs": 3}),
]


@pytest.fixture(scope="module")
def table(quality_sweep: CalibrationSweep) -> SweepTable:
    return sweep_table(quality_sweep.results, quality_sweep.sweep_id, pricing_path=None)


def _row(table: SweepTable, name: str) -> SweepRow:
    return next(r for r in table.rows if r.name == name)


def _quality(row: SweepRow) -> SettingQuality:
    assert row.quality is not None, row.name
    return row.quality


def _unchecked(sweep: CalibrationSweep, dest: Path, names: set[str]) -> Path:
    """A copy of the sweep's run folders where the runs of ``names`` were made with
    ``quality_prompts: null``: no quality.csv, no ``quality`` in run.json."""
    results = shutil.copytree(sweep.results, dest / "results")
    for run in sweep_runs(results, sweep.sweep_id):
        if run.record.setting is None or run.record.setting.name not in names:
            continue
        (run.run_dir / "quality.csv").unlink()
        record = json.loads((run.run_dir / "run.json").read_text())
        record["quality"] = None
        record["params"]["quality_prompts"] = None
        record["manifest"]["quality_set"] = None
        (run.run_dir / "run.json").write_text(json.dumps(record))
    return results


def test_a_faster_setting_that_answers_worse_is_passed_over_and_the_verdict_says_why(
    table: SweepTable,
) -> None:
    base, fast, same = (_row(table, name) for name, _ in SETTINGS)
    caps = [r.capacity.concurrency if r.capacity else None for r in (base, fast, same)]
    assert caps == [2, 4, 3]  # fast-wrong is the fastest on latency alone
    assert fast.latency_passes and not fast.passes
    bad, good, like = _quality(fast), _quality(base), _quality(same)
    # The base is the reference; the others are paired with its answers item by item.
    assert (good.verdict, good.basis) == (Verdict.PASS, "reference")
    assert good.accuracy.value == pytest.approx(0.8, abs=0.02)
    assert (bad.verdict, bad.basis, bad.reference) == (Verdict.FAIL, "base", "base")
    assert bad.accuracy.value == pytest.approx(0.1, abs=0.02)
    assert bad.difference is not None and bad.difference.ci_low is not None
    ci_high = bad.difference.ci_high
    assert bad.difference.value is not None and ci_high is not None
    assert ci_high < -table.quality_margin
    assert bad.n_worse > 90 and "fast-wrong fails and base passes" in bad.note
    # Answering exactly as the base does ties with it: the difference is 0, well inside 5 pts.
    assert like.difference is not None and good.accuracy.value is not None
    assert (like.verdict, like.difference.value) == (Verdict.PASS, 0.0)
    assert table.winner == "same-answers" and table.quality_checked
    assert table.verdict.startswith("winner: same-answers (max_num_seqs=3): capacity c3, ")
    right = f"{good.accuracy.value * 100:.0f}%"  # 81%: 80% of each category, rounded
    assert f"answers as good as base's ({right} vs {right}, +0 pts [-" in table.verdict
    pts = [round(v * 100) for v in (bad.difference.value, bad.difference.ci_low, ci_high)]
    why = (
        "passed over: fast-wrong passes the latency gates but its answers are worse than "
        f"base's: accuracy 10% vs {right} ({pts[0]:+d} pts [{pts[1]:+d}, {pts[2]:+d}], margin "
        "5 pts)"
    )
    assert table.verdict.endswith(why), table.verdict


def test_the_frame_the_summary_and_the_line_show_accuracy_and_the_verdict(
    table: SweepTable,
) -> None:
    frame = table.frame().set_index("setting")
    assert list(frame["quality_verdict"]) == ["PASS", "FAIL", "PASS"]
    assert list(frame["quality_basis"]) == ["reference", "base", "base"]
    fast = frame.loc["fast-wrong"]
    assert fast["accuracy_ci_low"] < fast["accuracy"] < fast["accuracy_ci_high"]
    assert fast["accuracy_vs_base_ci_high"] < -0.05 and not fast["winner"]
    assert math.isnan(frame.loc["base", "accuracy_vs_base"])  # the reference has no difference
    summary = summary_frame(table).set_index("setting")
    assert summary.loc["same-answers ★", "answers"].startswith("PASS against base: +0 pts [")
    assert summary.loc["fast-wrong", "answers"].startswith("FAIL against base: -70 pts [")
    assert summary.loc["base", "answers"] == "PASS (the reference)"
    assert summary.loc["fast-wrong", "accuracy"].startswith("10% [")
    line = row_line(_row(table, "fast-wrong"))
    assert "PASS at c4" in line and "; answers 10% [" in line
    assert "FAIL against base: -70 pts [" in line


def test_without_base_answers_each_setting_meets_the_floor(
    quality_sweep: CalibrationSweep,
) -> None:
    others = SETTINGS[1:]  # no setting that changes nothing: no base
    strict = sweep_table(
        quality_sweep.results, quality_sweep.sweep_id, settings=others, pricing_path=None
    )
    assert strict.base is None and strict.winner is None
    assert any("judged against the floor 0.8" in n for n in strict.notes)
    fast, same = (_quality(_row(strict, name)) for name, _ in others)
    assert (fast.basis, fast.verdict) == ("floor", Verdict.FAIL)
    # 80% of 144 is not shown to be above a floor of 80%: the interval holds it.
    assert (same.basis, same.verdict) == ("floor", Verdict.INCONCLUSIVE)
    assert strict.verdict.startswith("no setting passes both the latency gates and the answers")
    assert "passed over: fast-wrong passes the latency gates but its accuracy 10% [" in (
        strict.verdict
    )
    assert "is below the floor 80%" in strict.verdict
    loose = sweep_table(
        quality_sweep.results,
        quality_sweep.sweep_id,
        settings=others,
        pricing_path=None,
        quality_floor=0.7,
    )
    assert loose.winner == "same-answers" and loose.quality_floor == 0.7


def test_a_setting_without_a_quality_pass_cannot_win_while_others_have_one(
    quality_sweep: CalibrationSweep, tmp_path: Path
) -> None:
    results = _unchecked(quality_sweep, tmp_path, {"same-answers"})
    table = sweep_table(results, quality_sweep.sweep_id, settings=SETTINGS, pricing_path=None)
    same = _quality(_row(table, "same-answers"))
    assert (same.basis, same.verdict) == ("none", Verdict.INCONCLUSIVE)
    assert table.winner == "base"
    assert "passed over: fast-wrong passes the latency gates but its answers are worse" in (
        table.verdict
    )
    assert (
        "passed over: same-answers passes the latency gates but its answers were not checked: "
        "same-answers skipped its quality pass (quality_prompts: null)"
    ) in table.verdict
    assert "answers INCONCLUSIVE: no quality pass" in row_line(_row(table, "same-answers"))


def test_when_no_setting_checked_answers_the_winner_is_on_latency_and_says_so(
    quality_sweep: CalibrationSweep, tmp_path: Path
) -> None:
    results = _unchecked(quality_sweep, tmp_path, {name for name, _ in SETTINGS})
    table = sweep_table(results, quality_sweep.sweep_id, settings=SETTINGS, pricing_path=None)
    assert not table.quality_checked and all(r.quality is None for r in table.rows)
    # Nothing says the fast setting answers wrongly, so it wins, and the verdict says why.
    assert table.winner == "fast-wrong"
    assert table.verdict.endswith("; answers were not checked (no setting made a quality pass)")
    assert "answers were not checked: no setting made a quality pass (quality_prompts: null)" in (
        " ".join(table.notes)
    )
    assert set(table.frame()["quality_verdict"]) == {"not checked"}
    assert "answers not checked" in row_line(_row(table, "fast-wrong"), winner=True)


def test_a_setting_that_answered_another_checks_file_is_not_paired_with_the_base(
    quality_sweep: CalibrationSweep, tmp_path: Path
) -> None:
    results = shutil.copytree(quality_sweep.results, tmp_path / "results")
    run = next(
        r for r in sweep_runs(results, quality_sweep.sweep_id) if r.label == "cal-same-answers"
    )
    record = json.loads((run.run_dir / "run.json").read_text())
    record["quality"]["sha256"] = "0" * 64  # as if the checks file was edited between settings
    (run.run_dir / "run.json").write_text(json.dumps(record))
    table = sweep_table(results, quality_sweep.sweep_id, settings=SETTINGS, pricing_path=None)
    same = _quality(_row(table, "same-answers"))
    assert same.basis == "floor" and "answered another checks file than base" in same.note
    assert _quality(_row(table, "fast-wrong")).basis == "base"  # the others stay paired
