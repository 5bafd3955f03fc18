"""The calibration server's process: its settings from flags, its port, and a key it never leaks."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import psutil
import pytest

from servegate.calibration.server import (
    CalibrationConfig,
    CalibrationServer,
    calibration_config_from_flags,
    script_for,
)
from servegate.core.errors import ConfigError, PortInUseError
from tests.helpers import CHAT, TIMED


def test_an_api_key_is_required_and_never_written_or_in_argv(tmp_path: Path) -> None:
    key = "sk-calibration-7f3a9c-DO-NOT-LEAK"
    config = CalibrationConfig(
        seed=1, ttft_ms=1, itl_ms=1, output_tokens_min=1, output_tokens_max=4, require_api_key=key
    )
    truth, log = tmp_path / "truth.jsonl", tmp_path / "server.log"
    with CalibrationServer(config, truth_path=truth, log_path=log) as server, httpx.Client() as c:
        pid = server.process.pid
        assert not any(key in arg for arg in psutil.Process(pid).cmdline())
        url = f"{server.base_url}/chat/completions"
        denied = c.post(url, json=CHAT)
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "invalid_api_key" and key not in denied.text
        wrong = c.post(url, json=CHAT, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert c.get(f"{server.base_url}/models").status_code == 401
        ok = c.post(url, json=CHAT, headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] >= 1
    assert server.process.poll() is not None and not psutil.pid_exists(pid)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert truth in written and log in written
    for path in written:
        assert key not in path.read_text(errors="replace"), path
    assert len(server.truth()) == 1


def test_a_taken_port_is_refused_before_anything_starts() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        server = CalibrationServer(TIMED, port=port)
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use"):
            server.start()
        assert server.process is None


def test_bursts_from_flags() -> None:
    config = calibration_config_from_flags(seed=1, bursts=["http_500:3:2", "http_429:10:4"])
    assert [script_for(config, i).fault for i in (2, 3, 4, 5, 10, 13, 14)] == [
        None,
        "http_500",
        "http_500",
        None,
        "http_429",
        "http_429",
        None,
    ]


def test_bad_flags_are_named() -> None:
    with pytest.raises(ConfigError, match="tokens must be MIN:MAX output tokens, got '32-64'"):
        calibration_config_from_flags(seed=1, tokens="32-64")
    with pytest.raises(ConfigError, match="unknown parameter 'p_oom'"):
        calibration_config_from_flags(seed=1, p_oom=0.1)
