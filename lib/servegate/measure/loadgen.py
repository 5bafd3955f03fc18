"""The load generator: a light asyncio streaming client for any OpenAI-compatible chat endpoint.

Closed loop: ``concurrency`` workers; each takes the next prompt the moment its previous
request ends (its slot's release is the request's due time). The slots open 2 ms apart (at
most 1 s in all) rather than in one burst. Open loop: Poisson arrivals at
``request_rate`` from a seeded generator; each request is due at its scheduled time even if
the client is late. Latencies are measured from the due time, so a client that falls behind
shows up as latency (``queue_ms`` says how much), never as a lower rate.

Streams are read as raw bytes with aiohttp, stamped with ``time.perf_counter()`` per network
read, and parsed only after they end (see ``servegate.measure.sse``). There are no retries: a retry
would hide a failure and distort latency. Every request becomes a ``RequestRecord``, failures
included, and is handed to ``on_record`` as soon as it finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import numpy as np

from servegate.core.names import Status
from servegate.measure.prompts import Prompt
from servegate.measure.sse import ParsedStream, parse_sse
from servegate.records.request import RequestRecord

__all__ = [
    "ChatTarget",
    "LevelResult",
    "LevelSpec",
    "LoadGenerator",
    "poisson_schedule",
    "run_async",
]

#: Closed-loop slots open this far apart, the whole ramp lasting at most RAMP_MAX_S.
RAMP_STEP_S = 0.002
RAMP_MAX_S = 1.0

_T = TypeVar("_T")

_OOM_TEXT = re.compile(r"out of memory|OutOfMemory|Cannot allocate memory", re.IGNORECASE)


@dataclass(frozen=True)
class ChatTarget:
    """Where requests go. The API key is sent as a bearer token and never shown or recorded."""

    base_url: str
    model: str
    backend: str
    api_key: str | None = field(default=None, repr=False)

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers


@dataclass(frozen=True)
class LevelSpec:
    """One load level: closed loop at ``concurrency`` or open loop at ``request_rate`` req/s."""

    prompts: Sequence[Prompt]
    concurrency: int | None = None
    request_rate: float | None = None
    max_inflight: int | None = None  # open loop only: a cap on requests in flight

    def __post_init__(self) -> None:
        if (self.concurrency is None) == (self.request_rate is None):
            raise ValueError("a level has either a concurrency or a request_rate, not both")

    @property
    def label(self) -> str:
        return f"c{self.concurrency}" if self.concurrency else f"r{self.request_rate:g}"


@dataclass
class LevelResult:
    """All records of one level, with its wall-clock span (perf_counter seconds)."""

    spec: LevelSpec
    records: list[RequestRecord]
    started: float
    ended: float
    started_unix: float
    aborted: str | None = None

    @property
    def duration_s(self) -> float:
        return self.ended - self.started


def poisson_schedule(n: int, rate: float, seed: int) -> np.ndarray:
    """Due times (s from the level's start) of ``n`` Poisson arrivals at ``rate`` per second."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.exponential(1.0 / rate, size=n))


class LoadGenerator:
    """Sends levels of streamed chat requests to one ``ChatTarget``.

    :param timeout_s: per-request limit from its send; a request over it is a ``timeout`` row.
    :param max_tokens_cap: caps each prompt's own ``max_tokens`` (None keeps them).
    :param token_counter: counts tokens of a text when the server reports no usage; without
        one, content chunks are counted and ``tokens_source`` says ``chunks``.
    :param on_record: called with each finished record (e.g. to append it to requests.csv).
    :param warm_connections: before each level's clock starts, open its connections with one
        tiny request per slot (not recorded), so the level measures the server, not TCP
        handshakes that a long-lived client or gateway would have paid long before.
    """

    def __init__(
        self,
        target: ChatTarget,
        *,
        run_id: str,
        timeout_s: float = 60.0,
        temperature: float = 0.0,
        max_tokens_cap: int | None = None,
        seed: int = 0,
        token_counter: Callable[[str], int] | None = None,
        on_record: Callable[[RequestRecord], None] | None = None,
        progress: bool = True,
        warm_connections: bool = True,
    ) -> None:
        self.target = target
        self.run_id = run_id
        self.timeout_s = timeout_s
        self.temperature = temperature
        self.max_tokens_cap = max_tokens_cap
        self.seed = seed
        self.token_counter = token_counter
        self.on_record = on_record
        self.progress = progress
        self.warm_connections = warm_connections
        self._url = f"{target.base_url}/chat/completions"

    def _body(self, prompt: Prompt) -> bytes:
        max_tokens = prompt.max_tokens
        if self.max_tokens_cap is not None:
            max_tokens = min(max_tokens, self.max_tokens_cap)
        return json.dumps(
            {
                "model": self.target.model,
                "messages": [m.model_dump() for m in prompt.messages],
                "max_tokens": max_tokens,
                "temperature": self.temperature,
                "seed": self.seed,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        ).encode()

    async def run_level(
        self,
        spec: LevelSpec,
        abort: asyncio.Event | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> LevelResult:
        """Run one level to completion (or until ``abort`` is set) and return its records.

        ``on_start`` runs after the connection warm-up, just before the clock starts (e.g. to
        snapshot the server's counters so they cover exactly the measured requests).
        """
        from tqdm.auto import tqdm

        bodies = [self._body(p) for p in spec.prompts]  # built before the clock starts
        records: list[RequestRecord] = []
        n = len(spec.prompts)
        bar = tqdm(
            total=n,
            desc=f"{self.target.backend} {spec.label}",
            unit="req",
            disable=not self.progress,
            mininterval=0.5,
        )
        limit = spec.concurrency or spec.max_inflight or 0
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)

        def finish(record: RequestRecord) -> None:
            records.append(record)
            if self.on_record is not None:
                self.on_record(record)
            bar.update(1)

        async with aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            headers=self.target.headers(),
            auto_decompress=False,
        ) as session:
            if self.warm_connections and n:
                await self._warm(session, min(limit or n, n), spec.prompts[0])
            if on_start is not None:
                on_start()
            # A full garbage collection scans every object of the process (a notebook kernel
            # holds pandas, matplotlib, ...) and stalls every stream while it runs. Freezing
            # what exists now keeps the collections during the level small and short.
            gc.collect()
            gc.freeze()
            started_unix = time.time()
            t0 = time.perf_counter()
            run = self._closed_loop if spec.concurrency else self._open_loop
            tasks_done = asyncio.ensure_future(run(session, spec, bodies, t0, finish))
            waiters: list[asyncio.Future[Any]] = [tasks_done]
            if abort is not None:
                waiters.append(asyncio.ensure_future(abort.wait()))
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                aborted = None
                if not tasks_done.done():
                    aborted = "aborted"
                    tasks_done.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await tasks_done
            finally:
                for w in waiters:
                    w.cancel()
                gc.unfreeze()
        bar.close()
        ended = time.perf_counter()
        return LevelResult(spec, records, t0, ended, started_unix, aborted)

    async def _warm(self, session: aiohttp.ClientSession, slots: int, prompt: Prompt) -> None:
        """``slots`` concurrent one-token requests; their outcome does not matter."""
        body = json.loads(self._body(prompt))
        body["max_tokens"] = 1
        data = json.dumps(body).encode()

        async def one() -> None:
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with asyncio.timeout(self.timeout_s):
                    async with session.post(self._url, data=data) as resp:
                        await resp.read()

        await asyncio.gather(*(one() for _ in range(slots)))

    async def _closed_loop(
        self,
        session: aiohttp.ClientSession,
        spec: LevelSpec,
        bodies: Sequence[bytes],
        t0: float,
        finish: Callable[[RequestRecord], None],
    ) -> None:
        queue = list(range(len(bodies)))[::-1]
        slots = spec.concurrency or 1
        # Slots open one after another over the ramp: 64 requests fired in the same
        # millisecond queue up in the server's accept loop before it can even time them,
        # which is an artefact of the harness, not traffic. Each slot's first request is due
        # when its slot opens, so the ramp hides nothing.
        step = min(RAMP_STEP_S, RAMP_MAX_S / slots)

        async def worker(k: int) -> None:
            delay = t0 + k * step - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            while queue:
                i = queue.pop()
                # The slot was released now: this request is due now.
                await self._one(session, spec, i, bodies[i], time.perf_counter(), t0, finish)

        workers = [asyncio.ensure_future(worker(k)) for k in range(slots)]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()

    async def _open_loop(
        self,
        session: aiohttp.ClientSession,
        spec: LevelSpec,
        bodies: Sequence[bytes],
        t0: float,
        finish: Callable[[RequestRecord], None],
    ) -> None:
        due = poisson_schedule(len(bodies), float(spec.request_rate or 1.0), self.seed)
        gate = asyncio.Semaphore(spec.max_inflight) if spec.max_inflight else None
        tasks: list[asyncio.Task[None]] = []

        async def launch(i: int, due_at: float) -> None:
            if gate is None:
                await self._one(session, spec, i, bodies[i], due_at, t0, finish)
                return
            async with gate:
                await self._one(session, spec, i, bodies[i], due_at, t0, finish)

        try:
            for i, offset in enumerate(due):
                due_at = t0 + float(offset)
                delay = due_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.ensure_future(launch(i, due_at)))
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()

    async def _one(
        self,
        session: aiohttp.ClientSession,
        spec: LevelSpec,
        i: int,
        body: bytes,
        due: float,
        t0: float,
        finish: Callable[[RequestRecord], None],
    ) -> None:
        attempt = _Attempt(spec, i, spec.prompts[i], due, time.perf_counter(), t0)
        reads = attempt.reads  # a local: the per-read work stays one append
        try:
            async with asyncio.timeout(self.timeout_s):
                async with session.post(self._url, data=body) as resp:
                    attempt.http_status = resp.status
                    if resp.status != 200:
                        text = (await resp.text(errors="replace"))[:300]
                        attempt.fail(Status.ERROR, _error_message(text, resp.status))
                    else:
                        async for data in resp.content.iter_any():
                            reads.append((time.perf_counter(), data))
        except TimeoutError:
            attempt.fail(Status.TIMEOUT, f"no complete answer within {self.timeout_s:g} s")
        except asyncio.CancelledError:
            attempt.fail(Status.CANCELLED, "run interrupted")
            finish(self._record(attempt))
            raise
        except aiohttp.ClientPayloadError as exc:
            attempt.fail(Status.ERROR, f"stream cut mid-answer ({type(exc).__name__})")
        except (aiohttp.ClientError, OSError) as exc:
            attempt.fail(Status.ERROR, f"{type(exc).__name__}: {exc}"[:300])
        finish(self._record(attempt))

    def _record(self, attempt: _Attempt) -> RequestRecord:
        """The request's record, read from what its attempt collected (after the stream ended)."""
        end = time.perf_counter()
        spec, prompt, due, t0 = attempt.spec, attempt.prompt, attempt.due, attempt.t0
        status, error = attempt.status, attempt.error
        parsed = parse_sse(attempt.reads) if attempt.reads else None
        ttft_ms: float | None = None
        itl_mean: float | None = None
        tpot: float | None = None
        itl_max: float | None = None
        gaps: list[float] = []
        in_tok: int | None = None
        out_tok: int | None = None
        source = "none"
        finish_reason = None
        n_chunks = 0
        if parsed is not None:
            finish_reason = parsed.finish_reason
            n_chunks = len(parsed.content_times)
            if parsed.first_token_time is not None:
                ttft_ms = (parsed.first_token_time - due) * 1000.0
            if status is Status.OK:
                end = parsed.last_time or end
                if parsed.error:
                    status, error = Status.ERROR, parsed.error[:300]
                elif not parsed.done:
                    status, error = Status.ERROR, "stream ended before [DONE] (cut mid-answer)"
                elif n_chunks == 0:
                    status, error = Status.ERROR, "empty answer (no content tokens)"
            gaps = parsed.gaps_ms()
            if gaps:
                itl_mean, itl_max = float(np.mean(gaps)), max(gaps)
            in_tok, out_tok, source = self._tokens(parsed, prompt)
            if status is Status.OK and out_tok and out_tok > 1 and ttft_ms is not None:
                tpot = ((end - due) * 1000.0 - ttft_ms) / (out_tok - 1)
        if status is Status.ERROR and _OOM_TEXT.search(error):
            status = Status.OOM
        return RequestRecord(
            run_id=self.run_id,
            backend=self.target.backend,
            model=self.target.model,
            concurrency=spec.concurrency,
            request_rate=spec.request_rate,
            prompt_id=prompt.id,
            status=status,
            http_status=attempt.http_status,
            error=error,
            queue_ms=(attempt.sent - due) * 1000.0,
            ttft_ms=ttft_ms,
            e2e_ms=(end - due) * 1000.0,
            itl_mean_ms=itl_mean,
            tpot_ms=tpot,
            input_tokens=in_tok,
            output_tokens=out_tok,
            tokens_source=source,
            level=spec.label,
            seq=attempt.index,
            category=prompt.category,
            due_s=due - t0,
            end_s=end - t0,
            itl_max_ms=itl_max,
            n_content_chunks=n_chunks,
            finish_reason=finish_reason,
            gaps_ms=gaps,
        )

    def _tokens(self, parsed: ParsedStream, prompt: Prompt) -> tuple[int | None, int | None, str]:
        if parsed.completion_tokens is not None:
            return parsed.prompt_tokens, parsed.completion_tokens, "usage"
        if self.token_counter is not None:
            text_in = "\n".join(m.content for m in prompt.messages)
            return self.token_counter(text_in), self.token_counter(parsed.text), "tokenizer"
        return None, len(parsed.content_times), "chunks"


