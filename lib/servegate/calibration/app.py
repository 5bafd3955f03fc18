"""The calibration server's aiohttp application: scripted OpenAI-style answers and a truth log.

Each chat request gets the next sequence number and plays ``script_for(config, index)``.
Content tokens are written against absolute deadlines from the request's arrival, so drift
never accumulates, and the server records what it actually did (the truth log) with
``time.perf_counter`` from arrival. This app is a test fixture and the reference of the
fidelity benchmark; it never stands in for a product backend.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TypedDict

from aiohttp import web

from servegate.calibration.script import (
    FAULTS,
    CalibrationConfig,
    RequestScript,
    knee_delay_for,
    script_for,
)

__all__ = ["STATE", "TOKEN_TEXT", "TRUTH_FIELDS", "CalibrationState", "TruthRow", "build_app"]

#: The text of every content token.
TOKEN_TEXT = " tok"


class TruthRow(TypedDict):
    """One truth-log row: what the server did for one scripted request (401/400/404 answers
    have none).

    Times are ms from the request's arrival at the handler, by ``time.perf_counter`` on the
    server. ``scripted_*`` is what ``script_for`` (capped by the request's ``max_tokens``) said;
    ``observed_*`` is when the server finished writing: the first content token (None when none
    was sent) and the last byte (None until then). For a non-streamed answer the first token
    comes with the whole body, so its scripted TTFT is its scripted end-to-end time.
    ``output_tokens`` counts content tokens actually written. ``interrupted`` is True when the
    request ended before its script did because the client left (e.g. its time-out during a
    stall) or the server stopped. ``knee_delay_ms`` is the wait it was given for a slot (0
    without a capacity knee); its scripted times include it.
    """

    index: int
    request_id: str
    stream: bool
    fault: str | None
    scripted_ttft_ms: float | None
    scripted_e2e_ms: float
    observed_ttft_ms: float | None
    observed_e2e_ms: float | None
    scripted_output_tokens: int
    output_tokens: int
    scripted_finish_reason: str | None
    interrupted: bool
    arrival_unix_s: float
    knee_delay_ms: float


#: The truth log's fields, in the order of each JSON line.
TRUTH_FIELDS: tuple[str, ...] = tuple(TruthRow.__annotations__)

#: A chat request's JSON body as the client sent it, checked by ``_checked_request`` only as far
#: as the server reads it (``model``, ``max_tokens``, ``stream``, ``messages``).
RequestBody = dict[str, object]  # JSON boundary: the client's request body

_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_DONE = b"data: [DONE]\n\n"


@dataclass
class CalibrationState:
    """Counters and the truth log of one running app (the in-process variant reads ``truth``)."""

    config: CalibrationConfig
    truth_path: Path | None = None
    truth: list[TruthRow] = field(default_factory=list)
    next_index: int = 0
    running: int = 0
    output_tokens_total: int = 0
    interrupted_total: int = 0
    faults_total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULTS, 0))
    in_slots: set[int] = field(default_factory=set)  # requests holding a slot of the knee
    _truth_file: IO[str] | None = None

    def record(self, row: TruthRow) -> None:
        self.truth.append(row)
        if self._truth_file is not None:
            self._truth_file.write(json.dumps(row) + "\n")
            self._truth_file.flush()


STATE = web.AppKey("calibration_state", CalibrationState)


def _error(
    status: int, message: str, code: str, type_: str = "invalid_request_error"
) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return web.json_response(body, status=status)


def _prompt_tokens(messages: object) -> int:
    """Whitespace-separated words in all message contents (strings or text parts)."""
    words = 0
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        parts = content if isinstance(content, list) else [content]
        for part in parts:
            text = part.get("text") if isinstance(part, dict) else part
            if isinstance(text, str):
                words += len(text.split())
    return words


def _scripted_answer(config: CalibrationConfig, body: RequestBody) -> list[str] | None:
    """The scripted answer to this request as its content pieces (each word with the space
    before it), or None when its last user message has no scripted answer."""
    if not config.answers:
        return None
    messages = body.get("messages")
    users = [
        m.get("content")
        for m in (messages if isinstance(messages, list) else [])
        if isinstance(m, dict) and m.get("role") == "user"
    ]
    answer = config.answers.get(users[-1]) if users and isinstance(users[-1], str) else None
    if answer is None:
        return None
    return re.findall(r"\s*\S+", answer) or [answer]


def _contents(script: RequestScript, pieces: list[str] | None) -> list[str]:
    """The text of each content token: " tok", or the scripted answer's pieces, the last
    token carrying the rest of the answer when the answer finishes ("stop")."""
    n = script.output_tokens
    if pieces is None:
        return [TOKEN_TEXT] * n
    texts = pieces[:n]
    if script.finish_reason == "stop" and n and len(pieces) > n:
        texts[-1] = "".join(pieces[n - 1 :])
    return texts


def _authorized(request: web.Request, config: CalibrationConfig) -> bool:
    if config.require_api_key is None:
        return True
    given = request.headers.get("Authorization", "").encode()
    return hmac.compare_digest(given, f"Bearer {config.require_api_key}".encode())


async def _sleep_until(deadline: float) -> None:
    # Re-check after waking: uvloop's millisecond timers can fire up to ~1 ms early.
    while (left := deadline - time.perf_counter()) > 0:
        await asyncio.sleep(left)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 3)


async def _send_now(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    await resp.prepare(request)
    await resp.write_eof()
    return resp


async def _stream(
    request: web.Request,
    script: RequestScript,
    row: TruthRow,
    t0: float,
    usage: dict[str, int] | None,
    contents: list[str],
) -> web.StreamResponse:
    state = request.app[STATE]
    head = {
        "id": row["request_id"],
        "object": "chat.completion.chunk",
        "created": int(row["arrival_unix_s"]),
        "model": state.config.model,
    }

    def chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + json.dumps({**head, "choices": [choice]}).encode() + b"\n\n"

    role_first = state.config.role_chunk
    resp = web.StreamResponse(headers={**_SSE_HEADERS, "X-Request-Id": row["request_id"]})
    await resp.prepare(request)  # sends the headers now
    if role_first:
        await resp.write(chunk({"role": "assistant", "content": ""}))
    # Built once per request, so the hot loop only waits and writes.
    tokens = [chunk({"content": text}) for text in contents]
    if tokens and not role_first:
        tokens[0] = chunk({"role": "assistant", "content": contents[0]})
    for i, due_ms in enumerate(script.token_due_ms()):
        await _sleep_until(t0 + due_ms / 1000.0)
        await resp.write(tokens[i])
        row["output_tokens"] = i + 1
        if i == 0:
            row["observed_ttft_ms"] = _ms(t0)
    if script.fault == "cut":
        # Close the socket mid-answer: no finishing chunk, no [DONE], no chunked terminator.
        assert request.transport is not None
        _release(state, row)
        request.transport.close()
        row["observed_e2e_ms"] = _ms(t0)
        return resp
    await _sleep_until(t0 + script.e2e_ms / 1000.0)  # an empty answer finishes at its "TTFT"
    bare = not role_first and not script.output_tokens  # the role must still be said once
    tail = chunk({"role": "assistant", "content": ""} if bare else {}, script.finish_reason)
    if usage is not None:
        tail += b"data: " + json.dumps({**head, "choices": [], "usage": usage}).encode() + b"\n\n"
    _release(state, row)
    await resp.write(tail + _DONE)
    await resp.write_eof()
    row["observed_e2e_ms"] = _ms(t0)
    return resp


async def _complete(
    request: web.Request,
    script: RequestScript,
    row: TruthRow,
    t0: float,
    usage: dict[str, int],
    contents: list[str],
) -> web.StreamResponse:
    await _sleep_until(t0 + script.e2e_ms / 1000.0)
    if script.fault == "cut":
        assert request.transport is not None
        request.transport.close()
        row["observed_e2e_ms"] = _ms(t0)
        return web.StreamResponse()
    state = request.app[STATE]
    body = {
        "id": row["request_id"],
        "object": "chat.completion",
        "created": int(row["arrival_unix_s"]),
        "model": state.config.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(contents)},
                "logprobs": None,
                "finish_reason": script.finish_reason,
            }
        ],
        "usage": usage,
    }
    resp = web.json_response(body, headers={"X-Request-Id": row["request_id"]})
    _release(state, row)
    await _send_now(request, resp)
    row["output_tokens"] = script.output_tokens
    row["observed_e2e_ms"] = _ms(t0)
    if script.output_tokens:
        row["observed_ttft_ms"] = row["observed_e2e_ms"]  # the whole answer comes at once
    return resp


async def _checked_request(
    request: web.Request, config: CalibrationConfig
) -> tuple[RequestBody, int | None] | web.Response:
    """The request's JSON body and its token limit, or the error answer a real server would
    give: 401 for a bad key, 400 for a body that is not a JSON object or a bad ``max_tokens``,
    404 for a model it does not serve."""
    if not _authorized(request, config):
        return _error(401, "Incorrect or missing API key.", "invalid_api_key")
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        return _error(400, "The request body must be a JSON object.", "invalid_json")
    if body.get("model") != config.model:
        return _error(
            404,
            f"The model {body.get('model')!r} does not exist; this server serves {config.model!r}.",
            "model_not_found",
        )
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        return _error(
            400, f"max_tokens must be a positive integer, got {max_tokens!r}.", "invalid_value"
        )
    return body, max_tokens


def _knee_delay(state: CalibrationState, index: int) -> float:
    """The request's wait for a slot (ms, 0 without a knee); it holds a slot from now until
    ``_release``."""
    if state.config.slots is None:
        return 0.0
    delay = knee_delay_for(state.config, index, len(state.in_slots))
    state.in_slots.add(index)
    return delay


def _release(state: CalibrationState, row: TruthRow) -> None:
    """Free the request's slot just *before* its last bytes go out: a client that sends its
    next request the moment an answer ends must find the slot free, or a closed loop at
    exactly ``slots`` would sometimes wait, by a race, not by load. Counted by what the
    handlers do, not by scripted times, so a server that falls behind still counts right."""
    state.in_slots.discard(row["index"])


def _truth_row(index: int, script: RequestScript, stream: bool, arrival_unix_s: float) -> TruthRow:
    """The request's truth row as it starts: what the script says; the observed fields empty."""
    sends_body = script.output_tokens > 0 and script.fault != "cut"
    whole_body_ms = script.e2e_ms if sends_body else None
    return TruthRow(
        index=index,
        request_id=f"cal-{index:06d}",
        stream=stream,
        fault=script.fault,
        scripted_ttft_ms=script.ttft_ms if stream else whole_body_ms,
        scripted_e2e_ms=script.e2e_ms,
        observed_ttft_ms=None,
        observed_e2e_ms=None,
        scripted_output_tokens=script.output_tokens,
        output_tokens=0,
        scripted_finish_reason=script.finish_reason,
        interrupted=False,
        arrival_unix_s=round(arrival_unix_s, 6),
        knee_delay_ms=0.0,
    )


def _usage(body: RequestBody, script: RequestScript) -> dict[str, int]:
    """The answer's usage: prompt words as prompt tokens, the script's output tokens."""
    prompt = _prompt_tokens(body.get("messages"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": script.output_tokens,
        "total_tokens": prompt + script.output_tokens,
    }


def _scripted_http_error(fault: str) -> web.Response:
    """The answer of an ``http_429`` or ``http_500`` fault, worded as OpenAI's API words them."""
    if fault == "http_429":
        return _error(
            429,
            "Rate limit reached (scripted by the calibration server).",
            "rate_limit_exceeded",
            "requests",
        )
    return _error(
        500,
        "Internal server error (scripted by the calibration server).",
        "internal_error",
        "server_error",
    )


async def _chat(request: web.Request) -> web.StreamResponse:
    """One chat request: check it, play its script (streamed or whole), log its truth row."""
    t0 = time.perf_counter()
    arrival_unix_s = time.time()
    state = request.app[STATE]
    checked = await _checked_request(request, state.config)
    if isinstance(checked, web.Response):
        return checked
    body, max_tokens = checked
    stream = bool(body.get("stream"))
    index = state.next_index
    state.next_index += 1
    script = script_for(state.config, index).limited(max_tokens)
    pieces = _scripted_answer(state.config, body)
    if pieces is not None and len(pieces) < script.output_tokens:
        # A short answer ends early, as a model's would: fewer tokens, the same finish.
        script = replace(script.limited(len(pieces)), finish_reason=script.finish_reason)
    contents = _contents(script, pieces)
    knee_ms = _knee_delay(state, index)
    script = script.delayed(knee_ms)
    row = _truth_row(index, script, stream, arrival_unix_s)
    row["knee_delay_ms"] = round(knee_ms, 3)
    if script.fault is not None:
        state.faults_total[script.fault] += 1
    usage = _usage(body, script)
    options = body.get("stream_options")
    include_usage = stream and isinstance(options, dict) and bool(options.get("include_usage"))
    state.running += 1
    try:
        if script.fault in ("http_429", "http_500"):
            resp = _scripted_http_error(script.fault)
            resp.headers["X-Request-Id"] = row["request_id"]
            await _send_now(request, resp)
            row["observed_e2e_ms"] = _ms(t0)
            return resp
        if stream:
            return await _stream(
                request, script, row, t0, usage if include_usage else None, contents
            )
        return await _complete(request, script, row, t0, usage, contents)
    except (asyncio.CancelledError, ConnectionError):
        # The client went away (say its time-out during a stall), or the server is stopping.
        row["interrupted"] = True
        row["observed_e2e_ms"] = _ms(t0)
        state.interrupted_total += 1
        raise
    finally:
        _release(state, row)  # an error answer, a client that left, a server stopping
        state.running -= 1
        state.output_tokens_total += row["output_tokens"]
        state.record(row)


async def _models(request: web.Request) -> web.Response:
    config = request.app[STATE].config
    if not _authorized(request, config):
        return _error(401, "Incorrect or missing API key.", "invalid_api_key")
    model = {"id": config.model, "object": "model", "created": 0, "owned_by": "servegate"}
    return web.json_response({"object": "list", "data": [model]})


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    lines = [
        "# TYPE calibration_requests_total counter",
        f"calibration_requests_total {state.next_index}",
        "# TYPE calibration_requests_running gauge",
        f"calibration_requests_running {state.running}",
        "# TYPE calibration_output_tokens_total counter",
        f"calibration_output_tokens_total {state.output_tokens_total}",
        "# TYPE calibration_interrupted_total counter",
        f"calibration_interrupted_total {state.interrupted_total}",
        "# TYPE calibration_faults_total counter",
        *(f'calibration_faults_total{{fault="{f}"}} {n}' for f, n in state.faults_total.items()),
    ]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


def build_app(config: CalibrationConfig, truth_path: Path | None = None) -> web.Application:
    """The aiohttp application; ``app[STATE].truth`` holds the truth log in memory.

    With ``truth_path``, each request's truth row is also appended there as one JSON line,
    flushed at once. Run it with ``handler_cancellation=True`` so a client that gives up is
    recorded as ``interrupted`` when it leaves, not when the script would have ended.
    """
    app = web.Application()
    state = CalibrationState(config=config, truth_path=truth_path)
    app[STATE] = state

    async def truth_file(app: web.Application) -> AsyncIterator[None]:
        if truth_path is not None:
            truth_path.parent.mkdir(parents=True, exist_ok=True)
            state._truth_file = open(truth_path, "a", encoding="utf-8")  # noqa: SIM115
        yield
        if state._truth_file is not None:
            state._truth_file.close()
            state._truth_file = None

    app.cleanup_ctx.append(truth_file)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/health", _health)
    app.router.add_get("/metrics", _metrics)
    return app
