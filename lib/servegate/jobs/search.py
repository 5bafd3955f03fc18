"""The capacity search as a run: ``run_search(params)`` is what ``05_search.ipynb`` calls.

A search run is a benchmark run (``servegate.jobs.bench``: the same target, warm-up, run folder,
requests.csv rows and level summaries) whose levels are chosen one after another by the
capacity search (``servegate.analysis.search``), each level stopping as soon as its verdict is
settled (``servegate.analysis.stopping``). Its run.json gets a ``search`` block
(``servegate.records.search``) with the answer, every level's verdict and intervals, and the
capacity at the limits: the goodput at the highest passing concurrency.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from servegate.analysis.gate_rule import Verdict
from servegate.analysis.search import CapacitySearch, SearchParams
from servegate.analysis.stopping import SequentialLevel
from servegate.core.config import validate_params
from servegate.core.names import Status
from servegate.core.nbparams import check_injected_parameters
from servegate.core.progress import Reporter, reporter
from servegate.core.stats import Estimate, throughput_ci
from servegate.jobs.bench import BenchmarkParams, RunResult, run_benchmark
from servegate.jobs.level_plan import LevelRun
from servegate.measure.loadgen import LevelSpec
from servegate.measure.prompts import Prompt
from servegate.records.request import RequestRecord
from servegate.records.search import (
    SearchCapacity,
    SearchLevel,
    SearchLimits,
    SearchRecord,
)

__all__ = ["SearchPlan", "SearchRunParams", "run_search"]

TREATMENT = (
    "an INCONCLUSIVE level (unsettled at max_requests) counts as not passing: capacity is "
    "claimed only where a level passed on its interval"
)


class SearchRunParams(BenchmarkParams):
    """A benchmark params file plus a ``search`` block (``notebooks/05_search.ipynb``).

    The search chooses its own levels, so ``concurrency``, ``baseline_prompts`` and
    ``gate_concurrency`` are not used; ``n_prompts`` (None: all) is the pool of prompts each
    level cycles through.
    """

    n_prompts: int | None = Field(None, description="the pool each level cycles; None: all")
    run_label: str = "search"
    search: SearchParams = Field(default_factory=SearchParams)

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]) -> SearchRunParams:
        """Validate the notebook's parameter variables, refusing a misspelt injected name."""
        check_injected_parameters(namespace, also_known=cls.model_fields)
        picked = {k: namespace[k] for k in cls.model_fields if k in namespace}
        return validate_params(cls, picked, what="search parameters")

    @field_validator("request_rate")
    @classmethod
    def _closed_loop(cls, value: float | None) -> float | None:
        if value is not None:
            raise ValueError(
                "the capacity search runs closed-loop concurrency levels; remove `request_rate`"
            )
        return value


@dataclass
class SearchPlan:
    """The levels of a capacity search, chosen one after another (a ``LevelPlan``)."""

    params: SearchParams
    progress: Reporter
    pool_size: int | None = None
    search: CapacitySearch = field(init=False)
    measured: list[SearchLevel] = field(default_factory=list)
    complete: bool = False

    def __post_init__(self) -> None:
        self.search = CapacitySearch(self.params.min_concurrency, self.params.max_concurrency)

    def describe(self, prompts: Sequence[Prompt]) -> str:
        p = self.params
        return (
            f"capacity search c{p.min_concurrency}..c{p.max_concurrency} for p95 <= "
            f"{fmt_ms(p.p95_ms)} and p50 <= {fmt_ms(p.p50_ms)} ({p.gate_latency_metric}), "
            f"{p.min_requests}-{p.max_requests} requests a level, looks at {list(p.looks)}"
        )

    def levels(self, prompts: Sequence[Prompt]) -> Generator[LevelSpec, LevelRun, None]:
        pool = list(prompts[: self.pool_size] if self.pool_size else prompts)
        # The prompts cycle, so a level can go on for max_requests whatever the set's size.
        cycled = list(itertools.islice(itertools.cycle(pool), self.params.max_requests))
        while (c := self.search.next_level()) is not None:
            rule = SequentialLevel(
                self.params.limits, self.params.looks, self.params.confidence_per_look
            )
            done = yield LevelSpec(prompts=cycled, concurrency=c, stop=rule.observe)
            level = self._judged(c, rule, done)
            self.measured.append(level)
            self.progress.stage(_said(level))
            if level.stopped == "aborted":
                return
            self.search.record(c, Verdict(level.verdict))
        self.complete = True
        self.progress.stage(_answer(self.record()))

    def _judged(self, c: int, rule: SequentialLevel, done: LevelRun) -> SearchLevel:
        judgement = rule.judgement
        aborted = done.result.aborted is not None or judgement is None
        if judgement is None:
            verdict, v50, v95 = (Verdict.INCONCLUSIVE,) * 3
            p50 = p95 = Estimate(None, None, None, 0, self.params.confidence_per_look, "", "ms")
        else:
            verdict, v50, v95 = judgement.verdict, judgement.p50_verdict, judgement.p95_verdict
            p50, p95 = judgement.p50, judgement.p95
        req, tok = _goodput(done.result.records, self.params)
        return SearchLevel(
            concurrency=c,
            level=done.summary.level,
            verdict=verdict.value,
            p50_verdict=v50.value,
            p95_verdict=v95.value,
            stopped="settled" if rule.settled else "aborted" if aborted else "budget",
            n=0 if judgement is None else judgement.n,
            requests_sent=len(done.result.records),
            p50_ms=p50,
            p95_ms=p95,
            goodput_req_per_s=req,
            goodput_tok_per_s=tok,
            wall_s=done.result.duration_s,
        )

    def record(self) -> SearchRecord:
        """run.json's ``search`` block for what was measured so far."""
        p = self.params
        best = self.search.max_passing_concurrency
        at_best = [lv for lv in self.measured if lv.concurrency == best]
        capacity = None
        if at_best:
            lv = at_best[-1]
            capacity = SearchCapacity(
                concurrency=lv.concurrency,
                req_per_s=lv.goodput_req_per_s,
                output_tok_per_s=lv.goodput_tok_per_s,
            )
        return SearchRecord(
            max_passing_concurrency=best,
            min_failing_concurrency=self.search.min_failing_concurrency,
            inconclusive=self.search.inconclusive,
            treatment=TREATMENT,
            levels=self.measured,
            requests_sent=sum(lv.requests_sent for lv in self.measured),
            limits=SearchLimits(
                p95_ms=p.p95_ms,
                p50_ms=p.p50_ms,
                gate_latency_metric=p.gate_latency_metric,
                confidence=p.confidence,
                confidence_per_look=p.confidence_per_look,
                looks=list(p.looks),
                min_requests=p.min_requests,
                max_requests=p.max_requests,
                min_concurrency=p.min_concurrency,
                max_concurrency=p.max_concurrency,
            ),
            capacity=capacity,
            complete=self.complete,
        )

    def run_fields(self) -> Mapping[str, object]:
        return {"search": self.record().model_dump(mode="python")}