@dataclass(slots=True)
class _Attempt:
    """What one request's attempt collected; ``LoadGenerator._record`` makes its record.

    Times are ``time.perf_counter()`` seconds. Plain slots, no validation: one is made per
    request on the hot path.
    """

    spec: LevelSpec
    index: int  # the prompt's position in spec.prompts (the record's ``seq``)
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


def run_async(factory: Callable[[asyncio.Event], Awaitable[_T]]) -> _T:
    """Run ``factory(abort_event)`` on a private event loop in a worker thread.

    The same path serves terminals and Jupyter kernels (whose main thread already runs a loop).
    If the caller is interrupted (Ctrl-C, SIGTERM), the abort event is set, the level cancels
    its in-flight requests (recorded as ``cancelled``), and the interrupt is re-raised.
    """
    new_loop: Callable[[], asyncio.AbstractEventLoop]
    try:
        import uvloop

        new_loop = uvloop.new_event_loop
    except ImportError:
        new_loop = asyncio.new_event_loop
    loop = new_loop()
    abort = asyncio.Event()
    results: list[_T] = []
    errors: list[BaseException] = []
    # Completion is signalled with an Event, not Thread.join: after Ctrl-C interrupted a join,
    # the next join returned at once here (CPython 3.11), and the caller closed the run's files
    # while the level was still recording its cancelled requests (tests/unit/test_interruption).
    done = threading.Event()

    def work() -> None:
        asyncio.set_event_loop(loop)
        try:
            results.append(loop.run_until_complete(factory(abort)))
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)
        finally:
            loop.close()
            done.set()

    thread = threading.Thread(target=work, name="servegate-loadgen", daemon=True)
    thread.start()
    try:
        while not done.wait(0.2):
            pass
    except BaseException:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(abort.set)
        done.wait(60)
        raise
    if errors:
        raise errors[0]
    return results[0]


def _error_message(body: str, status: int) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the body's start."""
    try:
        err = json.loads(body).get("error")
        if isinstance(err, dict) and err.get("message"):
            return f"HTTP {status}: {err['message']}"[:300]
    except (ValueError, AttributeError):
        pass
    return f"HTTP {status}: {body.strip()[:200]}"
