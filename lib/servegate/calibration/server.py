"""The calibration server: a scripted, seeded OpenAI-compatible streaming server in its own process.

It proves that servegate's load generator measures correctly: every request follows a script
(``script_for``) and the server logs what it actually did (the truth log), so a client's
measurements can be checked against both. By default it sends a role-only chunk before the
first real token, the trap that makes vLLM's own benchmark report a ~1 ms TTFT. It is a test
fixture and a reference, never a stand-in for a product backend.

``CalibrationServer`` runs it in a separate process (``python -m servegate.calibration.server``) so
the client being measured shares neither an event loop nor a GIL with it; ``serve`` runs it in
the foreground (``servegate calibrate``).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

import httpx

from servegate.calibration.app import STATE, TRUTH_FIELDS, TruthRow, build_app
from servegate.calibration.script import (
    CalibrationConfig,
    Dist,
    FaultBurst,
    RequestScript,
    script_for,
)
from servegate.core.config import validate_params
from servegate.core.errors import ConfigError, ServerHangError, ServerStartError
from servegate.server.launch import check_port_free, find_free_port
from servegate.server.lifecycle import ManagedProcess

__all__ = [
    "API_KEY_ENV",
    "TRUTH_FIELDS",
    "CalibrationConfig",
    "CalibrationServer",
    "Dist",
    "FaultBurst",
    "RequestScript",
    "TruthRow",
    "calibration_config_from_flags",
    "script_for",
    "serve",
]

log = logging.getLogger(__name__)

#: The child process reads the API key it must require from here, never from its argv.
API_KEY_ENV = "SERVEGATE_CALIBRATION_API_KEY"


def calibration_config_from_flags(
    *, tokens: str = "32:128", bursts: Sequence[str] = (), **settings: Any
) -> CalibrationConfig:
    """A config from command-line style values; ``tokens`` is ``"MIN:MAX"`` or one number,
    each of ``bursts`` is ``"FAULT:START:COUNT"``.

    :raises ConfigError: naming each bad value.
    """
    parsed = []
    for text in bursts:
        fault, start, count = [*text.split(":"), "", ""][:3]
        try:
            parsed.append({"fault": fault, "start": int(start), "count": int(count)})
        except ValueError:
            raise ConfigError(
                f"--burst must be FAULT:START:COUNT, got {text!r}; use e.g. http_429:100:50"
            ) from None
    if parsed:
        settings["bursts"] = parsed
    low, _, high = tokens.partition(":")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        raise ConfigError(
            f"tokens must be MIN:MAX output tokens, got {tokens!r}; use e.g. 32:128"
        ) from None
    settings.update(output_tokens_min=bounds[0], output_tokens_max=bounds[1])
    return validate_params(CalibrationConfig, settings, what="calibration server settings")


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop  # lower timer and I/O jitter than the default loop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


async def _serve_async(
    config: CalibrationConfig,
    host: str,
    port: int,
    truth_path: Path | None,
    on_ready: Callable[[str], None] | None,
) -> None:
    from aiohttp import web

    app = build_app(config, truth_path)
    # handler_cancellation: a client that leaves is recorded when it leaves. A short shutdown
    # time-out: a stalled stream must not hold up SIGTERM for its whole stall.
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("calibration server on http://%s:%d/v1 (model %r)", host, port, config.model)
        if on_ready is not None:
            on_ready(f"http://{host}:{port}/v1")
        await stop.wait()
    finally:
        await runner.cleanup()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    requests = len(app[STATE].truth)
    log.info("calibration server stopped after %d scripted requests", requests)


def serve(
    config: CalibrationConfig,
    host: str = "127.0.0.1",
    port: int = 8100,
    truth_path: Path | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the calibration server in this process until SIGINT (Ctrl-C) or SIGTERM.

    Uses uvloop when it is installed. ``on_ready`` is called with the base URL once the port
    is bound. The truth log goes to ``truth_path`` (appended, one JSON line per request).

    :raises PortInUseError: when ``port`` is taken on ``host``.
    """
    check_port_free(host, port)
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(_serve_async(config, host, port, truth_path, on_ready))


