"""The quality pass of a benchmark run: the checkable items sent once each, answers scored.

After the latency levels, ``servegate.jobs.bench`` sends every item of the checks file
(``quality_prompts``, ``data/quality/checks_v1.jsonl`` by default) through the same load
generator, at a small concurrency, temperature 0 and an answer cap of ``quality_max_tokens``.
Each answer is scored by ``servegate.quality.score`` against its item's check; the rows go to
``quality.csv`` and the accuracy to run.json's ``quality``. The pass is not a latency level:
its requests are not in requests.csv and never enter a latency gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import pandas as pd

from servegate.analysis.quality import accuracy, accuracy_by_category
from servegate.core.names import Status
from servegate.core.paths import resolve_path
from servegate.core.progress import Reporter, plural
from servegate.jobs.bench_params import BenchmarkParams
from servegate.jobs.level_watch import watched
from servegate.measure.eventloop import run_async
from servegate.measure.loadgen import ChatTarget, LevelSpec, LoadGenerator
from servegate.measure.tokens import TokenCounter
from servegate.quality.checks import QualitySet, load_checks
from servegate.quality.score import score
from servegate.records.quality import QualityRecord
from servegate.records.request import RequestRecord
from servegate.runs.quality_csv import write_quality
from servegate.runs.writer import RunWriter
from servegate.server.lifecycle import VLLMServer

__all__ = [
    "QUALITY_LEVEL",
    "load_quality_set",
    "quality_pass",
    "quality_record",
    "quality_spec",
    "say_summary",
    "score_records",
]

#: The label of the quality pass's requests (never a latency level's ``c<N>``).
QUALITY_LEVEL = "quality"


def load_quality_set(params: BenchmarkParams) -> QualitySet | None:
    """The checks file of ``params`` validated (before any request is sent), or None when
    ``quality_prompts`` is null.

    :raises QualityFileError: for a missing file or any bad line (all named at once).
    """
    return load_checks(params.quality_prompts) if params.quality_prompts else None


def quality_spec(params: BenchmarkParams, checks: QualitySet) -> LevelSpec:
    """The pass as one closed-loop level: every item once, in file order."""
    prompts = checks.prompts(params.quality_max_tokens)
    return LevelSpec(prompts, concurrency=params.quality_concurrency, name=QUALITY_LEVEL)


def score_records(checks: QualitySet, records: Sequence[RequestRecord]) -> list[dict[str, object]]:
    """One quality.csv row per item, in file order: a failed or missing request is not passed,
    with the failure as its reason; an answer is scored against its item's check."""
    by_id = {r.prompt_id: r for r in records}
    rows: list[dict[str, object]] = []
    for item in checks.items:
        record = by_id.get(item.id)
        if record is None:
            status, passed, reason, answer = "cancelled", False, "not sent: the pass ended", ""
        elif record.status != Status.OK:
            status, passed, answer = str(record.status), False, record.text
            reason = f"request failed ({record.status}): {record.error or 'no answer'}"
        else:
            verdict = score(record.text, item.check)
            status, passed, reason, answer = "ok", verdict.passed, verdict.reason, record.text
        rows.append(
            {
                "id": item.id,
                "category": item.category,
                "status": status,
                "passed": passed,
                "reason": reason,
                "answer": answer,
            }
        )
    return rows


def quality_record(
    rows: list[dict[str, object]],
    checks: QualitySet,
    params: BenchmarkParams,
    *,
    wall_s: float | None,
    complete: bool,
) -> QualityRecord:
    """run.json's ``quality`` from the scored rows."""
    frame = pd.DataFrame(rows, columns=["id", "category", "status", "passed", "reason", "answer"])
    whole = accuracy(frame)
    return QualityRecord(
        **whole.model_dump(),
        by_category=accuracy_by_category(frame),
        path=str(params.quality_prompts),
        sha256=checks.sha256,
        max_tokens=params.quality_max_tokens,
        concurrency=params.quality_concurrency,
        temperature=0.0,
        wall_s=wall_s,
        complete=complete,
    )


def say_summary(progress: Reporter, record: QualityRecord) -> None:
    """One line: passed of sent, the accuracy and its interval, failed requests."""
    interval = (
        f" (95% CI {record.ci_low:.0%}-{record.ci_high:.0%})"
        if record.ci_low is not None and record.ci_high is not None
        else ""
    )
    failed = f", {record.n_failed_requests} failed requests" if record.n_failed_requests else ""
    acc = f"{record.accuracy:.0%}" if record.accuracy is not None else "n/a"
    progress.stage(
        f"quality: {record.n_passed} of {record.n} answers passed their checks, accuracy "
        f"{acc}{interval}{failed}"
    )


def quality_pass(
    params: BenchmarkParams,
    writer: RunWriter,
    server: VLLMServer | None,
    target: ChatTarget,
    checks: QualitySet | None,
    progress: Reporter,
) -> None:
    """Send every checkable item once, score the answers, write quality.csv and run.json's
    ``quality``; skipped, and said, without a checks file. A server that dies mid-pass ends
    it early (``complete: false``); the caller then finds the crash."""
    if checks is None:
        progress.stage(
            "quality pass skipped: quality_prompts is null (the report cannot judge the answers)"
        )
        return
    progress.stage(
        f"quality pass: {plural(len(checks), 'checkable item')} from {params.quality_prompts}, "
        f"{params.quality_concurrency} at a time, answers up to {params.quality_max_tokens} tokens"
    )
    model_dir = resolve_path(params.model_path)
    gen = LoadGenerator(
        target,
        run_id=writer.run_id,
        timeout_s=params.timeout_s,
        temperature=0.0,  # the same answer every time: a re-run judges the same text
        seed=params.seed,
        progress=progress,
        token_counter=TokenCounter(model_dir) if model_dir.is_dir() else None,
    )
    result = run_async(partial(watched, gen, quality_spec(params, checks), server))
    rows = score_records(checks, result.records)
    write_quality(writer.dir, rows)
    complete = result.aborted is None
    record = quality_record(rows, checks, params, wall_s=result.duration_s, complete=complete)
    writer.update(quality=record.model_dump(mode="json"))
    say_summary(progress, record)
