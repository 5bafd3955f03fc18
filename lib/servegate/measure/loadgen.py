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
included (``servegate.measure.attempt``), and is handed to ``on_record`` as soon as it finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from servegate.core.names import Status
from servegate.core.progress import Reporter, reporter
from servegate.measure.attempt import Attempt, RecordContext, error_message, to_record
from servegate.measure.prompts import Prompt
from servegate.records.request import RequestRecord

__all__ = [
    "ChatTarget",
    "LevelResult",
    "LevelSpec",
    "LoadGenerator",
    "poisson_schedule",
]

#: Closed-loop slots open this far apart, the whole ramp lasting at most RAMP_MAX_S.
RAMP_STEP_S = 0.002
RAMP_MAX_S = 1.0


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
    # Closed loop only: called with each finished record; True stops sending (a sequential
    # rule that has its answer). Requests in flight still finish and are recorded.
    stop: Callable[[RequestRecord], bool] | None = field(default=None, compare=False)
    name: str | None = None  # the level's label instead of c<N> (the quality pass: "quality")

    def __post_init__(self) -> None:
        if (self.concurrency is None) == (self.request_rate is None):
            raise ValueError("a level has either a concurrency or a request_rate, not both")
        if self.stop is not None and self.concurrency is None:
            raise ValueError("only a closed-loop level can stop early on its records")

    @property
    def label(self) -> str:
        if self.name:
            return self.name
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
    stopped_early: bool = False  # spec.stop said so before every prompt was sent

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
        progress: Reporter | bool = True,
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
        # True: the mode that suits where this runs (core.progress); False: silent.
        self.progress: Reporter = (
            progress if not isinstance(progress, bool) else reporter(None if progress else "off")
        )
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
        bodies = [self._body(p) for p in spec.prompts]  # built before the clock starts
        records: list[RequestRecord] = []
        n = len(spec.prompts)
        halt = asyncio.Event()
        context = RecordContext(
            run_id=self.run_id,
            backend=self.target.backend,
            model=self.target.model,
            level=spec.label,
            concurrency=spec.concurrency,
            request_rate=spec.request_rate,
            token_counter=self.token_counter,
        )

        def finish(attempt: Attempt) -> None:
            record = to_record(attempt, context)
            records.append(record)
            if self.on_record is not None:
                self.on_record(record)
            bar.advance(record.status == Status.OK)
            if spec.stop is not None and not halt.is_set() and spec.stop(record):
                halt.set()

        limit = spec.concurrency or spec.max_inflight or 0
        async with self._session(limit) as session:
            if self.warm_connections and n:
                await self._warm(session, min(limit or n, n), spec.prompts[0])
            if on_start is not None:
                on_start()
            bar = self.progress.counter(f"{self.target.backend} {spec.label}", n)
            with _gc_frozen():
                started_unix = time.time()
                t0 = time.perf_counter()
                if spec.concurrency:
                    run = self._closed_loop(session, spec, bodies, t0, finish, halt)
                else:
                    run = self._open_loop(session, spec, bodies, t0, finish)
                level = asyncio.ensure_future(run)
                aborted = await _until_done_or_aborted(level, abort)
        bar.close()
        ended = time.perf_counter()
        stopped = halt.is_set() and len(records) < n
        return LevelResult(spec, records, t0, ended, started_unix, aborted, stopped)

    def _session(self, limit: int) -> aiohttp.ClientSession:
        """A session for one level: at most ``limit`` connections (0: no limit), bytes as they
        arrive (no decompression), and no session-wide time-out (each request has its own)."""
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        return aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            headers=self.target.headers(),
            auto_decompress=False,
        )

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
        finish: Callable[[Attempt], None],
        halt: asyncio.Event,
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
            while queue and not halt.is_set():
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
        finish: Callable[[Attempt], None],
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
        finish: Callable[[Attempt], None],
    ) -> None:
        attempt = Attempt(i, spec.prompts[i], due, time.perf_counter(), t0)
        reads = attempt.reads  # a local: the per-read work stays one append
        try:
            async with asyncio.timeout(self.timeout_s):
                async with session.post(self._url, data=body) as resp:
                    attempt.http_status = resp.status
                    if resp.status != 200:
                        text = (await resp.text(errors="replace"))[:300]
                        attempt.fail(Status.ERROR, error_message(text, resp.status))
                    else:
                        async for data in resp.content.iter_any():
                            reads.append((time.perf_counter(), data))
        except TimeoutError:
            attempt.fail(Status.TIMEOUT, f"no complete answer within {self.timeout_s:g} s")
        except asyncio.CancelledError:
            attempt.fail(Status.CANCELLED, "run interrupted")
            finish(attempt)
            raise
        except aiohttp.ClientPayloadError as exc:
            attempt.fail(Status.ERROR, f"stream cut mid-answer ({type(exc).__name__})")
        except (aiohttp.ClientError, OSError) as exc:
            attempt.fail(Status.ERROR, f"{type(exc).__name__}: {exc}"[:300])
        finish(attempt)


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    """Collect once, then keep what exists out of the collector's scans until the block ends.

    A full garbage collection scans every object of the process (a notebook kernel holds
    pandas, matplotlib, ...) and stalls every stream while it runs. Freezing what exists now
    keeps the collections during the level small and short.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _until_done_or_aborted(
    level: asyncio.Future[None], abort: asyncio.Event | None
) -> str | None:
    """Wait for ``level`` to end; if ``abort`` is set first, cancel it and return "aborted"."""
    waiters: list[asyncio.Future[Any]] = [level]
    if abort is not None:
        waiters.append(asyncio.ensure_future(abort.wait()))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if level.done():
            return None
        level.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await level
        return "aborted"
    finally:
        for w in waiters:
            w.cancel()
