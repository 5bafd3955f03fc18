"""No orphan processes: the orphan guard and signal handling, with real processes (no vLLM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest


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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_termination_signals_unwind_like_ctrl_c(tmp_path: Path, sig: int) -> None:
    marker = tmp_path / "cleaned"
    code = textwrap.dedent(
        f"""
        import time
        from servegate.server.lifecycle import handle_termination
        from servegate.core.errors import SignalInterrupt
        try:
            with handle_termination():
                print("ready", flush=True)
                time.sleep(30)
        except SignalInterrupt as exc:
            open({str(marker)!r}, "w").write(str(exc.signum))
            raise SystemExit(3)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(sig)
    assert proc.wait(timeout=10) == 3
    assert marker.read_text() == str(int(sig))


def test_previous_handlers_come_back_after_the_block() -> None:
    from servegate.server.lifecycle import handle_termination

    before = signal.getsignal(signal.SIGTERM)
    with handle_termination():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


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


class _Owned:
    """Just what the level's watcher reads of a VLLMServer: its process and whether it runs."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process

    @property
    def running(self) -> bool:
        return self.process.poll() is None


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polling"])
def test_the_level_watcher_wakes_when_the_server_dies(
    pidfd: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from servegate.jobs.bench import _exited

    if not pidfd:
        monkeypatch.delattr(os, "pidfd_open", raising=False)
    proc = subprocess.Popen(["sleep", "300"])
    owned = _Owned(proc)

    async def scenario() -> tuple[bool, bool]:
        watcher = asyncio.ensure_future(_exited(owned))  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        woke_early = watcher.done()
        proc.kill()
        async with asyncio.timeout(10):
            await watcher
        return woke_early, owned.running

    try:
        woke_early, still_running = asyncio.run(scenario())
    finally:
        proc.kill()
        proc.wait()
    assert not woke_early, "the watcher returned while the server was still running"
    assert not still_running
    # and a server that is already gone returns at once
    asyncio.run(asyncio.wait_for(_exited(owned), 5))  # type: ignore[arg-type]
