"""AIPerf's per-record export (``profile_export.jsonl``) as an ``ImportedTable``.

What AIPerf saves (read for 0.13): one JSON object per request, ``{"metadata": {...},
"metrics": {name: {"value", "unit"}}, "error": {"code", "type", "message"} | absent}``;
``metadata`` has ``request_start_ns``/``request_end_ns`` (wall clock, ns), ``benchmark_phase``
(``warmup`` records are left out), ``was_cancelled`` and ``conversation_id``. The file has no
version and no load: both come from the summary AIPerf writes beside it,
``profile_export_aiperf.json`` (``aiperf_version``, ``input_config.phases``, and its own
percentiles of each metric), read when present.

AIPerf's definitions, kept and named (servegate's in docs/contracts.md):

- TTFT (``time_to_first_token``): from the request's start to the first parsed content
  response; servegate starts at the request being due and stops at the first content token,
  so it is not comparable unless the user says so.
- end-to-end (``request_latency``): from the request's start to the last response.
- percentiles: numpy's linear percentile over every record that has a value, failed ones
  included; servegate counts a failure as a miss (+inf), so the two agree when every request
  succeeded.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from servegate.records.run import ImportSource
from servegate.runs.imports.files import level_of, one_line, read_json, read_jsonl, tool_summary
from servegate.runs.imports.folder import Fail, ImportedTable

__all__ = ["SUMMARY_FILE", "TTFT_DEFINITION", "read"]

TOOL = "aiperf"
#: The summary AIPerf writes beside the per-record export.
SUMMARY_FILE = "profile_export_aiperf.json"
TTFT_DEFINITION = (
    "aiperf time_to_first_token: from the request's start to the first parsed content "
    "response (servegate: from the request's due time to its first content token)"
)
E2E_DEFINITION = (
    "aiperf request_latency: from the request's start to the last response; percentiles over "
    "every record with a value, failed ones included (numpy linear)"
)
_FIX = "import AIPerf's per-record export, profile_export.jsonl from its artifact folder"
_MS = {"ms": 1.0, "ns": 1e-6, "us": 1e-3, "s": 1000.0, "sec": 1000.0}


def read(path: Path, fail: Fail) -> ImportedTable:
    """The requests of an AIPerf ``profile_export.jsonl`` (see the module doc)."""
    lines = read_jsonl(path, fail, _FIX)
    if not all(isinstance(r, dict) and {"metadata", "metrics"} <= r.keys() for r in lines):
        raise fail("is not AIPerf's per-record export (no metadata/metrics per line)", _FIX)
    records = [r for r in lines if r["metadata"].get("benchmark_phase", "profiling") == "profiling"]
    if not records:
        raise fail("has no profiling records (only warm-up ones)", _FIX)

    def metric(name: str) -> np.ndarray:
        return np.array([_ms(r["metrics"].get(name), name, fail) for r in records], dtype=float)

    status = [_status(r) for r in records]
    ok = np.array([s == "ok" for s in status])
    e2e = metric("request_latency")
    if np.isnan(e2e[ok]).any():
        raise fail(
            "a successful record has no request_latency: a layout this reader does not know", _FIX
        )
    summary = _summary(path.parent / SUMMARY_FILE, fail)
    level = _level(summary)
    due_s, end_s = _clock(records)
    return ImportedTable(
        source=ImportSource(
            tool=TOOL,
            tool_version=_text(summary.get("aiperf_version")),
            ttft_definition=TTFT_DEFINITION,
            e2e_definition=E2E_DEFINITION,
            load=_load(summary),
            tool_summary=_own_percentiles(summary),
        ),
        status=status,
        error=["" if s == "ok" else _error(r) for s, r in zip(status, records, strict=True)],
        e2e_ms=np.where(ok, e2e, np.nan),
        ttft_ms=np.where(ok, metric("time_to_first_token"), np.nan),
        input_tokens=_tokens(records, "input_sequence_length"),
        output_tokens=np.where(ok, _tokens(records, "output_sequence_length"), np.nan),
        due_s=due_s,
        end_s=end_s,
        prompt_id=[
            str(r["metadata"].get("conversation_id") or i + 1) for i, r in enumerate(records)
        ],
        level=level[0] if level else "imported",
        concurrency=level[1] if level else None,
        request_rate=level[2] if level else None,
        created_at=_started(summary),
        model=_model(summary),
    )


def _ms(value: Any, name: str, fail: Fail) -> float:
    """One metric's value in ms; NaN when the record has none."""
    if not isinstance(value, dict) or not isinstance(value.get("value"), int | float):
        return np.nan
    unit = str(value.get("unit", "ms"))
    if unit not in _MS:
        raise fail(f"metric {name} is in unit {unit!r}, which this reader does not know", _FIX)
    return round(float(value["value"]) * _MS[unit], 6)


