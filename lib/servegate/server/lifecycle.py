"""The vLLM server's lifecycle: launch, wait for health, warm up, watch, stop.

A server started here always listens on 127.0.0.1, logs to a file, and cannot outlive its
caller: it runs in its own process group, is stopped by the context manager on any exception
or signal, and gets SIGTERM from the kernel if the launching process dies without cleaning up
(``servegate.server._orphan_guard``). Launch settings live in ``servegate.server.launch``; failure
classification in ``servegate.server.failures``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Self, TypedDict

import httpx
import psutil

from servegate.core.errors import (
    ServerCrashError,
    ServerError,
    ServerHangError,
    ServerOOMError,
    ServerStartError,
    SignalInterrupt,
)
from servegate.core.progress import Reporter, format_duration, plural, reporter
from servegate.server.endpoint import Endpoint
from servegate.server.failures import OOM_ADVICE, classify_start_failure, read_tail
from servegate.server.launch import (
    ServerConfig,
    build_command,
    check_port_free,
    engine_kind,
    find_free_port,
)
from servegate.server.memory import PeakMemory
from servegate.server.model_artifact import verify_model_dir

__all__ = ["ManagedProcess", "ServerConfig", "ServerStory", "VLLMServer", "handle_termination"]

log = logging.getLogger(__name__)


class ServerStory(TypedDict):
    """What happened to a server we launched: run.json's ``server`` (``VLLMServer.story``).

    Times are Unix seconds (None before the event); ``config`` is the ``ServerConfig`` as JSON,
    without ``env`` (it may hold secrets).
    """

    engine: str
    base_url: str
    pid: int | None
    log_path: str | None
    started_at: float | None
    ready_at: float | None
    startup_s: float | None
    exit_code: int | None
    crashed: bool
    oom: bool
    peak_rss_mib: float | None  # the process tree's summed RSS, sampled each second
    config: dict[str, object]  # JSON boundary: ServerConfig.model_dump(mode="json")


@contextlib.contextmanager
def handle_termination() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into ``SignalInterrupt`` inside the block (main thread only).

    Ctrl-C already raises ``KeyboardInterrupt``; this makes a ``kill`` or a closed terminal
    unwind the same way, so ``finally`` blocks stop servers and write records.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupt(signum: int, frame: FrameType | None) -> None:
        raise SignalInterrupt(signum)

    previous = {sig: signal.signal(sig, raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class ManagedProcess:
    """``with`` support for a server this process owns: ``start()`` on entry, ``stop()`` on
    exit, and SIGTERM/SIGHUP turned into an interrupt in between so the exit always runs."""

    _signals: contextlib.ExitStack | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> int | None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._signals = contextlib.ExitStack()
        self._signals.enter_context(handle_termination())
        try:
            return self.start()
        except BaseException:
            self._signals.close()
            raise

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop()
        finally:
            if self._signals is not None:
                self._signals.close()


class VLLMServer(ManagedProcess, Endpoint):
    """A vLLM server owned by this process.

    Use as a context manager::

        with VLLMServer(ServerConfig(model="data/models/smollm2-135m-instruct")) as server:
            server.base_url  # http://127.0.0.1:<port>/v1

    ``start`` returns once ``/health`` answers 200 and the warm-up requests are done; it raises
    ``ServerOOMError``, ``ServerStartError`` or ``ServerHangError`` (the process is stopped
    first). ``check`` raises ``ServerCrashError`` when the process has exited since.
    """

    def __init__(
        self,
        config: ServerConfig,
        *,
        progress: Reporter | None = None,
        usual_startup_s: float | None = None,
        usual_note: str = "",
    ) -> None:
        """:param progress: where the start is reported (default: the mode that suits where
            this runs, or nothing with ``config.progress`` False).
        :param usual_startup_s: how long a start usually takes here (earlier runs), shown
            beside the elapsed time instead of a count-down of the time-out.
        """
        self.config = config
        self.progress: Reporter = progress or reporter(None if config.progress else "off")
        self.usual_startup_s = usual_startup_s
        self.usual_note = usual_note
        self.engine = engine_kind()
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.log_path: Path | None = None
        self.started_at: float | None = None
        self.ready_at: float | None = None
        self.exit_code: int | None = None
        self.crash: ServerCrashError | None = None
        self.memory: PeakMemory | None = None
        self._log_file: IO[bytes] | None = None
        self._signals: contextlib.ExitStack | None = None
        super().__init__(base_url="http://127.0.0.1:0/v1", model=config.served_model_name)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Validate, launch, wait for health, warm up. Idempotent while running."""
        if self.process is not None and self.process.poll() is None:
            return self
        cfg = self.config
        verify_model_dir(cfg.model)
        if cfg.port is None:
            port = find_free_port(cfg.host)
        else:
            check_port_free(cfg.host, cfg.port)
            port = cfg.port
        argv, env = build_command(cfg, self.engine, port)
        self.port = port
        self.base_url = f"http://{cfg.host}:{port}/v1"
        self.log_path = cfg.log_path or Path("logs") / f"vllm-{port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the server
        guard = [sys.executable, "-m", "servegate.server._orphan_guard", str(os.getpid())]
        log.info(
            "starting vLLM (%s build) on %s, log %s", self.engine, self.base_url, self.log_path
        )
        self.started_at = time.time()
        self.process = subprocess.Popen(
            guard + argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own process group: stop() can signal vLLM and its workers
        )
        atexit.register(self.stop)
        self.memory = PeakMemory(self.process.pid).start()
        try:
            self._wait_healthy()
            self.ready_at = time.time()
            if cfg.warmup_requests:
                self.progress.stage(
                    f"warm-up: {plural(cfg.warmup_requests, 'request')}, not measured"
                )
            self.warmup(cfg.warmup_requests)
        except BaseException:
            self.stop()
            raise
        log.info("vLLM ready after %.1f s", self.ready_at - self.started_at)
        return self

    def _wait_healthy(self) -> None:
        cfg = self.config
        assert self.process is not None and self.log_path is not None
        deadline = time.monotonic() + cfg.startup_timeout_s
        started = time.monotonic()
        wait = self.progress.waiter("vLLM starting", self.usual_startup_s, self.usual_note)
        with httpx.Client(timeout=2.0) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    self.exit_code = code
                    wait.close(f"vLLM exited during start-up (code {code})")
                    raise self._start_error(code)
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.root_url}/health").status_code == 200:
                        elapsed = format_duration(time.monotonic() - started)
                        usual = f" ({self.usual_note})" if self.usual_note else ""
                        wait.close(f"vLLM ready after {elapsed}{usual}")
                        return
                if time.monotonic() > deadline:
                    wait.close(f"vLLM did not start within {cfg.startup_timeout_s:g} s")
                    tail = read_tail(self.log_path)
                    raise ServerHangError(
                        f"vLLM did not answer /health within {cfg.startup_timeout_s:g} s "
                        f"(log {self.log_path}); raise startup_timeout_s if it is still compiling, "
                        "or read the log's last lines for where it stopped",
                        log_path=str(self.log_path),
                        log_tail=tail,
                    )
                time.sleep(0.5)
                wait.tick(read_tail(self.log_path, 1))

    def _start_error(self, code: int) -> ServerError:
        assert self.log_path is not None
        if self._log_file is not None:
            self._log_file.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        failure = classify_start_failure(text, code)
        tail = read_tail(self.log_path)
        if failure.kind == "oom":
            return ServerOOMError(
                f"vLLM ran out of memory at start-up (exit code {code}): {failure.evidence!r}; "
                f"{OOM_ADVICE}",
                log_path=str(self.log_path),
                log_tail=tail,
            )
        return ServerStartError(
            f"vLLM exited during start-up with code {code}: {failure.evidence!r}; "
            f"read {self.log_path} for the whole story",
            log_path=str(self.log_path),
            log_tail=tail,
        )

    def check(self) -> None:
        """Raise ``ServerCrashError`` if the server process has exited since it became healthy."""
        if self.process is None:
            raise ServerCrashError("vLLM was never started; call start() first")
        code = self.process.poll()
        if code is None:
            return
        self.exit_code = code
        if self.crash is None:
            assert self.log_path is not None
            tail = read_tail(self.log_path)
            # Mid-run, only the log's own words make it an OOM: a SIGKILL may be the kernel's
            # OOM killer or someone's kill -9, and the crash fails the stability gate either way.
            failure = classify_start_failure(tail, None)
            oom = failure.kind == "oom"
            evidence = failure.evidence
            if not oom and code == -signal.SIGKILL:
                evidence = "killed by SIGKILL (the kernel's OOM killer does this, so does kill -9)"
            served = time.time() - (self.ready_at or self.started_at or time.time())
            self.crash = ServerCrashError(
                f"vLLM exited with code {code} after {served:.0f} s of serving"
                + (" (out of memory)" if oom else "")
                + f": {evidence!r}; see {self.log_path}",
                log_path=str(self.log_path),
                log_tail=tail,
                oom=oom,
            )
        raise self.crash

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        """Stop the server and every process it started. Idempotent; returns the exit code.

        SIGTERM to the process group lets vLLM shut its engine down; after ``stop_timeout_s``
        the survivors get SIGKILL. Children are listed first, so even one that moved to a new
        session is not left behind.
        """
        proc = self.process
        if proc is None:
            return None
        if self.memory is not None:
            self.memory.stop()
        if proc.poll() is None:
            try:
                children = psutil.Process(proc.pid).children(recursive=True)
            except psutil.Error:
                children = []
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=self.config.stop_timeout_s)
            except subprocess.TimeoutExpired:
                log.warning(
                    "vLLM ignored SIGTERM for %.0f s; killing it", self.config.stop_timeout_s
                )
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            _, alive = psutil.wait_procs(children, timeout=self.config.stop_timeout_s)
            for child in alive:
                with contextlib.suppress(psutil.Error):
                    child.kill()
        else:
            # The server died on its own (a crash, the OOM killer): its engine processes live on
            # in its process group, holding gigabytes, unless they are killed too. The group
            # keeps its id while any member lives, so this reaches only vLLM's own processes.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.exit_code = proc.returncode
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        atexit.unregister(self.stop)
        return self.exit_code

    def story(self) -> ServerStory:
        """What happened to the server, for a run's record (no secrets: the argv has none)."""
        return {
            "engine": self.engine,
            "base_url": self.base_url,
            "pid": self.process.pid if self.process else None,
            "log_path": str(self.log_path) if self.log_path else None,
            "started_at": self.started_at,
            "ready_at": self.ready_at,
            "startup_s": (self.ready_at - self.started_at)
            if self.ready_at and self.started_at
            else None,
            "exit_code": self.exit_code,
            "crashed": self.crash is not None,
            "oom": self.crash is not None and self.crash.oom,
            "peak_rss_mib": self.memory.peak_mib if self.memory else None,
            "config": self.config.model_dump(mode="json", exclude={"env"}),
        }
