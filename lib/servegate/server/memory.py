"""The peak resident memory of a process tree, sampled in the background while it runs.

vLLM's memory lives in several processes (the API server, the engine core, its workers), so
the figure is the sum of the resident set sizes (RSS) of the launched process and all its
descendants, sampled about once a second; a page shared by two of them counts in each, so it
errs high, never low. A peak between two samples can be missed: it is a sampled peak.
"""

from __future__ import annotations

import contextlib
import threading

import psutil

__all__ = ["PeakMemory", "tree_rss_bytes"]

_MIB = 1024 * 1024


def tree_rss_bytes(pid: int) -> int | None:
    """The summed RSS of process ``pid`` and its descendants; None when ``pid`` is gone."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):  # a child may exit between listing and reading
            total += proc.memory_info().rss
    return total


class PeakMemory:
    """Samples ``tree_rss_bytes(pid)`` every ``interval_s`` in a daemon thread until ``stop``."""

    def __init__(self, pid: int, interval_s: float = 1.0) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak_bytes: int | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"peak-rss-{pid}", daemon=True)

    def start(self) -> PeakMemory:
        self._thread.start()
        return self

    def sample(self) -> None:
        """Take one sample now (also done by the thread)."""
        rss = tree_rss_bytes(self.pid)
        if rss is not None and (self.peak_bytes is None or rss > self.peak_bytes):
            self.peak_bytes = rss

    def _run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.interval_s)

    def stop(self) -> None:
        """Stop sampling (one last sample first, while the tree still runs). Idempotent."""
        if not self._done.is_set():
            self.sample()
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    @property
    def peak_mib(self) -> float | None:
        """The peak in MiB, rounded to 0.1; None before the first sample found the process."""
        return None if self.peak_bytes is None else round(self.peak_bytes / _MIB, 1)
