"""Fixtures shared by the unit tests of several layers: sweeps' run folders, made once."""

from __future__ import annotations

import pytest

from tests.helpers import CalibrationSweep, make_calibration_sweep, make_quality_sweep


@pytest.fixture(scope="session")
def calibration_sweep(tmp_path_factory: pytest.TempPathFactory) -> CalibrationSweep:
    """Real capacity searches against calibration servers, tagged as one sweep (read only)."""
    return make_calibration_sweep(tmp_path_factory.mktemp("sweep") / "results")


@pytest.fixture(scope="session")
def quality_sweep(tmp_path_factory: pytest.TempPathFactory) -> CalibrationSweep:
    """A sweep whose fastest setting answers wrongly (``make_quality_sweep``; read only)."""
    return make_quality_sweep(tmp_path_factory.mktemp("quality-sweep") / "results")
