"""The fixture runs' requests and level rows, read once for the figure tests."""

from __future__ import annotations

import pandas as pd
import pytest

from servegate import plots
from servegate.runs.reader import load_run
from tests.helpers import (
    FIXTURE_RUNS,
    HOSTED_RUN,
    SKIPPED_RUN,
    VLLM_RUN,
    read_requests,
)


@pytest.fixture(scope="module")
def requests() -> pd.DataFrame:
    """Every request of the three fixture runs, as requests.csv holds them."""
    return read_requests(*(FIXTURE_RUNS / run for run in (VLLM_RUN, HOSTED_RUN, SKIPPED_RUN)))


@pytest.fixture(scope="module")
def levels() -> pd.DataFrame:
    """The level rows of the measured fixture runs (vLLM, then hosted)."""
    return pd.concat(
        [plots.levels_frame(load_run(FIXTURE_RUNS / run)) for run in (VLLM_RUN, HOSTED_RUN)],
        ignore_index=True,
    )