class CalibrationServer(ManagedProcess):
    """The calibration server in a child process owned by this one.

    Use as a context manager::

        with CalibrationServer(CalibrationConfig(seed=1), truth_path=tmp / "truth.jsonl") as s:
            s.base_url  # http://127.0.0.1:<port>/v1
            s.truth()   # what the server did, one TruthRow per request

    The child runs through ``servegate.server._orphan_guard`` in its own session, so it dies with
    this process even on SIGKILL; ``stop`` sends SIGTERM, then SIGKILL after ``stop_timeout_s``.
    The API key, if the config requires one, reaches the child through ``API_KEY_ENV``, never
    its argv. The child's own output goes to ``log_path`` (default: a temporary file, removed
    on stop).
    """

    def __init__(
        self,
        config: CalibrationConfig,
        host: str = "127.0.0.1",
        port: int | None = None,
        truth_path: Path | str | None = None,
        *,
        log_path: Path | str | None = None,
        startup_timeout_s: float = 20.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.config = config
        self.host = host
        self.port = port
        self._truth_path = Path(truth_path) if truth_path is not None else None
        self.log_path = Path(log_path) if log_path is not None else None
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self._temp_log = False
        self._signals: contextlib.ExitStack | None = None

    @property
    def root_url(self) -> str:
        """``http://host:port``, where ``/health`` and ``/metrics`` are served."""
        if self.port is None:
            raise ServerStartError("the calibration server has no port yet; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ending in ``/v1``."""
        return f"{self.root_url}/v1"

    @property
    def truth_path(self) -> Path | None:
        """Where the child appends its truth log (None: not written)."""
        return self._truth_path

    def truth(self) -> list[TruthRow]:
        """The truth log's rows written so far, in completion order (empty without a path).

        The rows are read as written: the child is this package's own app (``TruthRow``).
        """
        if self._truth_path is None or not self._truth_path.exists():
            return []
        with open(self._truth_path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.endswith("\n")]

    def start(self) -> Self:
        """Launch the child and wait until ``/health`` answers. Idempotent while running.

        :raises PortInUseError: the port asked for is taken.
        :raises ServerStartError: the child exited during start-up (its log tail attached).
        :raises ServerHangError: no healthy answer within ``startup_timeout_s``.
        """
        if self.process is not None and self.process.poll() is None:
            return self
        if self.port is None:
            self.port = find_free_port(self.host)
        else:
            check_port_free(self.host, self.port)
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="servegate-calibration-", suffix=".log")
            os.close(fd)
            self.log_path, self._temp_log = Path(name), True
        public = self.config.model_dump_json(exclude={"require_api_key"})
        argv = [sys.executable, "-m", "servegate.server._orphan_guard", str(os.getpid())]
        argv += [sys.executable, "-m", "servegate.calibration.server", "--config-json", public]
        argv += ["--host", self.host, "--port", str(self.port)]
        if self._truth_path is not None:
            argv += ["--truth", str(self._truth_path)]
        env = dict(os.environ)
        env.pop(API_KEY_ENV, None)
        if self.config.require_api_key is not None:
            env[API_KEY_ENV] = self.config.require_api_key
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        atexit.register(self.stop)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop(keep_log=True)
            raise
        return self

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        with httpx.Client(timeout=1.0) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    raise ServerStartError(
                        f"the calibration server exited during start-up with code {code}; "
                        f"its log {self.log_path} ends with: {self._log_tail()!r}",
                        log_path=str(self.log_path),
                        log_tail=self._log_tail(),
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.root_url}/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise ServerHangError(
                        f"the calibration server did not answer {self.root_url}/health within "
                        f"{self.startup_timeout_s:g} s; raise startup_timeout_s on a busy "
                        f"machine, or read {self.log_path}",
                        log_path=str(self.log_path),
                        log_tail=self._log_tail(),
                    )
                time.sleep(0.02)

    def _log_tail(self) -> str:
        try:
            return "".join(
                Path(self.log_path or "").read_text(errors="replace").splitlines(True)[-20:]
            )
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, *, keep_log: bool = False) -> int | None:
        """Stop the child (SIGTERM, then SIGKILL). Idempotent; returns its exit code."""
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("calibration server ignored SIGTERM; killing it")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._temp_log and not keep_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
        atexit.unregister(self.stop)
        return proc.returncode


def main(argv: list[str] | None = None) -> None:
    """Entry point of the child process (``python -m servegate.calibration.server``)."""
    parser = argparse.ArgumentParser(prog="python -m servegate.calibration.server")
    parser.add_argument("--config-json", required=True, help="CalibrationConfig as JSON")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--truth", type=Path, default=None, help="truth log (JSONL)")
    args = parser.parse_args(argv)
    config = CalibrationConfig.model_validate_json(args.config_json)
    key = os.environ.pop(API_KEY_ENV, None)
    if key is not None:
        config = config.model_copy(update={"require_api_key": key})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(config, args.host, args.port, args.truth)


if __name__ == "__main__":
    main()
