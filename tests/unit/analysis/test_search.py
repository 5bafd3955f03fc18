"""The capacity search's strategy (doubling, then bisection) and its parameters."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from servegate.analysis.gate_rule import Verdict
from servegate.analysis.search import CapacitySearch, SearchParams


def _run(search: CapacitySearch, verdict_at: dict[int, Verdict] | int) -> list[int]:
    """Drive the search against a server whose levels up to K pass (or given verdicts)."""
    visited = []
    while (c := search.next_level()) is not None:
        visited.append(c)
        if isinstance(verdict_at, int):
            verdict = Verdict.PASS if c <= verdict_at else Verdict.FAIL
        else:
            verdict = verdict_at.get(c, Verdict.FAIL)
        search.record(c, verdict)
        assert len(visited) < 40, "the search must end"
    return visited


@pytest.mark.parametrize("knee", [1, 2, 3, 12, 40, 100, 255])
def test_the_search_finds_the_knee_exactly(knee: int) -> None:
    search = CapacitySearch(1, 256)
    visited = _run(search, knee)
    assert search.max_passing_concurrency == knee
    assert search.min_failing_concurrency == knee + 1
    assert len(set(visited)) == len(visited)  # no level measured twice


def test_the_search_doubles_then_bisects() -> None:
    search = CapacitySearch(1, 256)
    assert _run(search, 40) == [1, 2, 4, 8, 16, 32, 64, 48, 40, 44, 42, 41]


def test_a_server_that_passes_everything_stops_at_the_maximum() -> None:
    search = CapacitySearch(3, 20)
    assert _run(search, 1000) == [3, 6, 12, 20]
    assert search.max_passing_concurrency == 20
    assert search.min_failing_concurrency is None


def test_a_first_level_that_fails_ends_the_search() -> None:
    search = CapacitySearch(4, 64)
    assert _run(search, 2) == [4]
    assert search.max_passing_concurrency is None
    assert search.min_failing_concurrency == 4


def test_an_inconclusive_level_counts_as_not_passing() -> None:
    verdicts = {1: Verdict.PASS, 2: Verdict.PASS, 4: Verdict.INCONCLUSIVE, 3: Verdict.PASS}
    search = CapacitySearch(1, 64)
    assert _run(search, verdicts) == [1, 2, 4, 3]
    assert search.max_passing_concurrency == 3
    assert search.min_failing_concurrency is None  # nothing FAILed on its interval
    assert search.inconclusive == [4]


@pytest.mark.parametrize(
    ("block", "words"),
    [
        ({"min_concurrency": 64, "max_concurrency": 8}, "min_concurrency (64) is above"),
        ({"p95_ms": "fast"}, "p95_ms"),
        ({"p50_ms": float("nan")}, "p50_ms"),
        ({"max_requests": 50}, "max_requests 50 is too few"),
        ({"min_requests": 400, "max_requests": 300}, "min_requests (400) is above"),
        ({"confidance": 0.9}, "confidance"),
        ({"min_concurrency": 0}, "min_concurrency"),
    ],
)
def test_bad_search_blocks_are_refused_with_the_field_named(
    block: dict[str, object], words: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(words)):
        SearchParams.model_validate(block)


def test_the_smallest_budget_that_can_pass_is_accepted() -> None:
    with pytest.raises(ValidationError, match=r"set max_requests to (\d+) or more") as err:
        SearchParams(max_requests=60)
    needed = int(str(err.value).split("set max_requests to ")[1].split()[0])
    assert SearchParams(max_requests=needed).max_requests == needed
