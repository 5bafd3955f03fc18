"""The sweep figure, checked by what it draws: points, intervals, the limit and the winner."""

from __future__ import annotations

import pytest

from servegate.analysis.sweep import SweepTable, sweep_table
from servegate.plots.sweep import sweep_figure
from tests.helpers import CalibrationSweep, figure_texts, is_message_figure, threshold_values


@pytest.fixture(scope="module")
def table(calibration_sweep: CalibrationSweep) -> SweepTable:
    return sweep_table(calibration_sweep.results, calibration_sweep.sweep_id, pricing_path=None)


def test_each_setting_is_a_point_at_its_capacity_and_p95_and_the_winner_is_starred(
    table: SweepTable,
) -> None:
    fig = sweep_figure(table)
    ax = fig.axes[-1]
    assert threshold_values(ax, "y") == [400.0]
    stars = [line for line in ax.lines if line.get_gid() == "winner"]
    assert len(stars) == 1
    more = next(r for r in table.rows if r.name == "more-slots")
    assert more.capacity is not None
    x, y = stars[0].get_xdata()[0], stars[0].get_ydata()[0]
    assert (x, y) == (more.capacity.goodput_req_per_s.value, more.capacity.p95_ms.value)
    # Each point's capacity interval is a horizontal bar at its p95.
    bars = [tuple(seg[:, 0]) for coll in ax.collections for seg in coll.get_segments()]
    low, high = more.capacity.goodput_req_per_s.ci_low, more.capacity.goodput_req_per_s.ci_high
    assert (low, high) in bars
    texts = figure_texts(fig)
    for words in ("more-slots (winner)", "slow: no level passed (p95 at c1)", "p95 limit 400 ms"):
        assert words in texts
    assert "Winner: more-slots" in texts and "Hollow at capacity 0" in texts
    assert ax.get_xlim()[0] < 0 < ax.get_xlim()[1]  # the hollow point at 0 is inside


def test_a_sweep_with_nothing_measured_says_so(calibration_sweep: CalibrationSweep) -> None:
    empty = sweep_table(
        calibration_sweep.results,
        calibration_sweep.sweep_id,
        settings=[("later", {"max_num_seqs": 2})],
        pricing_path=None,
    )
    fig = sweep_figure(empty)
    assert is_message_figure(fig)
    assert "no setting was measured" in figure_texts(fig)


def test_a_setting_whose_answers_fail_is_hollow_at_its_capacity_and_labelled(
    quality_sweep: CalibrationSweep,
) -> None:
    table = sweep_table(quality_sweep.results, quality_sweep.sweep_id, pricing_path=None)
    fig = sweep_figure(table)
    texts = figure_texts(fig)
    assert "fast-wrong: answers FAIL against base's" in texts
    assert "same-answers (winner)" in texts and "Hollow at its capacity" in texts
    assert "Hollow at capacity 0" not in texts  # every setting passed a level
