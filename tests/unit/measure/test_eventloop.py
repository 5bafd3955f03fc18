"""A level run from plain code: its result, its error, and an interrupt that aborts it."""

from __future__ import annotations

import _thread
import asyncio
import signal
import threading
from collections.abc import Iterator

import pytest

from servegate.measure.eventloop import run_async


def test_the_result_comes_back_from_the_worker_thread() -> None:
    async def level(abort: asyncio.Event) -> str:
        await asyncio.sleep(0.01)
        return threading.current_thread().name

    assert run_async(level) == "servegate-loadgen"


def test_an_error_in_the_level_is_raised_in_the_caller() -> None:
    async def level(abort: asyncio.Event) -> None:
        raise ValueError("bad level")

    with pytest.raises(ValueError, match="bad level"):
        run_async(level)


@pytest.fixture
def default_sigint() -> Iterator[None]:
    """Ctrl-C's default handler. A shell without job control starts background commands
    (`make test &` in a script) with SIGINT ignored, and then interrupt_main() does nothing and
    the level waits forever; a person pressing Ctrl-C has the default handler."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("default_sigint")
def test_an_interrupt_aborts_the_level_lets_it_finish_and_is_raised_again() -> None:
    finished = []

    async def level(abort: asyncio.Event) -> None:
        await abort.wait()
        await asyncio.sleep(0.05)  # e.g. recording the cancelled requests
        finished.append(True)

    timer = threading.Timer(0.3, _thread.interrupt_main)  # Ctrl-C while the caller waits
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_async(level)
    finally:
        timer.join()
    assert finished == [True]
