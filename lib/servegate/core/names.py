"""Names that other code and checks rely on: file names, CSV columns, statuses, schema versions.

They live here once; ``docs/contracts.md`` says what each one means.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal, get_args

__all__ = [
    "DECISION_SCHEMA_VERSION",
    "FAILURE_STATUSES",
    "HISTORY_SCHEMA_VERSION",
    "IMPORTED_SOURCE",
    "QUALITY_COLUMNS",
    "QUALITY_CSV",
    "REQUESTS_CSV",
    "REQUEST_COLUMNS",
    "REQUEST_DTYPES",
    "RUN_JSON",
    "RUN_SCHEMA_VERSION",
    "RUN_STATES",
    "SERVER_LOG",
    "STATUSES",
    "RunState",
    "Status",
]

RUN_SCHEMA_VERSION: Final = 1
#: The decision JSON's ``schema_version`` (``servegate.report.decision.DecisionReport``).
DECISION_SCHEMA_VERSION: Final = 2
#: The history CSV's ``schema_version`` column (``servegate.history.format``); version 1 was the
#: same file without that column.
HISTORY_SCHEMA_VERSION: Final = 2
REQUESTS_CSV: Final = "requests.csv"
RUN_JSON: Final = "run.json"
SERVER_LOG: Final = "server.log"
QUALITY_CSV: Final = "quality.csv"
#: quality.csv, in order (docs/contracts.md): one row per item of the quality pass, the
#: answer's whole text included.
QUALITY_COLUMNS: Final[tuple[str, ...]] = ("id", "category", "status", "passed", "reason", "answer")
#: run.json's ``source`` for a run made from another tool's CSV (``servegate.runs.importer``), not
#: measured by servegate: its requests.csv has end-to-end times and statuses, nothing else.
IMPORTED_SOURCE: Final = "imported"


class Status(StrEnum):
    """How one request ended: requests.csv's ``status``.

    A ``StrEnum``: each member is its text, so CSV, JSON and ``== "ok"`` see plain strings.
    """

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    OOM = "oom"
    CANCELLED = "cancelled"


#: The statuses as plain strings, in this order (requests.csv checks, run.json's counts).
STATUSES: Final[tuple[str, ...]] = tuple(s.value for s in Status)
FAILURE_STATUSES: Final[tuple[str, ...]] = tuple(s.value for s in Status if s is not Status.OK)

#: What a run folder's run.json says about how the run ended (``running`` until it has).
RunState = Literal["running", "complete", "interrupted", "server_crashed", "failed", "skipped"]
RUN_STATES: Final[tuple[str, ...]] = get_args(RunState)

#: requests.csv, in order. The first 17 are the original contract (docs/contracts.md); then extras.
#: Times are ms from the moment the request was due (its scheduled time in open loop, its
#: slot's release in closed loop); ``queue_ms`` is how much of that was client-side waiting.
REQUEST_COLUMNS: Final[tuple[str, ...]] = (
    "run_id",
    "backend",
    "model",
    "concurrency",
    "request_rate",
    "prompt_id",
    "status",
    "http_status",
    "error",
    "queue_ms",
    "ttft_ms",
    "e2e_ms",
    "itl_mean_ms",
    "tpot_ms",
    "input_tokens",
    "output_tokens",
    "tokens_source",
    # extras
    "level",
    "seq",
    "category",
    "due_s",
    "end_s",
    "itl_max_ms",
    "n_content_chunks",
    "finish_reason",
)

_TEXT, _COUNT, _FIGURE = "string", "Int64", "float64"
#: The pandas dtype of each requests.csv column (``servegate.read_run``'s frame): text
#: ``string``, whole numbers nullable ``Int64``, times and rates ``float64`` (NaN: no value).
REQUEST_DTYPES: Final[dict[str, str]] = {
    "run_id": _TEXT,
    "backend": _TEXT,
    "model": _TEXT,
    "concurrency": _COUNT,
    "request_rate": _FIGURE,
    "prompt_id": _TEXT,
    "status": _TEXT,
    "http_status": _COUNT,
    "error": _TEXT,
    "queue_ms": _FIGURE,
    "ttft_ms": _FIGURE,
    "e2e_ms": _FIGURE,
    "itl_mean_ms": _FIGURE,
    "tpot_ms": _FIGURE,
    "input_tokens": _COUNT,
    "output_tokens": _COUNT,
    "tokens_source": _TEXT,
    "level": _TEXT,
    "seq": _COUNT,
    "category": _TEXT,
    "due_s": _FIGURE,
    "end_s": _FIGURE,
    "itl_max_ms": _FIGURE,
    "n_content_chunks": _COUNT,
    "finish_reason": _TEXT,
}
if tuple(REQUEST_DTYPES) != REQUEST_COLUMNS:  # pragma: no cover - a developer's slip
    raise AssertionError("REQUEST_DTYPES must name REQUEST_COLUMNS, in order")
