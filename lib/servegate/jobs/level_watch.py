"""A level that stops as soon as the vLLM server this run launched dies.

``watched`` runs one level of the load generator beside a watcher of the server's process:
when the process exits mid-level, the level is aborted at once instead of sending its
remaining prompts into a dead port. The benchmark's levels and its quality pass both use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from servegate.measure.loadgen import LevelResult, LevelSpec, LoadGenerator
from servegate.server.lifecycle import VLLMServer

__all__ = ["exited", "watched"]


async def watched(
    gen: LoadGenerator,
    spec: LevelSpec,
    server: VLLMServer | None,
    abort: asyncio.Event,
    on_start: Callable[[], None] | None = None,
) -> LevelResult:
    """Run a level; abort it as soon as the server we own dies mid-level."""

    async def watch() -> None:
        if server is None or server.process is None:
            return
        await exited(server)
        abort.set()

    watcher = asyncio.ensure_future(watch())
    try:
        return await gen.run_level(spec, abort, on_start)
    finally:
        watcher.cancel()


async def exited(server: VLLMServer) -> None:
    """Return when the server's process has exited.

    A pidfd becomes readable the moment the process exits, so the level stops before its
    remaining prompts are sent into a dead port; where pidfds are missing (not Linux, or an
    old kernel) a short poll does the same job a little later.
    """
    assert server.process is not None
    fd = None
    if server.running:
        with contextlib.suppress(AttributeError, OSError):
            fd = os.pidfd_open(server.process.pid)
    if fd is None:
        while server.running:
            await asyncio.sleep(0.1)
        return
    loop = asyncio.get_running_loop()
    exited = asyncio.Event()
    loop.add_reader(fd, exited.set)
    try:
        await exited.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)
