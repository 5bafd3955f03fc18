"""Goodput per load level, and whether the level meets the latency gates, by hand."""

from __future__ import annotations

import math

import pytest

from servegate.analysis.goodput import levels_goodput
from tests.helpers import TWO_LEVELS, level_rows


def test_goodput_and_gates_per_level_by_hand() -> None:
    c4, c16 = levels_goodput(TWO_LEVELS, p50_ms=1000, p95_ms=3000)
    assert (c4.level, c16.level) == ("c4", "c16")  # ordered by concurrency, not by name
    assert c4.req_per_s == pytest.approx(10.0) and c4.goodput_rps == pytest.approx(10.0)
    assert (c4.p50_verdict, c4.p95_verdict, c4.meets_gates) == ("PASS", "PASS", True)
    assert c16.req_per_s == pytest.approx(20.0)
    assert c16.goodput_rps == pytest.approx(18.0)
    assert c16.goodput_share.value == pytest.approx(0.9)
    assert c16.p50_ms.value == 2000.0 and c16.p95_ms.value == 5000.0
    assert c16.p50_verdict == "FAIL" and not c16.meets_gates


def test_failures_are_misses_in_goodput() -> None:
    # 8 requests over 4 s, 2 failed (fast errors of 10 ms are not fast answers): 6 / 4 s = 1.5.
    rows = level_rows("c2", [10.0] * 8, spacing_s=0.5, status=["ok"] * 6 + ["error"] * 2)
    (lv,) = levels_goodput(rows, p50_ms=1000, p95_ms=3000)
    assert lv.goodput_rps == pytest.approx(1.5)
    assert lv.n_ok == 6 and math.isinf(lv.p95_ms.value)