def _tokens(records: list[dict[str, Any]], name: str) -> np.ndarray:
    values = [r["metrics"].get(name) for r in records]
    return np.array(
        [
            v["value"] if isinstance(v, dict) and isinstance(v.get("value"), int) else np.nan
            for v in values
        ],
        dtype=float,
    )


def _ns(records: list[dict[str, Any]], key: str) -> np.ndarray | None:
    values = [r["metadata"].get(key) for r in records]
    if not all(isinstance(v, int) for v in values):
        return None
    return np.array(values, dtype=float)


def _clock(records: list[dict[str, Any]]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Each request's start and end, s from the first start (AIPerf's wall clock, ns)."""
    start = _ns(records, "request_start_ns")
    end = _ns(records, "request_end_ns")
    if start is None or end is None:
        return None, None
    t0 = float(start.min())
    return np.round((start - t0) / 1e9, 6), np.round((end - t0) / 1e9, 6)


def _status(record: dict[str, Any]) -> str:
    """servegate's status: cancelled, a time-out, another error, or ok."""
    if record["metadata"].get("was_cancelled"):
        return "cancelled"
    error = record.get("error")
    if not error:
        return "ok"
    kind = f"{error.get('type', '')} {error.get('message', '')}" if isinstance(error, dict) else ""
    return "timeout" if "timeout" in kind.lower() else "error"


def _error(record: dict[str, Any]) -> str:
    error = record.get("error")
    if isinstance(error, dict):
        parts = [str(error.get(k)) for k in ("code", "type", "message") if error.get(k) is not None]
        return one_line(": ".join(parts)) or "failed without an error message"
    return "cancelled" if record["metadata"].get("was_cancelled") else "failed"


def _summary(path: Path, fail: Fail) -> dict[str, Any]:  # JSON boundary: AIPerf's summary
    """The summary beside the export; {} when it is not there (version and load unknown)."""
    if not path.is_file():
        return {}
    data = read_json(path, fail, f"keep AIPerf's {SUMMARY_FILE} as it wrote it, or remove it")
    return data if isinstance(data, dict) else {}


def _profiling_phase(summary: dict[str, Any]) -> dict[str, Any] | None:
    phases = (summary.get("input_config") or {}).get("phases") or []
    found = [p for p in phases if isinstance(p, dict) and p.get("kind") == "profiling"]
    return found[0] if len(found) == 1 else None


def _level(summary: dict[str, Any]) -> tuple[str, int | None, float | None] | None:
    phase = _profiling_phase(summary)
    if phase is None:
        return None
    return level_of(phase.get("concurrency"), phase.get("request_rate"))


def _own_percentiles(summary: dict[str, Any]) -> dict[str, float]:
    """AIPerf's own p50/p95/avg of latency and TTFT, named ``<metric>_<stat>_ms``."""
    out: dict[str, Any] = {}
    for name in ("request_latency", "time_to_first_token"):
        block = summary.get(name)
        if isinstance(block, dict) and block.get("unit") == "ms":
            out |= {f"{name}_{s}_ms": block.get(s) for s in ("avg", "p50", "p95", "p99")}
    for key in ("request_count", "completed_request_count"):
        block = summary.get(key)
        if isinstance(block, dict):
            out[key] = block.get("avg")
    return tool_summary(out)


def _model(summary: dict[str, Any]) -> str:
    items = ((summary.get("input_config") or {}).get("models") or {}).get("items") or []
    names = [str(m.get("name")) for m in items if isinstance(m, dict) and m.get("name")]
    return ",".join(names)


def _started(summary: dict[str, Any]) -> datetime | None:
    """The summary's ``start_time`` (no zone), read as UTC: the file does not say its zone."""
    try:
        stamp = datetime.fromisoformat(str(summary.get("start_time")))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _load(summary: dict[str, Any]) -> str | None:
    """The profiling phase as the summary states it (JSON), or None without a summary."""
    phase = _profiling_phase(summary)
    return json.dumps(phase, sort_keys=True) if phase is not None else None
