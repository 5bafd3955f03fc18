"""The history CSV: one row per run and load level, rebuilt from the run folders, atomically.

``rebuild_history`` reads every run folder under ``results_dir`` (``servegate.runs.reader``),
prices each level (``servegate.analysis.cost``) and writes
``eval/reports/aggregate_history.csv`` from scratch.
It is idempotent: the same run folders give a byte-identical file (rows sorted by run_date,
run_id, concurrency, request_rate; fixed columns; fixed decimals), and an unchanged file is not
rewritten at all. The write goes to a temporary file that is renamed over the old one, under an
exclusive ``fcntl.flock`` on ``<history>.lock``, so two rebuilds never interleave and a rebuild
killed mid-write leaves the old whole file.

Runs without levels (a skipped hosted run, a server that never started) get one row with
``n_requests`` 0, their ``state`` and the reason in ``note``, so the report can say so; filter on
``n_requests > 0`` for measurements. Broken run folders get no row: each is logged as a warning
and listed in ``HistoryResult.skipped``.

Cells: ``run_date`` is the run's start, UTC, ``YYYY-MM-DDTHH:MM:SSZ``; the columns and how each
value is written and read back are in ``servegate.history.format``. An empty cell is "no value"
for a point estimate and "unbounded" (too few requests to bound that side) for a
``*_ci_low``/``*_ci_high`` end, as in ``servegate.core.stats.Estimate``.
"""

from __future__ import annotations

import fcntl
import glob
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import pandas as pd

from servegate.analysis.cost import (
    DEFAULT_PRICING_PATH,
    HostedPrice,
    HourlyPrice,
    Pricing,
    hosted_cost_per_1m_output_tokens,
    hosted_price_for_model,
    load_pricing,
    machine_price_for_run,
    self_hosted_cost_per_1m_output_tokens,
)
from servegate.core.errors import PricingError
from servegate.core.fsutil import atomic_path
from servegate.core.paths import resolve_path
from servegate.history.format import HISTORY_COLUMNS, HistoryRow, render_history
from servegate.history.poc import load_poc_summaries, poc_history_rows
from servegate.history.read import DEFAULT_HISTORY_PATH, parse_history, read_history
from servegate.records.level import LevelSummary
from servegate.runs.identity import (
    hardware_summary,
    model_sha256,
    prompt_set_sha256,
    runtime_version,
)
from servegate.runs.reader import RunData, list_runs

