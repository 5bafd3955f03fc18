"""Fallback simulation: small cases computed by hand, pairing and drawing, and the fixture runs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from servegate.analysis.fallback import FallbackParams, fallback_frame, simulate_fallback
from servegate.analysis.gates import GateParams, evaluate_gates
from servegate.core.errors import ConfigError
from servegate.runs.reader import load_run
from tests.helpers import FIXTURE_RUNS, HOSTED_RUN, SKIPPED_RUN, VLLM_RUN

VLLM = FIXTURE_RUNS / VLLM_RUN
HOSTED = FIXTURE_RUNS / HOSTED_RUN
SKIPPED = FIXTURE_RUNS / SKIPPED_RUN
NAN = math.nan


def rows(run_id: str, level: str, spec: list[tuple]) -> pd.DataFrame:
    """(prompt_id, status, ttft_ms, e2e_ms, input_tokens, output_tokens) per request."""
    frame = pd.DataFrame(
        spec, columns=["prompt_id", "status", "ttft_ms", "e2e_ms", "input_tokens", "output_tokens"]
    )
    return frame.assign(
        run_id=run_id, level=level, concurrency=int(level[1:]), request_rate=NAN
    ).astype({"input_tokens": "Int64", "output_tokens": "Int64"})


# Local level c8, five requests:
#   L1 ok,      ttft 100, e2e 800          L2 ok, ttft 700, e2e 1500
#   L3 error,   seen at e2e 50 (no token)  L4 timeout at e2e 60000 (no token)
#   L5 ok,      ttft 300, e2e 900
LOCAL = rows(
    "local",
    "c8",
    [
        ("P1", "ok", 100.0, 800.0, 40, 100),
        ("P2", "ok", 700.0, 1500.0, 40, 100),
        ("P3", "error", NAN, 50.0, None, None),
        ("P4", "timeout", NAN, 60000.0, None, None),
        ("P5", "ok", 300.0, 900.0, 40, 100),
    ],
)
# Hosted, same prompts: e2e 300, 700, 700, a time-out, 500; 50 input and 100 output tokens each.
HOSTED_ROWS = rows(
    "hosted",
    "c8",
    [
        ("P1", "ok", 200.0, 300.0, 50, 100),
        ("P2", "ok", 300.0, 700.0, 50, 100),
        ("P3", "ok", 300.0, 700.0, 50, 100),
        ("P4", "timeout", NAN, 60000.0, None, None),
        ("P5", "ok", 250.0, 500.0, 50, 100),
    ],
)


def simulate(**over: Any):
    base: dict[str, Any] = {
        "timeouts_ms": [500, 1000],
        "local_usd_per_1m_output_tokens": 2.0,
        "hosted_input_usd_per_1m": 1.0,
        "hosted_output_usd_per_1m": 4.0,
    }
    return simulate_fallback(LOCAL, HOSTED_ROWS, FallbackParams(**(base | over)))


def test_hand_case_t500() -> None:
    # T = 500: L1 local 800; L2 ttft 700 > 500: 500 + hosted 700 = 1200; L3 error seen at 50:
    # 50 + 700 = 750; L4 no token by 500: 500 + hosted time-out = inf; L5 local 900.
    # Sorted 750, 800, 900, 1200, inf: p50 = 900; p95 (h = 3.8) lies towards inf: inf.
    # Fallback 3 of 5 = 0.6 (all paired), failures 1 of 5 = 0.2.
    row = simulate().row(500)
    assert row.policy == "fallback after 500 ms"
    assert row.p50_ms.value == 900.0 and math.isinf(row.p95_ms.value)
    assert (row.n, row.n_local, row.n_fallback, row.n_paired, row.n_drawn) == (5, 2, 3, 3, 0)
    assert row.fallback_rate == 0.6 and row.failure_share == 0.2
    assert row.p95_verdict == "INCONCLUSIVE" and not row.passes_gates  # 5 requests bound nothing
    # Cost: local L1 + L5 = 200 tokens x 2 USD/1M; hosted L2 + L3 = 100 in x 1 + 200 out x 4;
    # (400 + 100 + 800) / 1e6 USD over 400 output tokens = 3.25 USD per 1M output tokens.
    assert (row.output_tokens_local, row.output_tokens_hosted) == (200, 200)
    assert row.blended_usd_per_1m_output_tokens == pytest.approx(3.25)


def test_hand_case_t1000() -> None:
    # T = 1000: L2's first token (700) is in time now: local 1500. L3 50 + 700 = 750; L4 waits
    # 1000 then fails: inf. Sorted 750, 800, 900, 1500, inf: p50 = 900; fallback 2 of 5.
    row = simulate().row(1000)
    assert row.p50_ms.value == 900.0
    assert (row.n_local, row.n_fallback, row.fallback_rate) == (3, 2, 0.4)


def test_reference_rows_local_only_and_hosted_only() -> None:
    result = simulate()
    assert result.timeouts() == [0.0, 500.0, 1000.0, math.inf]
    # local only: 800, 1500, inf, inf, 900 -> sorted 800, 900, 1500, inf, inf: p50 = 1500
    local = result.row(math.inf)
    assert local.policy == "local only" and local.p50_ms.value == 1500.0
    assert (local.n_fallback, local.failure_share) == (0, 0.4)
    assert local.blended_usd_per_1m_output_tokens == pytest.approx(2.0)  # all local
    # hosted only: 300, 700, 700, inf, 500 -> sorted 300, 500, 700, 700, inf: p50 = 700
    hosted = result.row(0)
    assert hosted.policy == "hosted only" and hosted.p50_ms.value == 700.0
    assert (hosted.fallback_rate, hosted.failure_share, hosted.n_paired) == (1.0, 0.2, 5)
    # 4 answers x (50 x 1 + 100 x 4) / 1e6 USD over 400 output tokens = 4.5 USD per 1M
    assert hosted.blended_usd_per_1m_output_tokens == pytest.approx(4.5)


def test_a_failure_after_its_first_token_is_seen_only_when_it_ends() -> None:
    # The first token came at 200 (<= T = 500), so the watchdog stays quiet; the error shows at
    # 2,500 ms: 2,500 + hosted 700 = 3,200 ms.
    local = rows("local", "c8", [("P2", "error", 200.0, 2500.0, None, None)])
    result = simulate_fallback(local, HOSTED_ROWS, FallbackParams(timeouts_ms=[500]))
    assert result.row(500).p50_ms.value == 3200.0
    assert result.row(500).n_fallback == 1


def test_unpaired_prompts_are_drawn_from_hosted_successes_with_a_seed() -> None:
    # Hosted answered other prompts only, every success in 700 ms: each draw is 700.
    # Q1 ok ttft 900 > T 500: 500 + 700 = 1200; Q2 ok ttft 100: local 400; Q3 error at 50:
    # 50 + 700 = 750. Sorted 400, 750, 1200: p50 = 750; 2 fallbacks, both drawn.
    local = rows(
        "local",
        "c8",
        [
            ("Q1", "ok", 900.0, 2000.0, 10, 10),
            ("Q2", "ok", 100.0, 400.0, 10, 10),
            ("Q3", "error", NAN, 50.0, None, None),
        ],
    )
    hosted = HOSTED_ROWS[HOSTED_ROWS["prompt_id"].isin(["P2", "P3", "P4"])]
    result = simulate_fallback(local, hosted, FallbackParams(timeouts_ms=[500]))
    row = result.row(500)
    assert row.p50_ms.value == 750.0 and (row.n_paired, row.n_drawn) == (0, 2)
    assert any("3 of 3 prompts are not in the hosted run" in n for n in result.notes)
    # A failed hosted answer is never drawn: drawing is from its 2 successes.
    assert "from its 2 successful answers" in result.notes[0]


def test_draws_repeat_with_the_seed_and_are_shared_by_every_t() -> None:
    rng = np.random.default_rng(7)
    local = rows(
        "local", "c8", [(f"Q{i}", "ok", 900.0, 1000.0, 10, 10) for i in range(40)]
    )  # every request falls back at T = 500 and at T = 800
    hosted = rows(
        "hosted",
        "c8",
        [
            (f"H{i}", "ok", 100.0, float(v), 10, 10)
            for i, v in enumerate(rng.integers(200, 2000, 30))
        ],
    )
    a = simulate_fallback(local, hosted, FallbackParams(timeouts_ms=[500, 800], seed=3))
    b = simulate_fallback(local, hosted, FallbackParams(timeouts_ms=[500, 800], seed=3))
    c = simulate_fallback(local, hosted, FallbackParams(timeouts_ms=[500, 800], seed=4))
    assert fallback_frame(a).equals(fallback_frame(b))
    assert a.row(500).p50_ms.value != c.row(500).p50_ms.value
    # the same draws at every T: the latencies shift by exactly 300 ms
    assert a.row(800).p50_ms.value == pytest.approx(a.row(500).p50_ms.value + 300)


def test_gates_pass_when_the_interval_is_under_the_limits() -> None:
    local = rows("local", "c8", [(f"Q{i}", "ok", 100.0, 500.0, 10, 10) for i in range(100)])
    result = simulate_fallback(local, HOSTED_ROWS, FallbackParams(timeouts_ms=[250]))
    row = result.row(250)
    assert (row.p50_verdict, row.p95_verdict, row.passes_gates) == ("PASS", "PASS", True)
    assert row.fallback_rate == 0.0 and result.row(0).n_drawn == 100  # no Q prompt is hosted


def test_prices_missing_give_no_blended_cost() -> None:
    result = simulate_fallback(LOCAL, HOSTED_ROWS, FallbackParams(timeouts_ms=[500]))
    assert result.row(500).blended_usd_per_1m_output_tokens is None


def test_cannot_simulate_says_why() -> None:
    no_hosted = simulate_fallback(LOCAL, None)
    assert not no_hosted.simulated and no_hosted.rows == ()
    assert no_hosted.reason == "cannot simulate: no hosted run to fall back to"
    skipped = simulate_fallback(load_run(VLLM), load_run(SKIPPED))
    assert "hosted run was skipped (OPENAI_API_KEY is not set" in skipped.reason
    empty = simulate_fallback(LOCAL.iloc[:0], HOSTED_ROWS)
    assert empty.reason == "cannot simulate: the local run has no measured requests"
    no_ttft = simulate_fallback(LOCAL.assign(ttft_ms=NAN), HOSTED_ROWS)
    assert no_ttft.reason == "cannot simulate: no ttft_ms recorded at c8"
    all_failed = HOSTED_ROWS.assign(status="error", prompt_id="other")
    nothing = simulate_fallback(LOCAL, all_failed)
    assert "no successful answer to draw from" in nothing.reason
    assert fallback_frame(nothing).empty


def test_some_ttft_missing_uses_e2e_as_its_bound() -> None:
    local = LOCAL.copy()
    local.loc[0, "ttft_ms"] = NAN  # L1: e2e 800 > T 500, so now it falls back: 500 + 300 = 800
    result = simulate_fallback(local, HOSTED_ROWS, FallbackParams(timeouts_ms=[500]))
    assert result.row(500).n_fallback == 4
    assert "1 successful request(s) had no ttft_ms" in result.notes[0]


def test_levels_named_or_chosen() -> None:
    both = pd.concat([LOCAL, LOCAL.assign(level="c1", concurrency=1)], ignore_index=True)
    assert simulate_fallback(both, HOSTED_ROWS).level == "c8"  # the highest concurrency
    picked = simulate_fallback(both, HOSTED_ROWS, FallbackParams(level=1))
    assert picked.level == "c1" and picked.hosted_level == "all levels"  # hosted has no c1
    with pytest.raises(ConfigError, match=r"level 'c4' is not in local run local \(levels: "):
        simulate_fallback(both, HOSTED_ROWS, FallbackParams(level="c4"))


def test_fixture_runs_smoke() -> None:
    local, hosted = load_run(VLLM), load_run(HOSTED)
    result = simulate_fallback(local, hosted, FallbackParams())
    assert result.simulated and result.level == "c8" and result.hosted_level == "c8"
    frame = fallback_frame(result)
    assert frame["timeout_ms"].iloc[0] == 0 and math.isinf(frame["timeout_ms"].iloc[-1])
    assert frame["fallback_rate"].is_monotonic_decreasing
    # every local c8 prompt has a hosted c8 answer: nothing is drawn
    assert (frame["n_drawn"] == 0).all() and result.notes == ()
    # local only is exactly what the gates measured at the gate level
    gates = {g.name: g for g in evaluate_gates(local, GateParams()).gates}
    only = result.row(math.inf)
    assert only.p50_ms.value == pytest.approx(gates["p50_latency"].measured)
    assert only.p95_ms.value == pytest.approx(gates["p95_latency"].measured)
    assert only.p95_ms.ci_low == pytest.approx(gates["p95_latency"].ci_low)
    # falling back early beats local-only on p50 with this slow CPU server
    assert result.row(500).p50_ms.value < only.p50_ms.value
