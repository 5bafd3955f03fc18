"""One run folder as typed frames: ``read_run``, what a notebook or a script reads a run with.

Built on ``servegate.runs.reader.load_run`` (which validates the folder: run.json's version and
record, requests.csv's header, rows and counts) and ``servegate.runs.frames.levels_frame``; this
module only gives their columns the declared dtypes: ``servegate.core.names.REQUEST_DTYPES``
for the requests, ``servegate.runs.frames.LEVEL_DTYPES`` for the levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from servegate.core.names import REQUEST_DTYPES
from servegate.core.paths import resolve_path
from servegate.runs.frames import LEVEL_DTYPES, levels_frame
from servegate.runs.reader import RunData, load_run

__all__ = ["RunFrames", "read_run"]


@dataclass(frozen=True, eq=False)
class RunFrames:
    """A run folder read back as typed frames.

    :param requests: one row per measured request (requests.csv, failures included), columns
        ``REQUEST_COLUMNS``: text ``string`` ("" where empty), whole numbers ``Int64``
        (``<NA>`` where empty), times and rates ``float64`` (NaN where empty).
    :param levels: one row per load level (``levels_frame``), columns ``LEVEL_DTYPES``: counts
        ``Int64``, estimates ``float64`` with their 95% interval ends (NaN: unbounded on that
        side; ``inf``: a percentile among failed requests). A skipped run has no rows.
    :param run: the validated folder (``RunData``): ``run.record`` is run.json, typed.
    """

    requests: pd.DataFrame
    levels: pd.DataFrame
    run: RunData

    @property
    def run_id(self) -> str:
        return self.run.run_id


def read_run(run_dir: str | Path) -> RunFrames:
    """Read one run folder (relative: under the project root) as typed frames.

    :param run_dir: the run folder, e.g. ``eval/results/20261126T231345Z_try_vllm``.
    :raises RunFolderError: when the folder is missing or fails ``load_run``'s checks; the
        message names the file, the line and the fix.
    """
    run = load_run(resolve_path(run_dir))
    requests = run.requests.astype(REQUEST_DTYPES)
    levels = levels_frame(run).reindex(columns=list(LEVEL_DTYPES)).astype(LEVEL_DTYPES)
    return RunFrames(requests=requests, levels=levels, run=run)
