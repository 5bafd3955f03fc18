"""One request as the load generator saw it (``Attempt``) and the ``RequestRecord`` made from it.

The load generator fills an ``Attempt`` while the request runs: its due and send times, the
raw timestamped reads of its stream, or how it failed. Only after the stream has ended does
``to_record`` parse the reads (``servegate.measure.sse``) and turn them into timings, token
counts and a final status: a stream that carried an error, ended before ``[DONE]`` or held no
content token is an error, and an error that names an out-of-memory condition is ``oom``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from servegate.core.names import Status
from servegate.measure.prompts import Prompt
from servegate.measure.sse import ParsedStream, parse_sse
from servegate.records.request import RequestRecord

__all__ = ["Attempt", "RecordContext", "error_message", "to_record"]

_OOM_TEXT = re.compile(r"out of memory|OutOfMemory|Cannot allocate memory", re.IGNORECASE)


@dataclass(slots=True)
class Attempt:
    """What one request's attempt collected; ``to_record`` makes its record.

    Times are ``time.perf_counter()`` seconds. Plain slots, no validation: one is made per
    request on the hot path.
    """

    index: int  # the prompt's position in its level's prompts (the record's ``seq``)
    prompt: Prompt
    due: float  # when the request was due (slot release or scheduled arrival)
    sent: float  # when it was handed to the connection
    t0: float  # the level's start
    reads: list[tuple[float, bytes]] = field(default_factory=list)  # (read time, bytes)
    status: Status = Status.OK  # until something went wrong; the stream can still say error
    http_status: int | None = None
    error: str = ""

    def fail(self, status: Status, error: str) -> None:
        self.status, self.error = status, error


@dataclass(frozen=True)
class RecordContext:
    """What every record of one level shares: the run, the target, the level, and how to count
    tokens when the server reports no usage (None: content chunks are counted)."""

    run_id: str
    backend: str
    model: str
    level: str
    concurrency: int | None
    request_rate: float | None
    token_counter: Callable[[str], int] | None = None


@dataclass(frozen=True, slots=True)
class _FromStream:
    """What a record reads from the parsed stream; the defaults are those of no stream."""

    ttft_ms: float | None = None
    itl_mean_ms: float | None = None
    itl_max_ms: float | None = None
    tpot_ms: float | None = None
    gaps_ms: list[float] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    tokens_source: str = "none"
    finish_reason: str | None = None
    n_content_chunks: int = 0


def to_record(attempt: Attempt, context: RecordContext) -> RequestRecord:
    """The request's record, read from what its attempt collected (after the stream ended)."""
    end = time.perf_counter()
    due, t0, prompt = attempt.due, attempt.t0, attempt.prompt
    status, error = attempt.status, attempt.error
    parsed = parse_sse(attempt.reads) if attempt.reads else None
    stream = _FromStream()
    if parsed is not None:
        if status is Status.OK:
            end = parsed.last_time or end
            status, error = _stream_failure(parsed) or (status, error)
        ok = status is Status.OK
        stream = _from_stream(parsed, prompt, due, end, ok, context.token_counter)
    if status is Status.ERROR and _OOM_TEXT.search(error):
        status = Status.OOM
    return RequestRecord(
        run_id=context.run_id,
        backend=context.backend,
        model=context.model,
        concurrency=context.concurrency,
        request_rate=context.request_rate,
        prompt_id=prompt.id,
        status=status,
        http_status=attempt.http_status,
        error=error,
        queue_ms=(attempt.sent - due) * 1000.0,
        ttft_ms=stream.ttft_ms,
        e2e_ms=(end - due) * 1000.0,
        itl_mean_ms=stream.itl_mean_ms,
        tpot_ms=stream.tpot_ms,
        input_tokens=stream.input_tokens,
        output_tokens=stream.output_tokens,
        tokens_source=stream.tokens_source,
        level=context.level,
        seq=attempt.index,
        category=prompt.category,
        due_s=due - t0,
        end_s=end - t0,
        itl_max_ms=stream.itl_max_ms,
        n_content_chunks=stream.n_content_chunks,
        finish_reason=stream.finish_reason,
        gaps_ms=stream.gaps_ms,
        text=parsed.text if parsed is not None else "",
    )


def _stream_failure(parsed: ParsedStream) -> tuple[Status, str] | None:
    """Why a stream that arrived in full is still a failure, or None when it is an answer."""
    if parsed.error:
        return Status.ERROR, parsed.error[:300]
    if not parsed.done:
        return Status.ERROR, "stream ended before [DONE] (cut mid-answer)"
    if not parsed.content_times:
        return Status.ERROR, "empty answer (no content tokens)"
    return None


def _from_stream(
    parsed: ParsedStream,
    prompt: Prompt,
    due: float,
    end: float,
    ok: bool,
    token_counter: Callable[[str], int] | None,
) -> _FromStream:
    """Timings (ms from ``due``) and token counts of a stream; TPOT only for a success."""
    ttft_ms = None
    if parsed.first_token_time is not None:
        ttft_ms = (parsed.first_token_time - due) * 1000.0
    gaps = parsed.gaps_ms()
    in_tok, out_tok, source = _tokens(parsed, prompt, token_counter)
    tpot = None
    if ok and out_tok and out_tok > 1 and ttft_ms is not None:
        tpot = ((end - due) * 1000.0 - ttft_ms) / (out_tok - 1)
    return _FromStream(
        ttft_ms=ttft_ms,
        itl_mean_ms=float(np.mean(gaps)) if gaps else None,
        itl_max_ms=max(gaps) if gaps else None,
        tpot_ms=tpot,
        gaps_ms=gaps,
        input_tokens=in_tok,
        output_tokens=out_tok,
        tokens_source=source,
        finish_reason=parsed.finish_reason,
        n_content_chunks=len(parsed.content_times),
    )


def _tokens(
    parsed: ParsedStream, prompt: Prompt, token_counter: Callable[[str], int] | None
) -> tuple[int | None, int | None, str]:
    """Input and output tokens and where they came from: the server's usage, else the
    tokenizer, else the count of content chunks (no input count)."""
    if parsed.completion_tokens is not None:
        return parsed.prompt_tokens, parsed.completion_tokens, "usage"
    if token_counter is not None:
        text_in = "\n".join(m.content for m in prompt.messages)
        return token_counter(text_in), token_counter(parsed.text), "tokenizer"
    return None, len(parsed.content_times), "chunks"


def error_message(body: str, status: int) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the body's start."""
    try:
        err = json.loads(body).get("error")
        if isinstance(err, dict) and err.get("message"):
            return f"HTTP {status}: {err['message']}"[:300]
    except (ValueError, AttributeError):
        pass
    return f"HTTP {status}: {body.strip()[:200]}"
