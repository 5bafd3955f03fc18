"""The peak memory of a process tree: a real parent and child that hold known amounts of memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from servegate.server.memory import PeakMemory, tree_rss_bytes

# A parent holding ~60 MiB that starts a child holding ~80 MiB, then waits to be killed.
_TREE = textwrap.dedent(
    """
    import subprocess, sys, time
    held = b"x" * (60 * 1024 * 1024)
    child = subprocess.Popen([sys.executable, "-c",
        "import time; held = b'x' * (80 * 1024 * 1024); print('child', flush=True); "
        "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    child.stdout.readline()
    print("ready", flush=True)
    time.sleep(60)
    """
)


def test_the_peak_counts_the_children_too() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _TREE], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        memory = PeakMemory(proc.pid, interval_s=0.05).start()
        memory.sample()
        memory.stop()
        # Both byte strings are written (filled with x), so their pages are resident.
        assert memory.peak_mib is not None and memory.peak_mib >= 140
        own = tree_rss_bytes(proc.pid)
        assert own is not None and own >= 140 * 1024 * 1024
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the parent and the child it started
        proc.wait(timeout=10)


def test_a_process_that_is_gone_has_no_figure() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=10)
    assert tree_rss_bytes(proc.pid) is None
    memory = PeakMemory(proc.pid).start()
    memory.stop()
    assert memory.peak_mib is None
