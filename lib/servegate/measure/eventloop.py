"""Run a load level's coroutine from plain code (a terminal or a Jupyter cell) on its own loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["run_async"]

_T = TypeVar("_T")


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
