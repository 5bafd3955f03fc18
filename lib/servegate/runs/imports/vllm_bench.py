"""``vllm bench serve --save-result --save-detailed`` JSON as an ``ImportedTable``.

What vLLM saves (vllm/benchmarks/serve.py, read for 0.32): one JSON object with the run's setup
(``date`` as local ``%Y%m%d-%H%M%S``, ``backend``, ``model_id``, ``request_rate`` (``"inf"``
for all at once), ``max_concurrency``), its summary (``completed``, ``failed``,
``median_e2el_ms``, ``p<q>_e2el_ms`` for ``--metric-percentiles``, ...) and, with
``--save-detailed``, one list entry per request: ``latencies`` and ``ttfts`` (s),
``start_times`` (s, ``time.perf_counter``), ``queue_times`` (s), ``input_lens``,
``output_lens``, ``errors``. Without ``--save-detailed`` only ``latencies`` is kept, and a
failed request's latency is 0 like nothing else says it failed: refused.

vLLM's definitions, kept and named (servegate's in docs/contracts.md):

- TTFT: from sending the request to the first streamed chunk with ``choices``, a role-only
  chunk included; servegate starts at the request being due and stops at the first *content*
  token, so an imported vLLM TTFT is not comparable unless the user says so.
- end-to-end: from sending the request (after it waited for a ``--max-concurrency`` slot, which
  ``queue_times`` holds) to the last content chunk.
- percentiles: ``numpy.percentile`` (linear) over successful requests only; servegate counts a
  failure as a miss (+inf), so the two agree when every request succeeded.

A request failed when its error text is not empty or it has no latency; the count must match
the file's ``completed``, else the reader refuses the layout rather than guess.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from servegate.records.run import ImportSource
from servegate.runs.imports.files import (
    level_of,
    numbers,
    one_line,
    read_json,
    seconds_to_ms,
    tool_summary,
)
from servegate.runs.imports.folder import Fail, ImportedTable

__all__ = ["TTFT_DEFINITION", "read"]

TOOL = "vllm-bench"
TTFT_DEFINITION = (
    "vllm bench serve: from sending the request to the first streamed chunk, a role-only "
    "chunk included (servegate: from the request's due time to its first content token)"
)
E2E_DEFINITION = (
    "vllm bench serve: from sending the request (after any wait for a --max-concurrency "
    "slot) to the last content chunk; percentiles over successful requests (numpy linear)"
)
_FIX = (
    "save it with `vllm bench serve ... --save-result --save-detailed` and import that JSON "
    "(vLLM 0.32's layout)"
)
_SETUP = ("backend", "model_id", "completed", "duration")
_DETAIL = ("latencies", "ttfts", "errors", "input_lens", "output_lens")


def read(path: Path, fail: Fail) -> ImportedTable:
    """The requests of a ``vllm bench serve`` result file (see the module doc)."""
    data = read_json(path, fail, _FIX)
    if not isinstance(data, dict) or any(k not in data for k in _SETUP):
        raise fail("is not a `vllm bench serve --save-result` JSON", _FIX)
    missing = [k for k in _DETAIL if k not in data]
    if missing:
        raise fail(
            f"has no per-request data ({', '.join(missing)} missing): it was saved without "
            "--save-detailed",
            "run `vllm bench serve` again with --save-result --save-detailed",
        )
    lists = {k: data[k] for k in (*_DETAIL, "start_times", "queue_times") if k in data}
    sizes = {k: len(v) if isinstance(v, list) else -1 for k, v in lists.items()}
    n = sizes["latencies"]
    if n <= 0 or any(size != n for size in sizes.values()):
        raise fail(f"has per-request lists of unknown shape ({sizes})", _FIX)
    errors = [one_line(e or "") for e in data["errors"]]
    e2e = seconds_to_ms(data["latencies"])
    ok = np.array([not err for err in errors]) & (e2e > 0)
    if int(ok.sum()) != data["completed"]:
        raise fail(
            f"{int(ok.sum())} requests look successful but the file says completed="
            f"{data['completed']}: a layout this reader does not know",
            _FIX,
        )
    status = ["ok" if good else _status(err) for good, err in zip(ok, errors, strict=True)]
    errors = [
        "" if good else (err or "failed without an error message")
        for good, err in zip(ok, errors, strict=True)
    ]
    due_s, end_s = _clock(data, e2e)
    # A ramp-up changes the rate as it runs: no one level names it.
    ramp = data.get("ramp_up_strategy") is not None
    level = None if ramp else level_of(data.get("max_concurrency"), data.get("request_rate"))
    return ImportedTable(
        source=ImportSource(
            tool=TOOL,
            # The file has no version unless `--metadata vllm_version=...` put one there.
            tool_version=_text(data.get("vllm_version")),
            ttft_definition=TTFT_DEFINITION,
            e2e_definition=E2E_DEFINITION,
            load=_load(data),
            tool_summary=tool_summary(
                {k: v for k, v in data.items() if k.endswith("_ms") or k in ("completed", "failed")}
            ),
        ),
        status=status,
        error=errors,
        e2e_ms=np.where(ok, e2e, np.nan),
        ttft_ms=np.where(ok, seconds_to_ms(data["ttfts"]), np.nan),
        queue_ms=seconds_to_ms(data["queue_times"]) if "queue_times" in data else None,
        input_tokens=numbers(data["input_lens"]),
        output_tokens=np.where(ok, numbers(data["output_lens"]), np.nan),
        due_s=due_s,
        end_s=end_s,
        level=level[0] if level else "imported",
        concurrency=level[1] if level else None,
        request_rate=level[2] if level else None,
        params={"tool_backend": str(data["backend"])},
        created_at=_date(data.get("date")),
        model=str(data["model_id"]),
    )


def _status(error: str) -> str:
    """servegate's status of a failed request: a time-out when vLLM's error says so."""
    return "timeout" if "timeout" in error.lower() else "error"


def _clock(data: dict[str, Any], e2e_ms: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Each request's send and end, s from the first send (vLLM's ``perf_counter`` clock)."""
    if "start_times" not in data:
        return None, None
    start = numbers(data["start_times"])
    if not np.isfinite(start).all():
        return None, None
    due = np.round(start - start.min(), 6)
    return due, np.round(due + np.nan_to_num(e2e_ms) / 1000.0, 6)


def _load(data: dict[str, Any]) -> str:
    """The load as the file states it."""
    return (
        f"max_concurrency={data.get('max_concurrency')}, request_rate="
        f"{data.get('request_rate')}, burstiness={data.get('burstiness')}, "
        f"num_prompts={data.get('num_prompts')}"
    )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _date(value: Any) -> datetime | None:
    """vLLM's ``date`` (local time, no zone), read as UTC: the file does not say its zone."""
    try:
        return datetime.strptime(str(value), "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