__all__ = [
    "DEFAULT_HISTORY_PATH",
    "HISTORY_COLUMNS",
    "HistoryResult",
    "hardware_summary",
    "load_history",
    "read_history",
    "rebuild_history",
    "runtime_version",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class HistoryResult:
    """What a rebuild wrote.

    :param rows: the history as ``read_history`` reads it back (typed columns).
    :param skipped: (folder, reason) for each run folder that could not be read.
    :param path: the history file.
    :param changed: False when the file already held exactly these bytes (not rewritten).
    """

    rows: pd.DataFrame
    skipped: tuple[tuple[Path, str], ...]
    path: Path
    changed: bool


def _estimate(level: LevelSummary, metric: str, q: str) -> tuple[float | None, ...]:
    """(value, ci_low, ci_high) of one latency percentile; Nones where it was not measured."""
    block = level.latency(metric)
    est = block.percentile(q) if block is not None else None
    return (est.value, est.ci_low, est.ci_high) if est is not None else (None, None, None)


def _columns(prefix: str, est: tuple[float | None, ...]) -> dict[str, float | None]:
    """History columns ``<prefix>_ms``, ``<prefix>_ci_low_ms``, ``<prefix>_ci_high_ms``."""
    return dict(
        zip((f"{prefix}_ms", f"{prefix}_ci_low_ms", f"{prefix}_ci_high_ms"), est, strict=True)
    )


def _run_note(run: RunData) -> str:
    rec = run.record
    parts = [text for text in (rec.skipped_reason, rec.error, rec.interrupted_by) if text]
    return "; ".join([*parts, *run.notes])


_Price = HourlyPrice | tuple[str, HostedPrice] | str


def _price(run: RunData, pricing: Pricing | None, hourly_usd: float | None) -> _Price:
    """The run's price (``HourlyPrice`` or (key, ``HostedPrice``)), or the reason there is none."""
    if pricing is None and hourly_usd is None:
        return "no pricing file given"
    try:
        if run.backend == "openai":
            if pricing is None:
                return "no pricing file given"
            return hosted_price_for_model(pricing, run.model)
        return machine_price_for_run(
            pricing,
            params=run.params,
            manifest=run.manifest,
            hourly_usd=hourly_usd,
        )
    except PricingError as exc:
        log.info("run %s has no cost: %s", run.run_id, exc)
        return str(exc)


def _cost(price: _Price, level: LevelSummary, tok_per_s: float | None) -> tuple[float | None, str]:
    if isinstance(price, str):
        return None, price
    if isinstance(price, HourlyPrice):
        return self_hosted_cost_per_1m_output_tokens(price.hourly_usd, tok_per_s), price.describe()
    key, hosted = price
    cost = hosted_cost_per_1m_output_tokens(
        level.input_tokens_total,
        level.output_tokens_total,
        hosted.input_usd_per_1m_tokens,
        hosted.output_usd_per_1m_tokens,
    )
    basis = (
        f"{key} {hosted.input_usd_per_1m_tokens:g}/{hosted.output_usd_per_1m_tokens:g} USD per "
        f"1M input/output tokens (list price as of {hosted.as_of})"
    )
    return cost, basis


def _rows_for_run(
    run: RunData, pricing: Pricing | None, hourly_usd: float | None
) -> list[HistoryRow]:
    hardware, hardware_class = hardware_summary(run.record.manifest.hardware, run.backend)
    common: dict[str, str | bool] = {
        "run_id": run.run_id,
        "run_date": run.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "label": run.label,
        "backend": run.backend,
        "model": run.model,
        "model_sha256": model_sha256(run),
        "runtime_version": runtime_version(run),
        "hardware": hardware,
        "prompt_set_sha256": prompt_set_sha256(run),
        "state": run.state,
        "incomplete": run.incomplete,
        "source": run.record.source or "measured",
        "hardware_class": hardware_class,
        "git_commit": run.record.manifest.git.commit or "",
        "note": _run_note(run),
    }
    if not run.levels:  # skipped, or stopped before its first level: one row that says so
        return [
            HistoryRow.model_validate(
                {**common, "source": "", "n_requests": 0, "n_ok": 0, "n_errors": 0, "n_oom": 0}
            )
        ]
    price = _price(run, pricing, hourly_usd)
    return [_level_row(common, level, price) for level in run.levels]


def _level_row(common: dict[str, str | bool], level: LevelSummary, price: _Price) -> HistoryRow:
    """The history row of one level: the run's columns, then the level's figures and cost."""
    throughput = level.throughput
    tok = throughput.output_tok_per_s if throughput is not None else None
    e2e50, e2e95 = _estimate(level, "e2e", "p50"), _estimate(level, "e2e", "p95")
    ttft50, ttft95 = _estimate(level, "ttft", "p50"), _estimate(level, "ttft", "p95")
    cost, basis = _cost(price, level, tok.value if tok is not None else None)
    note = common["note"]
    if level.recomputed_from:
        extra = "level recomputed from requests.csv: the run stopped before it ended"
        note = f"{note}; {extra}" if note else extra
    return HistoryRow.model_validate(
        {
            **common,
            "level": level.level,
            "concurrency": level.concurrency,
            "request_rate": level.request_rate,
            "n_requests": level.n_requests,
            "n_ok": level.n_ok,
            "n_errors": level.n_errors,
            "n_oom": level.n_oom,
            "n_timeouts": level.counts.get("timeout"),
            "n_cancelled": level.counts.get("cancelled"),
            "duration_s": level.duration_s,
            "req_per_s": throughput.req_per_s.value if throughput is not None else None,
            "output_tok_per_s": tok.value if tok is not None else None,
            "output_tok_per_s_ci_low": tok.ci_low if tok is not None else None,
            "output_tok_per_s_ci_high": tok.ci_high if tok is not None else None,
            **_columns("ttft_p50", ttft50),
            **_columns("ttft_p95", ttft95),
            **_columns("e2e_p50", e2e50),
            **_columns("e2e_p95", e2e95),
            "input_tokens_total": level.input_tokens_total,
            "output_tokens_total": level.output_tokens_total,
            "cost_per_1m_output_tokens_usd": cost,
            "cost_basis": basis,
            "note": note,
        }
    )


@contextmanager
def _exclusive(history_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``<history>.lock`` (left in place: removing it would race)."""
    lock_path = history_path.with_name(f"{history_path.name}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _write(history_path: Path, text: str) -> None:
    """Replace the history atomically (temporary file beside it, then rename)."""
    with atomic_path(history_path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def rebuild_history(
    results_dir: str | Path = "eval/results",
    history_path: str | Path = DEFAULT_HISTORY_PATH,
    pricing: Pricing | str | Path | None = DEFAULT_PRICING_PATH,
    *,
    hourly_usd: float | None = None,
    poc_summaries: str | Path | None = None,
) -> HistoryResult:
    """Rebuild the history CSV from every run folder under ``results_dir`` (see the module doc).

    Relative paths are under the project root (``servegate.core.paths``), never the working
    directory: a notebook in ``notebooks/`` writes the same file as ``make aggregate``.

    :param results_dir: the folder of run folders.
    :param history_path: the CSV to write; its folder is created.
    :param pricing: a ``Pricing``, the path of a pricing file, or None for no costs.
    :param hourly_usd: price every self-hosted run at this many USD per hour instead of the
        pricing file's machines.
    :param poc_summaries: the proof of concept's summaries (``servegate.history.poc``), added as
        ``summary_only`` rows; None, or a path that does not exist, adds none.
    :returns: the rows written, the skipped folders with reasons, the path, and whether the
        file changed.
    :raises ConfigError: when ``results_dir`` does not exist.
    :raises PricingError: when the pricing file is missing or invalid.
    :raises ConfigError: when the POC summaries file is invalid.
    """
    results_dir, history_path = resolve_path(results_dir), resolve_path(history_path)
    poc_rows = poc_history_rows(load_poc_summaries(poc_summaries)) if poc_summaries else []
    if pricing is not None and not isinstance(pricing, Pricing):
        pricing = load_pricing(pricing)
    with _exclusive(history_path):
        runs, broken = list_runs(results_dir)
        rows = [row for run in runs for row in _rows_for_run(run, pricing, hourly_usd)]
        rows.extend(poc_rows)
        text = render_history(rows)
        # A rebuild killed mid-write leaves its temporary file; we hold the lock, so none is live.
        for stale in history_path.parent.glob(f".{glob.escape(history_path.name)}.*.tmp"):
            stale.unlink(missing_ok=True)
        try:
            changed = history_path.read_text(encoding="utf-8") != text
        except (FileNotFoundError, UnicodeDecodeError):
            changed = True
        if changed:
            _write(history_path, text)
    log.info(
        "history %s: %d rows from %d runs, %d folder(s) skipped%s",
        history_path,
        len(rows),
        len(runs),
        len(broken),
        "" if changed else " (unchanged)",
    )
    return HistoryResult(
        parse_history(io.StringIO(text), str(history_path)), tuple(broken), history_path, changed
    )


def load_history(path: str | Path = DEFAULT_HISTORY_PATH) -> pd.DataFrame:
    """The history CSV as a typed frame: ``servegate.history.read.read_history``, under the name
    earlier callers use.

    :raises HistoryError: as ``read_history``.
    """
    return read_history(path)
