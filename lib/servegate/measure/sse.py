"""Turn a timestamped raw SSE byte stream of chat-completion chunks into per-request timings.

The load generator stamps ``time.perf_counter()`` on each network read and keeps the bytes; all
JSON parsing happens here, after the stream has ended, so the hot path that reads streams stays
light (measured: parsing on the hot path made the SDK client 2-3 ms late at concurrency 8).
A line's time is the time of the read that completed it.

TTFT is the first chunk that carries content: a role-only first chunk (``"content": ""``),
which servers may send before any token, does not count.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

__all__ = ["ParsedStream", "parse_sse"]


@dataclass
class ParsedStream:
    """What one streamed answer held, with times in seconds on the reader's clock."""

    content_times: list[float] = field(default_factory=list)
    text: str = ""
    done: bool = False
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    last_time: float | None = None

    @property
    def first_token_time(self) -> float | None:
        return self.content_times[0] if self.content_times else None

    def gaps_ms(self) -> list[float]:
        """Inter-token gaps of this answer, ms: one per content chunk after the first."""
        return [(b - a) * 1000.0 for a, b in pairwise(self.content_times)]


def _lines(reads: Sequence[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    out: list[tuple[float, bytes]] = []
    buf = b""
    for stamp, data in reads:
        buf += data
        *complete, buf = buf.split(b"\n")
        out.extend((stamp, line) for line in complete)
    if buf.strip():
        out.append((reads[-1][0], buf))
    return out


def parse_sse(reads: Sequence[tuple[float, bytes]]) -> ParsedStream:
    """Parse ``[(read_time_s, bytes), ...]`` of an OpenAI chat-completions stream."""
    parsed = ParsedStream()
    text: list[str] = []
    for stamp, raw in _lines(reads):
        line = raw.strip()
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        parsed.last_time = stamp
        if payload == b"[DONE]":
            parsed.done = True
            continue
        try:
            chunk = json.loads(payload)
        except ValueError:
            parsed.error = f"unparseable stream chunk: {payload[:80]!r}"
            continue
        if "error" in chunk:
            err = chunk["error"]
            parsed.error = str(err.get("message", err) if isinstance(err, dict) else err)
            continue
        for choice in chunk.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if content:
                parsed.content_times.append(stamp)
                text.append(content)
            if choice.get("finish_reason"):
                parsed.finish_reason = choice["finish_reason"]
        usage = chunk.get("usage")
        if usage:
            parsed.prompt_tokens = usage.get("prompt_tokens")
            parsed.completion_tokens = usage.get("completion_tokens")
    parsed.text = "".join(text)
    return parsed
