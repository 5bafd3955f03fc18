"""Quarterly comparison: comparability, the change's interval, and the regression flag."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from servegate.analysis.compare import (
    compare_runs,
    differences,
    find_previous,
    quarterly_comparison,
)
from servegate.core.names import RUN_SCHEMA_VERSION
from servegate.records.run import RunRecord
from servegate.runs.reader import RunData

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _run(
    name: str,
    e2e_ms: np.ndarray,
    *,
    days: int = 0,
    ok: np.ndarray | None = None,
    backend: str = "vllm",
    state: str = "complete",
    weights: str = "a" * 64,
    prompts: str = "b" * 64,
    cores: int = 2,
    max_tokens: int | None = 32,
    concurrency: int = 8,
    server: dict[str, Any] | None = None,
) -> RunData:
    n = len(e2e_ms)
    ok = np.ones(n, bool) if ok is None else ok
    requests = pd.DataFrame(
        {
            "level": f"c{concurrency}",
            "status": np.where(ok, "ok", "error"),
            "e2e_ms": e2e_ms,
            "ttft_ms": e2e_ms / 10,
        }
    )
    record: dict[str, Any] = {
        "schema_version": RUN_SCHEMA_VERSION,
        "run_id": f"2026_{name}_{backend}",
        "state": state,
        "created_at": (T0 + timedelta(days=days)).isoformat(),
        "params": {
            "backend": backend,
            "model": "smollm2",
            "max_tokens": max_tokens,
            **({"server": server} if server is not None else {}),
        },
        "manifest": {
            "model": {"sha256": weights},
            "prompt_set": {"sha256": prompts},
            "hardware": {"cpu_model": "AMD EPYC", "cpu_logical_cores": cores},
        },
        "levels": [
            {
                "level": f"c{concurrency}",
                "concurrency": concurrency,
                "request_rate": None,
                "n_requests": n,
                "n_ok": int(ok.sum()),
                "n_errors": n - int(ok.sum()),
                "n_oom": 0,
                "counts": {"ok": int(ok.sum()), "error": n - int(ok.sum())},
            }
        ],
    }
    return RunData(Path(name), RunRecord.model_validate(record), requests)


def _lognormal(seed: int, n: int, median: float, sigma: float = 0.5) -> np.ndarray:
    return median * np.random.default_rng(seed).lognormal(0.0, sigma, n)


def test_a_known_slowdown_is_a_clear_regression() -> None:
    before = _run("q1", _lognormal(1, 300, 1000))
    after = _run("q2", _lognormal(2, 300, 1400), days=90)
    result = compare_runs(after, before)
    by = {c.metric: c for c in result.changes}
    for metric in ("e2e p50", "e2e p95"):
        change = by[metric]
        assert change.verdict == "regression", change
        assert change.change_low_ms > 0
        assert change.change_ms == pytest.approx(change.current.value - change.previous.value)
    assert by["e2e p50"].relative == pytest.approx(0.4, abs=0.1)
    assert {c.verdict for c in compare_runs(before, after).changes} == {"improvement"}


def test_the_same_distribution_is_no_clear_change() -> None:
    result = compare_runs(_run("b", _lognormal(4, 300, 1000)), _run("a", _lognormal(3, 300, 1000)))
    assert {c.verdict for c in result.changes} == {"no clear change"}
    # the interval straddles zero rather than being empty or absurdly wide
    for c in result.changes:
        assert c.change_low_ms < 0 < c.change_high_ms
        assert c.change_high_ms - c.change_low_ms < 2 * c.previous.value


def test_the_change_interval_covers_the_true_shift_and_rarely_false_alarms() -> None:
    """Seeded: 200 pairs from lognormals whose true p95 difference is known."""
    sigma, n = 0.5, 250
    z95 = sps.norm.ppf(0.95)
    true_diff = (1200 - 1000) * math.exp(sigma * z95)
    covered = false_alarms = 0
    for seed in range(200):
        prev = _run("p", _lognormal(seed, n, 1000, sigma))
        cur = _run("c", _lognormal(10_000 + seed, n, 1200, sigma))
        same = _run("s", _lognormal(20_000 + seed, n, 1000, sigma))
        p95 = next(c for c in compare_runs(cur, prev).changes if c.metric == "e2e p95")
        covered += p95.change_low_ms <= true_diff <= p95.change_high_ms
        null = next(c for c in compare_runs(same, prev).changes if c.metric == "e2e p95")
        false_alarms += null.verdict == "regression"
    assert covered / 200 >= 0.95  # conservative by construction
    assert false_alarms / 200 <= 0.025  # one-sided: at most half of the 5%


def test_failures_count_as_misses_in_the_change() -> None:
    values = _lognormal(5, 300, 1000)
    failing = np.ones(300, bool)
    failing[::8] = False  # 12.5% errors: p95 lands among the failures
    result = compare_runs(_run("b", values, ok=failing), _run("a", values))
    p95 = next(c for c in result.changes if c.metric == "e2e p95")
    assert p95.current.value == math.inf and p95.change_ms == math.inf
    assert p95.verdict == "regression"


def test_min_change_keeps_a_trivial_shift_from_being_an_alarm() -> None:
    values = _lognormal(6, 2000, 1000, 0.05)
    result = compare_runs(_run("b", values + 20), _run("a", values), min_change_ms=50)
    assert {c.verdict for c in result.changes} == {"no clear change"}
    assert (
        compare_runs(_run("b", values + 20), _run("a", values)).changes[0].verdict == "regression"
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"weights": "c" * 64},
            "model differs (sha256:cccccccccccc... now, sha256:aaaaaaaaaaaa...",
        ),
        ({"prompts": "d" * 64}, "prompt_set_sha256 differs"),
        ({"cores": 16}, "hardware_class differs (cpu-16c now, cpu-2c then)"),
        ({"max_tokens": None}, "max_tokens differs (each prompt's own now, 32 then)"),
        ({"prompts": ""}, "prompt_set_sha256 unknown"),
    ],
)
def test_runs_that_differ_are_refused_with_the_reason(change: dict, reason: str) -> None:
    values = _lognormal(7, 50, 1000)
    old = _run("old", values)
    new = _run("new", values, days=90, **change)
    assert any(reason in line for line in differences(new, old)), differences(new, old)
    result = quarterly_comparison(new, [old, new])
    assert result.previous_run is None and result.changes == ()
    assert result.message.startswith("no previous comparable run")
    assert result.refused[0][0] == old.run_id


def test_the_baseline_is_the_newest_complete_comparable_earlier_run() -> None:
    values = _lognormal(8, 60, 1000)
    runs = [
        _run("q1", values, days=0),
        _run("q2", values, days=90),
        _run("q3-crashed", values, days=180, state="server_crashed"),
        _run("q3-hosted", values, days=181, backend="openai"),
        _run("q3-other-prompts", values, days=182, prompts="e" * 64),
        _run("q4", values, days=270),
        _run("q5-later", values, days=400),
    ]
    previous, refused = find_previous(runs[5], runs)
    assert previous is runs[1]
    assert [run_id for run_id, _ in refused] == [runs[4].run_id, runs[2].run_id]
    assert "did not complete (state server_crashed)" in refused[1][1][-1]
    assert quarterly_comparison(runs[0], runs).message == "no previous comparable run"


def test_levels_not_measured_by_both_are_named() -> None:
    values = _lognormal(9, 60, 1000)
    result = compare_runs(_run("b", values, concurrency=16), _run("a", values), levels=["c8"])
    assert result.changes == () and "c8 not measured by both runs" in result.message


def test_what_else_changed_is_listed_without_blocking() -> None:
    values = _lognormal(10, 60, 1000)
    old = _run("old", values, server={"env": {}})
    new = _run("new", values, days=90, server={"env": {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}})
    result = quarterly_comparison(new, [old, new])
    assert result.previous_run == old.run_id
    assert result.context == (
        "server settings: env=VLLM_CPU_NUM_OF_RESERVED_CPU=0 now, env={} then",
    )
