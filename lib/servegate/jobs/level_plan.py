"""Which levels a benchmark run measures: the params' listed levels, or a plan that chooses.

``run_benchmark`` drives a ``LevelPlan``: a generator of ``LevelSpec``s that is sent back what
each level gave (``LevelRun``), so a plan can pick its next level from the last one, as the
capacity search (``servegate.jobs.search``) does.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from servegate.jobs.bench_params import BenchmarkParams
from servegate.measure.loadgen import LevelResult, LevelSpec
from servegate.measure.prompts import Prompt
from servegate.records.level import LevelSummary

__all__ = ["LevelPlan", "LevelRun", "ListedLevels", "listed_levels"]


@dataclass(frozen=True)
class LevelRun:
    """What a level gave: its records (finish order) and its summary as run.json holds it."""

    result: LevelResult
    summary: LevelSummary


class LevelPlan(Protocol):
    """Which levels a run measures. ``levels`` yields each level to run and is sent back what
    it gave, so a plan can choose the next level from the last (the capacity search);
    ``run_fields`` are added to run.json when the run ends, however it ends."""

    def levels(self, prompts: Sequence[Prompt]) -> Generator[LevelSpec, LevelRun, None]: ...

    def describe(self, prompts: Sequence[Prompt]) -> str: ...

    def run_fields(self) -> Mapping[str, object]: ...


@dataclass(frozen=True)
class ListedLevels:
    """The plan of a benchmark: the params' levels, one after another."""

    params: BenchmarkParams

    def levels(self, prompts: Sequence[Prompt]) -> Generator[LevelSpec, LevelRun, None]:
        # A loop, not `yield from` a list: a list's iterator cannot take what run_benchmark sends.
        for spec in listed_levels(self.params, prompts):  # noqa: UP028
            yield spec

    def describe(self, prompts: Sequence[Prompt]) -> str:
        levels = ", ".join(
            f"{spec.label} ({len(spec.prompts)} prompts)"
            for spec in listed_levels(self.params, prompts)
        )
        return f"{self.params.model}, levels {levels}"

    def run_fields(self) -> Mapping[str, object]:
        return {}


def listed_levels(params: BenchmarkParams, prompts: Sequence[Prompt]) -> list[LevelSpec]:
    main = prompts[: params.n_prompts] if params.n_prompts else prompts
    levels = []
    for c in params.concurrency:
        if c == 1:
            base = prompts[: params.baseline_prompts] if params.baseline_prompts else main
            levels.append(LevelSpec(prompts=base, concurrency=1))
        elif params.request_rate is None:
            levels.append(LevelSpec(prompts=main, concurrency=c))
    if params.request_rate is not None:
        levels.append(
            LevelSpec(
                prompts=main, request_rate=params.request_rate, max_inflight=max(params.concurrency)
            )
        )
    return levels
