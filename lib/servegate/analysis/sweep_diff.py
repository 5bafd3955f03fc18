"""Each sweep setting's difference from the base setting: p50, p95 and capacity, with intervals.

p50 and p95 are compared at one concurrency both runs measured: the base's capacity level
(its first level when none passed), else the highest level both measured below it (else the
lowest both measured). The interval of a
difference is ``servegate.analysis.compare``'s: each run's order-statistic interval at
``sqrt(0.95)`` confidence, so both hold together with probability >= 95%, and the difference
lies within ``[low_setting - high_base, high_setting - low_base]``. Capacity (goodput req/s at
each run's own capacity level; 0 when no level passed) is compared the same way, each run's
batch-means interval recomputed from requests.csv at ``sqrt(0.95)``.

A difference whose interval holds 0 (or is unbounded across it) is *noise*: the setting is not
shown to be better or worse, whatever its point value says. Each setting is compared at 95%
on its own; across many settings one may look clear by chance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from servegate.analysis.compare import compare_runs
from servegate.analysis.search import SearchParams
from servegate.analysis.sweep_levels import JudgedLevel, goodput_at
from servegate.core.stats import Estimate
from servegate.runs.reader import RunData

__all__ = ["Difference", "Measured", "differences_from_base"]

_PER_RUN_CONFIDENCE: Final = math.sqrt(0.95)
Label = Literal["better", "worse", "noise", "not compared"]
Metric = Literal["p50", "p95", "capacity"]
_QUANTILES: Final[tuple[Metric, Metric]] = ("p50", "p95")
#: analysis.compare's verdicts, as a sweep says them (lower latency is better).
_LABELS: Final[dict[str, Label]] = {"regression": "worse", "improvement": "better"}


class Measured(Protocol):
    """What a difference needs of a sweep row (``servegate.analysis.sweep.SweepRow``)."""

    @property
    def name(self) -> str: ...
    @property
    def run(self) -> RunData | None: ...
    @property
    def capacity(self) -> JudgedLevel | None: ...
    @property
    def first(self) -> JudgedLevel | None: ...


@dataclass(frozen=True)
class Difference:
    """A setting's figure minus the base's, with its interval and what it amounts to."""

    setting: str
    metric: Metric
    unit: str
    where: str
    base: float | None
    value: float | None
    change: float | None
    low: float | None
    high: float | None
    label: Label

    def as_row(self) -> dict[str, object]:
        nan = math.nan
        return {
            "setting": self.setting,
            "metric": self.metric,
            "unit": self.unit,
            "where": self.where,
            "base": nan if self.base is None else self.base,
            "setting_value": nan if self.value is None else self.value,
            "change": nan if self.change is None else self.change,
            "change_ci_low": nan if self.low is None else self.low,
            "change_ci_high": nan if self.high is None else self.high,
            "label": self.label,
        }


def differences_from_base(
    rows: Sequence[Measured], base: Measured, limits: SearchParams
) -> list[Difference]:
    """p50, p95 and capacity of every other measured setting against ``base``."""
    if base.run is None or base.first is None:
        return []
    out: list[Difference] = []
    for row in rows:
        if row is base or row.run is None or row.first is None:
            continue
        out += _latency_differences(row, base, limits)
        out.append(_capacity_difference(row, base, limits))
    return out


def _measured(run: RunData) -> dict[int, str]:
    """Concurrency -> level name of each closed-loop level with requests."""
    return {lv.concurrency: lv.level for lv in run.levels if lv.concurrency and lv.n_requests}


def _latency_differences(row: Measured, base: Measured, limits: SearchParams) -> list[Difference]:
    assert row.run is not None and base.run is not None
    at = base.capacity or base.first
    assert at is not None
    mine, theirs = _measured(row.run), _measured(base.run)
    common = [c for c in theirs if c in mine and mine[c] == theirs[c]]
    if not common:
        return [
            Difference(
                row.name, m, "ms", "no common level", None, None, None, None, None, "not compared"
            )
            for m in _QUANTILES
        ]
    # The base's level, else the nearest one below it (where the base too met its limits).
    below = [c for c in common if c <= at.concurrency]
    c = max(below) if below else min(common)
    metric = "TTFT" if limits.gate_latency_metric == "ttft" else "e2e"
    changes = compare_runs(row.run, base.run, levels=[theirs[c]]).changes
    out = []
    for q in _QUANTILES:
        change = next(ch for ch in changes if ch.metric == f"{metric} {q}")
        out.append(
            Difference(
                row.name,
                q,
                "ms",
                f"c{c}",
                change.previous.value,
                change.current.value,
                change.change_ms,
                change.change_low_ms,
                change.change_high_ms,
                _LABELS.get(change.verdict, "noise"),
            )
        )
    return out


def _capacity(row: Measured, limits: SearchParams) -> tuple[Estimate, str]:
    """Goodput req/s at the row's capacity level at the per-run confidence; 0 without one."""
    assert row.run is not None
    if row.capacity is None:
        return Estimate(0.0, 0.0, 0.0, 0, _PER_RUN_CONFIDENCE, "none passed", "req/s"), "none"
    req, _ = goodput_at(row.run, row.capacity.level, limits, _PER_RUN_CONFIDENCE)
    return req, f"c{row.capacity.concurrency}"


def _capacity_difference(row: Measured, base: Measured, limits: SearchParams) -> Difference:
    mine, at = _capacity(row, limits)
    theirs, base_at = _capacity(base, limits)
    where = f"{at} vs base {base_at}"
    if row.capacity is None and base.capacity is None:
        return Difference(row.name, "capacity", "req/s", where, 0.0, 0.0, 0.0, None, None, "noise")
    point = _sub(mine.value, theirs.value)
    low, high = _sub(mine.ci_low, theirs.ci_high), _sub(mine.ci_high, theirs.ci_low)
    label: Label = "noise"
    if low is not None and low > 0:
        label = "better"
    elif high is not None and high < 0:
        label = "worse"
    return Difference(
        row.name, "capacity", "req/s", where, theirs.value, mine.value, point, low, high, label
    )


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b
