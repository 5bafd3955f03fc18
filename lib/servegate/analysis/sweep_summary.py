"""A sweep table in words: one line per setting (the command line) and a compact frame (the
notebook), every figure with its interval, and each setting's answers against the base's."""

from __future__ import annotations

import math

import pandas as pd

from servegate.analysis.sweep import SweepRow, SweepTable
from servegate.analysis.sweep_quality import SettingQuality
from servegate.core.stats import Estimate

__all__ = ["row_line", "summary_frame"]


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "?"
    if math.isinf(value):
        return "inf"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}g}"


def _est(est: Estimate | None, unit: str = "") -> str:
    """``412 ms [380 - 450]``; an unbounded end is ``?``."""
    if est is None or est.value is None:
        return ""
    suffix = f" {unit}" if unit else ""
    return f"{_num(est.value)}{suffix} [{_num(est.ci_low)} - {_num(est.ci_high)}]"


def _answers(quality: SettingQuality | None) -> str:
    """``answers 41% [33 - 49], FAIL against base: -29 pts [-37, -21]``."""
    if quality is None:
        return "answers not checked"
    if quality.accuracy.value is None:
        return f"answers {quality.verdict}: no quality pass"
    return f"answers {quality.accuracy_text()}, {quality.judged_text()}"


def row_line(row: SweepRow, winner: bool = False) -> str:
    """One setting in one line: how it ended, its verdict and capacity, its answers, start
    and memory."""
    head = f"{row.name}{' (winner)' if winner else ''}: "
    if row.shown is None:
        return head + (f"{row.state}: {row.reason}" if row.reason else row.state)[:240]
    at = row.shown
    p50, p95 = _est(at.p50_ms, "ms"), _est(at.p95_ms, "ms")
    parts = [f"{at.verdict} at c{at.concurrency} (p50 {p50}, p95 {p95})"]
    if row.capacity is not None:
        parts.append(f"capacity {_est(row.capacity.goodput_req_per_s, 'req/s')}")
    else:
        parts.append(f"no level passed: {row.blocking}")
    if row.cost_per_1m is not None:
        parts.append(f"{_est(row.cost_per_1m, 'USD')} per 1M output tokens")
    parts.append(_answers(row.quality))
    if row.startup_s is not None:
        parts.append(f"start {row.startup_s:.0f} s")
    if row.peak_rss_mib is not None:
        parts.append(f"peak {row.peak_rss_mib:,.0f} MiB")
    if row.state != "complete":
        parts.append(f"{row.state}: {row.reason}"[:160])
    return head + "; ".join(parts)


def summary_frame(table: SweepTable) -> pd.DataFrame:
    """One row per setting, figures as text with their intervals (the notebook's table)."""
    rows = []
    for row in table.rows:
        at, cap = row.shown, row.capacity
        rows.append(
            {
                "setting": row.name + (" ★" if row.name == table.winner else ""),
                "changes": ", ".join(f"{k}={v}" for k, v in row.server.items()) or "(base)",
                "state": row.state if not row.reason else f"{row.state}: {row.reason}"[:120],
                "verdict": f"{at.verdict} at c{at.concurrency}" if at else "",
                "p50 ms": _est(at.p50_ms) if at else "",
                "p95 ms": _est(at.p95_ms) if at else "",
                "capacity req/s": _est(cap.goodput_req_per_s) if cap else "",
                "output tok/s": _est(cap.goodput_tok_per_s) if cap else "",
                "USD / 1M output tokens": _est(row.cost_per_1m),
                "accuracy": row.quality.accuracy_text() if row.quality else "not checked",
                "answers": row.quality.judged_text() if row.quality else "",
                "start s": _num(row.startup_s) if row.startup_s is not None else "",
                "peak MiB": f"{row.peak_rss_mib:,.0f}" if row.peak_rss_mib is not None else "",
                "blocked by": row.blocking or "",
            }
        )
    return pd.DataFrame(rows)