def _goodput(records: Sequence[RequestRecord], params: SearchParams) -> tuple[Estimate, Estimate]:
    """Requests/s and output tokens/s of the requests that succeeded within the p95 limit."""
    metric = params.gate_latency_metric
    latency = np.array(
        [(r.ttft_ms if metric == "ttft" else r.e2e_ms) or math.inf for r in records], dtype=float
    )
    ok = np.array([r.status == Status.OK for r in records], dtype=bool)
    good = ok & (latency <= params.p95_ms)
    tokens = np.array([r.output_tokens or 0 for r in records], dtype=float)
    tp = throughput_ci([r.due_s for r in records], [r.end_s for r in records], tokens, good)
    return tp.req_per_s, tp.output_tok_per_s


def fmt_ms(value: float | None) -> str:
    """A latency for a progress line: ``412 ms``, ``1,234 ms``; inf (failures) and None said."""
    if value is None:
        return "?"
    return "inf" if math.isinf(value) else f"{value:,.0f} ms"


def _interval(est: Estimate) -> str:
    return f"{fmt_ms(est.value)} [{fmt_ms(est.ci_low)} - {fmt_ms(est.ci_high)}]"


def _said(level: SearchLevel) -> str:
    """One progress line per level: its verdict, what it rested on, why it stopped."""
    why = {"settled": "settled", "budget": "budget spent", "aborted": "aborted"}[level.stopped]
    return (
        f"search c{level.concurrency}: {level.verdict} ({why}) on the first {level.n} of "
        f"{level.requests_sent} requests; p50 {_interval(level.p50_ms)}, "
        f"p95 {_interval(level.p95_ms)}"
    )


def _answer(record: SearchRecord) -> str:
    """The search's last progress line: the capacity at the limits, or why there is none."""
    if record.capacity is None:
        first = record.levels[0].concurrency if record.levels else record.limits.min_concurrency
        return f"search: no level passed, not even c{first}; {record.requests_sent} requests"
    cap = record.capacity
    ceiling = record.min_failing_concurrency
    above = f"c{ceiling} fails" if ceiling else "no level failed"
    return (
        f"search: capacity c{cap.concurrency} ({above}): {cap.req_per_s.value or 0:.2f} req/s, "
        f"{cap.output_tok_per_s.value or 0:.1f} output tok/s within the limits; "
        f"{record.requests_sent} requests in all"
    )


@dataclass(frozen=True)
class SearchResult:
    """A search run: where it landed, how it ended, and its ``search`` block."""

    run: RunResult
    search: SearchRecord | None


def run_search(
    params: SearchRunParams | Mapping[str, object],
    *,
    progress: Reporter | bool = True,
    tags: Mapping[str, object] | None = None,
) -> SearchResult:
    """Run a capacity search and leave its run folder.

    :param tags: extra run.json fields (a sweep's ``sweep_id`` and ``setting``).
    :raises ConfigError: for bad parameters, before a server starts or a file is written.
    """
    if not isinstance(params, SearchRunParams):
        params = validate_params(SearchRunParams, params, what="search parameters")
    say = progress if not isinstance(progress, bool) else reporter(None if progress else "off")
    plan = SearchPlan(params.search, say, pool_size=params.n_prompts)
    bench = BenchmarkParams.model_validate(params.model_dump(exclude={"search"}))
    result = run_benchmark(bench, progress=say, plan=plan, tags=tags)
    return SearchResult(result, result.record.search)
