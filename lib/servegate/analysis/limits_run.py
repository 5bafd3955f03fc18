"""A measured run against its own hardware's physical bound: the efficiency reached per level.

``run_setup`` finds what a run served on: its model's shape (the model folder's config.json,
else the model sheet entry named like the folder), its quantization (the server's
``quantization``, else its ``dtype``) and its hardware option (the GPU's name against each
option's ``match``; no GPU: the sheet's CPU option). ``level_efficiencies`` then sets each
level's measured throughput and latencies beside their bounds, with the level's own token
counts (the successful requests' ``input_tokens`` and ``output_tokens``).

Efficiency is measured / bound for a throughput and bound / measured for a latency: 1.0 is the
physical limit, and above 1.0 the bound (or a datasheet figure) is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from servegate.analysis.limits import (
    ModelShape,
    Quantization,
    Workload,
    latency_bounds,
    quantization,
)
from servegate.analysis.limits_data import HardwareOption, model_from_config
from servegate.core.errors import LimitsError
from servegate.core.names import Status
from servegate.core.paths import resolve_path
from servegate.runs.reader import RunData

__all__ = ["LevelEfficiency", "RunSetup", "level_efficiencies", "run_setup", "run_workload"]


@dataclass(frozen=True)
class RunSetup:
    """What a run served on, as the bounds take it, and how each part was found."""

    model: ModelShape
    quant: Quantization
    hardware_key: str
    hardware: HardwareOption
    basis: str


def _model(run: RunData, models: Mapping[str, ModelShape], name: str) -> tuple[ModelShape, str]:
    if name:
        if name not in models:
            raise LimitsError(f"model {name!r} is not in the model sheet (known: {sorted(models)})")
        return models[name], f"model sheet entry {name}"
    path = str(run.record.manifest.model.path or run.params.get("model_path") or "")
    folder = resolve_path(path) if path else None
    if folder is not None and (folder / "config.json").is_file():
        return model_from_config(folder), f"{path}/config.json"
    key = Path(path).name if path else ""
    if key in models:
        return models[key], f"model sheet entry {key} (the folder {path} is not here)"
    raise LimitsError(
        f"run {run.run_id}: its model {path or '(no path)'} has no config.json here and no "
        f"model sheet entry (known: {sorted(models)}); add it to data/limits/models.yaml"
    )


def _hardware(
    run: RunData, options: Mapping[str, HardwareOption], key: str
) -> tuple[str, HardwareOption]:
    if key:
        if key not in options:
            raise LimitsError(f"hardware {key!r} is not in the hardware sheet ({sorted(options)})")
        return key, options[key]
    hardware = run.record.manifest.hardware
    gpus = [g.get("name", "") for g in hardware.get("gpus") or [] if isinstance(g, Mapping)]
    for name, option in options.items():
        if gpus and option.kind == "gpu" and option.match and re.search(option.match, gpus[0]):
            return name, option
        if not gpus and option.kind == "cpu":
            return name, option
    raise LimitsError(
        f"run {run.run_id} ran on {gpus[0] if gpus else 'a CPU'}, which no entry of the "
        "hardware sheet matches; add one to data/hardware.yaml (match: a pattern of its name)"
    )


def run_setup(
    run: RunData,
    models: Mapping[str, ModelShape],
    options: Mapping[str, HardwareOption],
    *,
    model: str = "",
    hardware: str = "",
) -> RunSetup:
    """The model, quantization and hardware a run served on (``model``/``hardware``: a sheet
    key that overrides what the run's folder and manifest say).

    :raises LimitsError: the model or hardware cannot be found, or the quantization is unknown.
    """
    shape, model_basis = _model(run, models, model)
    server = run.params.get("server") or {}
    name = server.get("quantization") or server.get("dtype") or "auto"
    key, option = _hardware(run, options, hardware)
    return RunSetup(shape, quantization(name), key, option, f"{model_basis}; {name}; {key}")


def run_workload(run: RunData, level: str | None = None) -> Workload:
    """The successful requests' token counts (of one level, or all), as a workload.

    :raises LimitsError: no successful request with both counts.
    """
    frame = run.requests
    if level is not None and len(frame):
        frame = frame[frame["level"] == level]
    if len(frame):
        frame = frame[frame["status"] == Status.OK].dropna(subset=["input_tokens", "output_tokens"])
    if not len(frame):
        raise LimitsError(f"run {run.run_id} has no successful request with token counts")
    return Workload(
        tuple(int(n) for n in frame["input_tokens"]),
        tuple(int(n) for n in frame["output_tokens"]),
        f"the measured requests of {run.run_id}",
    )


@dataclass(frozen=True)
class LevelEfficiency:
    """One level: measured beside the bound at efficiency 1, and the share reached."""

    level: str
    concurrency: int
    measured_tok_per_s: float | None
    bound_tok_per_s: float
    throughput_efficiency: float | None
    measured_e2e_p50_ms: float | None
    bound_e2e_p50_ms: float
    e2e_efficiency: float | None
    measured_ttft_p50_ms: float | None
    bound_ttft_p50_ms: float


def _share(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or not np.isfinite(num) or not np.isfinite(den) or den <= 0:
        return None
    return float(num / den)


def level_efficiencies(run: RunData, setup: RunSetup) -> list[LevelEfficiency]:
    """Each closed-loop level of ``run`` with successful requests, against its bound."""
    out = []
    for summary in run.levels:
        if summary.concurrency is None or not summary.n_ok:
            continue
        try:
            workload = run_workload(run, summary.level)
        except LimitsError:
            continue
        bound = latency_bounds(
            setup.model, setup.quant, setup.hardware, workload, summary.concurrency
        )
        tok = summary.throughput.output_tok_per_s.value if summary.throughput else None
        e2e = summary.e2e_ms.p50.value if summary.e2e_ms else None
        ttft = summary.ttft_ms.p50.value if summary.ttft_ms else None
        out.append(
            LevelEfficiency(
                level=summary.level,
                concurrency=summary.concurrency,
                measured_tok_per_s=tok,
                bound_tok_per_s=bound.throughput_tok_per_s,
                throughput_efficiency=_share(tok, bound.throughput_tok_per_s),
                measured_e2e_p50_ms=e2e,
                bound_e2e_p50_ms=bound.e2e_p50_ms,
                e2e_efficiency=_share(bound.e2e_p50_ms, e2e),
                measured_ttft_p50_ms=ttft,
                bound_ttft_p50_ms=bound.ttft_p50_ms,
            )
        )
    return out
