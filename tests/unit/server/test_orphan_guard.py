"""No orphan processes: the orphan guard, with real processes (no vLLM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil


def _wait_until(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_guarded_child_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    """SIGKILL cannot be caught, so only PR_SET_PDEATHSIG can stop the server in that case."""
    pid_file = tmp_path / "child.pid"
    parent_code = textwrap.dedent(
        f"""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-m", "servegate.server._orphan_guard",
                                  str(os.getpid()), "sleep", "300"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(300)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    try:
        assert _wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
        child_pid = int(pid_file.read_text())
        # wait for the guard to exec into sleep
        assert _wait_until(
            lambda: _alive(child_pid) and psutil.Process(child_pid).name() == "sleep"
        )
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait_until(lambda: not _alive(child_pid)), "child outlived its SIGKILLed parent"
    finally:
        parent.kill()


def test_orphan_guard_refuses_when_parent_already_gone() -> None:
    # A parent pid that is not ours: the guard must not start an unwatched server.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "servegate.server._orphan_guard",
            str(os.getpid() + 999_999),
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0
    assert "exited before the server started" in proc.stderr
