"""Fixtures shared by the unit tests of several layers: a sweep's run folders, made once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.jobs.search import run_search

#: The limits of the calibration sweep: its servers take ~15 ms a request below their knee,
#: and a request beyond the knee waits 150 ms more.
SWEEP_LIMITS = {"p95_ms": 80.0, "p50_ms": 40.0, "max_concurrency": 8, "max_requests": 120}


@dataclass(frozen=True)
class CalibrationSweep:
    """Run folders of one sweep measured against calibration servers: ``base`` (a knee at 3
    requests), ``more-slots`` (at 6) and ``slow`` (100 ms to the first token: nothing passes),
    plus one run of another sweep in the same folder."""

    results: Path
    sweep_id: str = "calsweep-0001"
    p95_ms: float = SWEEP_LIMITS["p95_ms"]
    p50_ms: float = SWEEP_LIMITS["p50_ms"]


def _search(
    results: Path, sweep_id: str, name: str, server: dict, *, top: int = 8, **config: object
) -> None:
    settings = {
        "seed": 5,
        "ttft_ms": {"kind": "lognormal", "median": 8, "sigma": 0.3},
        "itl_ms": 1,
        "output_tokens_min": 4,
        "output_tokens_max": 8,
        "knee_delay_ms": 150,
        **config,
    }
    with CalibrationServer(CalibrationConfig.model_validate(settings)) as srv:
        run_search(
            {
                "base_url": srv.base_url,
                "model": "calibration",
                "results_dir": str(results),
                "max_tokens": 16,
                "run_label": f"cal-{name}",
                "warmup_requests": 0,
                "search": {**SWEEP_LIMITS, "max_concurrency": top},
            },
            progress=False,
            tags={"sweep_id": sweep_id, "setting": {"name": name, "server": server}},
        )


@pytest.fixture(scope="session")
def calibration_sweep(tmp_path_factory: pytest.TempPathFactory) -> CalibrationSweep:
    found = CalibrationSweep(tmp_path_factory.mktemp("sweep") / "results")
    _search(found.results, found.sweep_id, "base", {}, slots=3)
    _search(found.results, found.sweep_id, "more-slots", {"max_num_seqs": 6}, slots=6)
    _search(found.results, found.sweep_id, "slow", {"enforce_eager": True}, ttft_ms=100)
    _search(found.results, "another-sweep", "base", {}, top=1)
    return found
