"""GuideLLM's ``benchmarks.json`` (``guidellm run --output kind=json``) as an ``ImportedTable``.

What GuideLLM saves (read for 0.8, report ``metadata.version`` 2): ``metadata.guidellm_version``
and ``benchmarks``, each with ``config.strategy`` (its load), ``start_time`` (Unix s),
``metrics`` (its own summaries: ``request_latency`` in s, ``time_to_first_token_ms``, each per
status with ``median`` and ``percentiles``) and ``requests`` split into ``successful``,
``errored`` and ``incomplete`` lists of per-request records (``request_start_time``,
``request_end_time`` and ``request_latency`` in s, ``time_to_first_token_ms``,
``prompt_tokens``, ``output_tokens``, ``info.error``). One benchmark becomes one run; a file
of several (a sweep) is refused, as one run has one level here.

GuideLLM's definitions, kept and named (servegate's in docs/contracts.md):

- TTFT: from the request's start to its first streamed iteration with a token
  (``first_token_iteration``); not comparable with servegate's unless the user says so.
- end-to-end: ``request_end - request_start``.
- percentiles: the smallest value whose empirical CDF (a float cumulative sum of 1/n) reaches
  q (``Percentiles.from_pdf``), over successful requests; servegate interpolates linearly and
  counts failures as misses, so the two differ by at most one gap between neighbouring values
  when every request succeeded.
- ``incomplete`` requests (cut off when the benchmark stopped) become ``cancelled``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from servegate.records.run import ImportSource
from servegate.runs.imports.files import (
    level_of,
    numbers,
    one_line,
    read_json,
    tool_summary,
    utc_from_unix,
)
from servegate.runs.imports.folder import Fail, ImportedTable

__all__ = ["TTFT_DEFINITION", "read"]

TOOL = "guidellm"
TTFT_DEFINITION = (
    "guidellm time_to_first_token_ms: from the request's start to the first streamed "
    "iteration with a token (servegate: from the request's due time to its first content token)"
)
E2E_DEFINITION = (
    "guidellm request_latency: request_end - request_start; percentiles: smallest value whose "
    "empirical CDF reaches q, over successful requests"
)
_FIX = "import the JSON of `guidellm run --output kind=json,path=benchmarks.json` (GuideLLM 0.8)"
_KNOWN_REPORT_VERSIONS = (2,)
_STATUS = {"successful": "ok", "errored": "error", "incomplete": "cancelled"}


def read(path: Path, fail: Fail) -> ImportedTable:
    """The requests of a GuideLLM ``benchmarks.json`` (see the module doc)."""
    data = read_json(path, fail, _FIX)
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise fail("is not a GuideLLM benchmarks JSON (no 'benchmarks' list)", _FIX)
    meta = data.get("metadata") or {}
    if meta.get("version") not in _KNOWN_REPORT_VERSIONS:
        raise fail(
            f"is GuideLLM report version {meta.get('version')!r} (GuideLLM "
            f"{meta.get('guidellm_version', '?')}); this reader knows version "
            f"{', '.join(map(str, _KNOWN_REPORT_VERSIONS))}",
            _FIX,
        )
    benchmarks = data["benchmarks"]
    if len(benchmarks) != 1:
        raise fail(
            f"holds {len(benchmarks)} benchmarks; an import is one load level",
            "run GuideLLM with one profile rate (or streams) per file and import each file",
        )
    bench = benchmarks[0]
    groups = bench.get("requests")
    if not isinstance(groups, dict) or not any(isinstance(groups.get(k), list) for k in _STATUS):
        raise fail("has no per-request records (benchmarks[0].requests)", _FIX)
    records = [(status, r) for key, status in _STATUS.items() for r in groups.get(key) or []]
    if not records:
        raise fail("has no requests", "import a benchmark that sent at least one request")
    records.sort(key=lambda sr: _start(sr[1]))
    rows = [r for _, r in records]
    status = [s for s, _ in records]
    ok = np.array([s == "ok" for s in status])
    e2e_s = numbers([r.get("request_latency") for r in rows])
    if np.isnan(e2e_s[ok]).any():
        raise fail(
            "a successful request has no request_latency: a layout this reader does not know", _FIX
        )
    start = numbers([r.get("request_start_time") for r in rows])
    end = numbers([r.get("request_end_time") for r in rows])
    clocked = bool(np.isfinite(start).all() and np.isfinite(end).all())
    t0 = float(np.nanmin(start)) if clocked else 0.0
    strategy = (bench.get("config") or {}).get("strategy") or {}
    level = _level(strategy)
    return ImportedTable(
        source=ImportSource(
            tool=TOOL,
            tool_version=_text(meta.get("guidellm_version")),
            ttft_definition=TTFT_DEFINITION,
            e2e_definition=E2E_DEFINITION,
            load=json.dumps(strategy, sort_keys=True) if strategy else None,
            tool_summary=_own_summary(bench.get("metrics") or {}),
        ),
        status=[_failed_status(s, r) for s, r in records],
        error=["" if s == "ok" else _error(s, r) for s, r in records],
        e2e_ms=np.where(ok, np.round(e2e_s * 1000.0, 6), np.nan),
        ttft_ms=np.where(ok, numbers([r.get("time_to_first_token_ms") for r in rows]), np.nan),
        input_tokens=numbers([r.get("prompt_tokens") for r in rows]),
        output_tokens=np.where(ok, numbers([r.get("output_tokens") for r in rows]), np.nan),
        due_s=np.round(start - t0, 6) if clocked else None,
        end_s=np.round(end - t0, 6) if clocked else None,
        prompt_id=[str(r.get("request_id") or i + 1) for i, r in enumerate(rows)],
        level=level[0] if level else "imported",
        concurrency=level[1] if level else None,
        request_rate=level[2] if level else None,
        created_at=utc_from_unix(bench.get("start_time")),
        model=_model(data),
    )


def _start(record: dict[str, Any]) -> float:
    value = record.get("request_start_time")
    return float(value) if isinstance(value, int | float) else float("inf")


def _failed_status(status: str, record: dict[str, Any]) -> str:
    """An errored request whose error says time-out is servegate's ``timeout``."""
    if status == "error" and "timeout" in _error(status, record).lower():
        return "timeout"
    return status


