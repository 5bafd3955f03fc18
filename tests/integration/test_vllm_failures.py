"""Real vLLM start-up failures: each is classified, named, and leaves no process behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from servegate.core.errors import ServerHangError, ServerOOMError, ServerStartError
from servegate.server.lifecycle import VLLMServer
from tests.helpers import server_config

pytestmark = pytest.mark.vllm


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _start_expecting(server: VLLMServer, error: type[Exception], match: str) -> Exception:
    with pytest.raises(error, match=match) as info:
        server.start()
    assert server.process is not None and _gone(server.process.pid), "server left running"
    return info.value


def test_an_unknown_flag_is_a_start_failure_with_vllms_own_words(
    built_model: Path, tmp_path: Path
) -> None:
    server = VLLMServer(server_config(built_model, tmp_path, extra_args=["--no-such-flag"]))
    err = _start_expecting(
        server, ServerStartError, r"exited during start-up with code 2: .*--no-such-flag"
    )
    assert not isinstance(err, ServerOOMError)
    assert "--no-such-flag" in err.log_tail


def test_a_server_that_never_gets_healthy_is_a_hang(built_model: Path, tmp_path: Path) -> None:
    server = VLLMServer(server_config(built_model, tmp_path, startup_timeout_s=3))
    _start_expecting(
        server, ServerHangError, r"did not answer /health within 3 s .*raise startup_timeout_s"
    )


@pytest.mark.slow
def test_a_kv_cache_larger_than_the_machine_is_an_oom(built_model: Path, tmp_path: Path) -> None:
    total_gib = psutil.virtual_memory().total / (1 << 30)
    server = VLLMServer(
        # enforce_eager: the cache is allocated after the model loads; no need to compile first
        server_config(
            built_model, tmp_path, kv_cache_space_gib=round(total_gib * 4), enforce_eager=True
        )
    )
    err = _start_expecting(
        server, ServerOOMError, r"ran out of memory at start-up .*lower max_model_len"
    )
    assert "docs/runbook.md" in str(err)


@pytest.mark.slow
def test_sigterm_to_the_caller_stops_a_starting_server(built_model: Path, tmp_path: Path) -> None:
    """A benchmark process told to stop while vLLM is starting takes the whole vLLM tree down."""
    pid_file = tmp_path / "server.pid"
    log = tmp_path / "vllm.log"
    code = textwrap.dedent(
        f"""
        import threading, time
        from pathlib import Path
        from servegate.server.lifecycle import ServerConfig, VLLMServer
        cfg = ServerConfig(model={str(built_model)!r}, log_path={str(log)!r}, progress=False,
                           kv_cache_space_gib=1)
        server = VLLMServer(cfg)
        def report():
            while server.process is None:
                time.sleep(0.05)
            Path({str(pid_file)!r}).write_text(str(server.process.pid))
        threading.Thread(target=report, daemon=True).start()
        with server:
            time.sleep(600)
        """
    )
    caller = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 120
        family: list[psutil.Process] = []
        # Wait until vLLM has spawned its engine processes, so there is a tree to leave behind.
        while time.monotonic() < deadline:
            if pid_file.exists() and pid_file.read_text():
                root = psutil.Process(int(pid_file.read_text()))
                family = [root, *root.children(recursive=True)]
                if len(family) >= 3:
                    break
            time.sleep(0.5)
        assert len(family) >= 3, "vLLM did not spawn its engine processes in time"
        caller.send_signal(signal.SIGTERM)
        assert caller.wait(timeout=60) != 0
        _, alive = psutil.wait_procs(family, timeout=30)
        assert not [p.pid for p in alive if not _gone(p.pid)], "vLLM processes outlived the caller"
    finally:
        caller.kill()
