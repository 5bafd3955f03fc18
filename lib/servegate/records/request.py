"""One measured request, as the load generator makes it and requests.csv stores it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from servegate.core.names import Status

__all__ = ["RequestRecord"]


@dataclass(slots=True)
class RequestRecord:
    """One measured request: a row of requests.csv (``servegate.core.names.REQUEST_COLUMNS``)."""

    run_id: str
    backend: str
    model: str
    concurrency: int | None
    request_rate: float | None
    prompt_id: str
    status: Status
    http_status: int | None
    error: str
    queue_ms: float
    ttft_ms: float | None
    e2e_ms: float
    itl_mean_ms: float | None
    tpot_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    tokens_source: str
    level: str
    seq: int
    category: str
    due_s: float  # seconds since the level started
    end_s: float
    itl_max_ms: float | None
    n_content_chunks: int
    finish_reason: str | None
    gaps_ms: list[float] = field(default_factory=list, repr=False)
    text: str = field(default="", repr=False)  # the answer; the quality pass scores it

    def row(self) -> dict[str, Any]:  # CSV boundary: requests.csv's cells by column
        """The record as one requests.csv row (the per-token gaps and the text are not saved)."""
        data = asdict(self)
        data.pop("gaps_ms")
        data.pop("text")
        return data
