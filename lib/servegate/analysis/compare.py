"""Compare a run with the previous comparable one: what changed, and is a regression clear?

Two runs are comparable only when they measured the same thing: the same backend, model (by
weights sha256 where the run served local weights, by name for a hosted API), hardware class,
prompt set (sha256) and answer cap (``max_tokens``). Anything else differing makes a latency
change meaningless, so ``find_previous`` refuses such runs and says which field differs.

The change in a percentile is ``current - previous`` at each load level both runs measured. Its
interval combines the two runs' order-statistic intervals (``servegate.core.stats.percentile_ci``),
each at confidence ``sqrt(0.95)``: the runs are independent, so both intervals hold together
with probability >= 95%, and then the difference lies in ``[low_cur - high_prev,
high_cur - low_prev]``. That is conservative (it covers at least 95%) and distribution-free,
and it keeps failed requests as ``+inf`` misses like every other latency figure here; a
bootstrap of the difference would undercover p95 at a few hundred requests, as the gates'
intervals would. A regression is *clear* when the whole interval is above zero and the point
change is at least ``min_change_ms`` (so a real but trivial 1 ms shift is not an alarm).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from servegate.core.stats import Estimate, latencies_with_failures, percentile_ci
from servegate.runs.identity import hardware_summary, model_sha256, prompt_set_sha256
from servegate.runs.reader import RunData

__all__ = [
    "COMPARABLE_FIELDS",
    "Change",
    "Comparison",
    "comparability_key",
    "compare_runs",
    "context_differences",
    "differences",
    "find_previous",
    "quarterly_comparison",
]

#: What must match for two runs to be compared, in the order reasons are given.
COMPARABLE_FIELDS: Final[tuple[str, ...]] = (
    "backend",
    "model",
    "hardware_class",
    "prompt_set_sha256",
    "max_tokens",
)
_PER_RUN_CONFIDENCE: Final = math.sqrt(0.95)
_METRICS: Final[tuple[tuple[str, str, str], ...]] = (
    # (name shown, requests.csv column, percentile) for each compared figure
    ("e2e p50", "e2e_ms", "50"),
    ("e2e p95", "e2e_ms", "95"),
    ("TTFT p50", "ttft_ms", "50"),
    ("TTFT p95", "ttft_ms", "95"),
)


def comparability_key(run: RunData) -> dict[str, str]:
    """The fields of ``COMPARABLE_FIELDS`` for ``run``, as strings (``""`` when unknown)."""
    weights = model_sha256(run)
    _, hardware_class = hardware_summary(run.record.manifest.hardware, run.backend)
    cap = run.params.get("max_tokens")
    return {
        "backend": run.backend,
        # Local weights are identified by their hash (a renamed folder is the same model); a
        # hosted model has no hash, only its name.
        "model": f"sha256:{weights}" if weights else f"name:{run.model}",
        "hardware_class": hardware_class,
        "prompt_set_sha256": prompt_set_sha256(run),
        "max_tokens": "each prompt's own" if cap is None else str(cap),
    }


def differences(current: RunData, previous: RunData) -> list[str]:
    """Why ``previous`` cannot be compared with ``current``: one line per differing field.

    An empty list means comparable. A field unknown in either run (``""``) counts as differing:
    a comparison that cannot be checked is not made.
    """
    a, b = comparability_key(current), comparability_key(previous)
    out = []
    for name in COMPARABLE_FIELDS:
        if not a[name] or not b[name]:
            out.append(f"{name} unknown ({a[name] or '?'} vs {b[name] or '?'})")
        elif a[name] != b[name]:
            out.append(f"{name} differs ({_short(a[name])} now, {_short(b[name])} then)")
    return out


def context_differences(current: RunData, previous: RunData) -> list[str]:
    """What else changed between two comparable runs: often the reason for a change.

    Server settings, engine version, code and sample sizes do not block a comparison (a
    quarter's tuning is what the comparison should show), but the reader should see them.
    """
    out = []
    cur, prev = current.record, previous.record
    pairs = {
        "server settings": (current.params.get("server"), previous.params.get("server")),
        "engine version": (
            cur.manifest.runtime.get("vllm_version"),
            prev.manifest.runtime.get("vllm_version"),
        ),
        "prompts measured": (current.params.get("n_prompts"), previous.params.get("n_prompts")),
        "git commit": ((cur.manifest.git.commit or "")[:10], (prev.manifest.git.commit or "")[:10]),
    }
    for name, (now, then) in pairs.items():
        if now != then:
            out.append(f"{name}: {_brief(now)} now, {_brief(then)} then")
    return out


def _brief(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_brief(v)}" for k, v in sorted(value.items())) or "{}"
    return "?" if value in (None, "") else str(value)


def _short(text: str) -> str:
    # sha256 values are unreadable in full; 12 characters tell them apart.
    return text[:19] + "..." if text.startswith("sha256:") or len(text) == 64 else text


@dataclass(frozen=True)
class Change:
    """One percentile at one load level: previous, current and the change with its interval."""

    level: str
    metric: str
    previous: Estimate
    current: Estimate
    change_ms: float | None
    change_low_ms: float | None
    change_high_ms: float | None
    verdict: str  # "regression", "improvement" or "no clear change"

    @property
    def relative(self) -> float | None:
        """The change as a fraction of the previous value (None when not finite)."""
        prev = self.previous.value
        if self.change_ms is None or not prev or not math.isfinite(prev):
            return None
        if not math.isfinite(self.change_ms):
            return None
        return self.change_ms / prev


@dataclass(frozen=True)
class Comparison:
    """The comparison of ``current_run`` with the previous comparable run, or why there is none.

    :param refused: earlier runs of the same backend that were not comparable, with reasons
        (newest first), so a reader sees why "no previous comparable run" was said.
    """

    current_run: str
    previous_run: str | None
    changes: tuple[Change, ...] = ()
    refused: tuple[tuple[str, tuple[str, ...]], ...] = ()
    message: str = ""
    levels: tuple[str, ...] = field(default=())
    context: tuple[str, ...] = ()

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "regression"]

    def frame(self) -> pd.DataFrame:
        """One row per compared figure, for tables (ms; relative change as a fraction)."""
        rows = [
            {
                "level": c.level,
                "metric": c.metric,
                "previous_ms": c.previous.value,
                "current_ms": c.current.value,
                "change_ms": c.change_ms,
                "change_ci_low_ms": c.change_low_ms,
                "change_ci_high_ms": c.change_high_ms,
                "relative_change": c.relative,
                "verdict": c.verdict,
            }
            for c in self.changes
        ]
        columns = [
            "level",
            "metric",
            "previous_ms",
            "current_ms",
            "change_ms",
            "change_ci_low_ms",
            "change_ci_high_ms",
            "relative_change",
            "verdict",
        ]
        return pd.DataFrame(rows, columns=columns)


def _latencies(run: RunData, level: str, column: str) -> np.ndarray:
    rows = run.requests[run.requests["level"] == level]
    values = rows[column].to_numpy(dtype=float)
    ok = (rows["status"] == "ok").to_numpy() & ~np.isnan(values)
    # A failed request, or an ok one with no first token, is a miss at +inf, as in the gates.
    return latencies_with_failures(np.where(ok, values, 0.0), ok)


def _difference(cur: Estimate, prev: Estimate) -> tuple[float | None, float | None, float | None]:
    def sub(x: float | None, y: float | None) -> float | None:
        if x is None or y is None or (math.isinf(x) and math.isinf(y)):
            return None  # unknown (inf - inf): an unbounded end
        return x - y

    return (
        sub(cur.value, prev.value),
        sub(cur.ci_low, prev.ci_high),
        sub(cur.ci_high, prev.ci_low),
    )


def _verdict(low: float | None, high: float | None, point: float | None, min_ms: float) -> str:
    if low is not None and low > 0 and point is not None and point >= min_ms:
        return "regression"
    if high is not None and high < 0 and point is not None and -point >= min_ms:
        return "improvement"
    return "no clear change"


def _common_levels(current: RunData, previous: RunData) -> list[str]:
    def measured(run: RunData) -> dict[str, tuple[int | None, float | None]]:
        return {lv.level: (lv.concurrency, lv.request_rate) for lv in run.levels if lv.n_requests}

    cur, prev = measured(current), measured(previous)
    return [name for name in cur if name in prev and cur[name] == prev[name]]


def compare_runs(
    current: RunData,
    previous: RunData,
    *,
    levels: Sequence[str] | None = None,
    min_change_ms: float = 0.0,
) -> Comparison:
    """Compare ``current`` with ``previous`` at ``levels`` (default: every level both have).

    Does not check comparability; ``find_previous`` does. A level missing from either run is
    skipped and named in the message.
    """
    common = _common_levels(current, previous)
    wanted = list(levels) if levels is not None else common
    missing = [lv for lv in wanted if lv not in common]
    changes = []
    for level in (lv for lv in wanted if lv in common):
        for name, column, q in _METRICS:
            prev = percentile_ci(
                _latencies(previous, level, column), float(q), confidence=_PER_RUN_CONFIDENCE
            )
            cur = percentile_ci(
                _latencies(current, level, column), float(q), confidence=_PER_RUN_CONFIDENCE
            )
            point, low, high = _difference(cur, prev)
            changes.append(
                Change(
                    level,
                    name,
                    prev,
                    cur,
                    point,
                    low,
                    high,
                    _verdict(low, high, point, min_change_ms),
                )
            )
    message = f"compared with {previous.run_id}"
    if missing:
        message += f"; level(s) {', '.join(missing)} not measured by both runs, not compared"
    return Comparison(
        current.run_id,
        previous.run_id,
        tuple(changes),
        message=message,
        levels=tuple(lv for lv in wanted if lv in common),
        context=tuple(context_differences(current, previous)),
    )


def find_previous(
    current: RunData, runs: Iterable[RunData]
) -> tuple[RunData | None, list[tuple[str, list[str]]]]:
    """The newest complete run before ``current`` that is comparable with it.

    Returns it (or None) and the newer same-backend runs refused on the way, with reasons.
    Incomplete runs (killed, interrupted, crashed) are never the baseline: a partial run's
    percentiles describe a different load.
    """
    earlier = sorted(
        (r for r in runs if r.run_id != current.run_id and r.created_at < current.created_at),
        key=lambda r: r.created_at,
        reverse=True,
    )
    refused: list[tuple[str, list[str]]] = []
    for run in earlier:
        if run.backend != current.backend:
            continue  # another backend is never a candidate; not worth listing
        if (run.record.search is None) != (current.record.search is None):
            continue  # a search's levels stop early: compared only with another search
        reasons = differences(current, run)
        if run.state != "complete" or run.incomplete:
            reasons.append(f"the run did not complete (state {run.state})")
        if not reasons:
            return run, refused
        refused.append((run.run_id, reasons))
    return None, refused


def quarterly_comparison(
    current: RunData,
    runs: Iterable[RunData],
    *,
    levels: Sequence[str] | None = None,
    min_change_ms: float = 0.0,
) -> Comparison:
    """``find_previous`` then ``compare_runs``; says "no previous comparable run" when none."""
    previous, refused = find_previous(current, runs)
    frozen = tuple((run_id, tuple(reasons)) for run_id, reasons in refused)
    if previous is None:
        return Comparison(
            current.run_id,
            None,
            refused=frozen,
            message="no previous comparable run"
            + (f" ({len(frozen)} earlier run(s) of this backend differ)" if frozen else ""),
        )
    result = compare_runs(current, previous, levels=levels, min_change_ms=min_change_ms)
    return Comparison(
        result.current_run,
        result.previous_run,
        result.changes,
        refused=frozen,
        message=result.message,
        levels=result.levels,
        context=result.context,
    )