def _error(status: str, record: dict[str, Any]) -> str:
    info = record.get("info") or {}
    text = info.get("error") if isinstance(info, dict) else None
    if text:
        return one_line(text)
    return "incomplete when the benchmark stopped" if status == "cancelled" else "failed"


def _level(strategy: dict[str, Any]) -> tuple[str, int | None, float | None] | None:
    """servegate's level from GuideLLM's strategy: concurrent streams, synchronous (one at a
    time), or a constant/poisson rate; throughput (all at once) and others stay unnamed."""
    kind = strategy.get("type_")
    if kind == "concurrent":
        return level_of(strategy.get("streams"), None)
    if kind == "synchronous":
        return level_of(1, None)
    if kind in ("constant", "poisson"):
        return level_of(None, strategy.get("rate"))
    return None


def _own_summary(metrics: dict[str, Any]) -> dict[str, float]:
    """GuideLLM's own median/p50/p95 of successful requests, in ms, named ``<metric>_<stat>_ms``."""
    out: dict[str, Any] = {}
    for name, scale in (("request_latency", 1000.0), ("time_to_first_token_ms", 1.0)):
        ok = (metrics.get(name) or {}).get("successful") or {}
        pct = ok.get("percentiles") or {}
        base = name.removesuffix("_ms")
        for stat, value in (
            ("median", ok.get("median")),
            ("p50", pct.get("p50")),
            ("p95", pct.get("p95")),
        ):
            if isinstance(value, int | float):
                out[f"{base}_{stat}_ms"] = value * scale
    totals = metrics.get("request_totals") or {}
    out |= {
        f"requests_{k}": v
        for k, v in totals.items()
        if k in ("successful", "errored", "incomplete")
    }
    return tool_summary(out)


def _model(data: dict[str, Any]) -> str:
    backend = ((data.get("config") or {}).get("spec") or {}).get("backend") or {}
    return str(backend.get("model") or "")


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
