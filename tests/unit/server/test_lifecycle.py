"""The vLLM server's lifecycle without vLLM: refusals before a start, and signal handling."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from servegate.core.errors import PortInUseError
from servegate.server.launch import ServerConfig
from servegate.server.lifecycle import VLLMServer, handle_termination


def test_port_in_use_is_refused_before_anything_starts(fake_model_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = VLLMServer(ServerConfig(model=fake_model_dir, port=port))
        with pytest.raises(PortInUseError, match=rf"port {port} on 127.0.0.1 is already in use"):
            server.start()
    assert server.process is None


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
    before = signal.getsignal(signal.SIGTERM)
    with handle_termination():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
