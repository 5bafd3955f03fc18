"""read_run: one run folder as typed frames, read through the validating reader."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

import servegate
from servegate import plots
from servegate.core.errors import RunFolderError
from servegate.core.names import REQUEST_COLUMNS, REQUEST_DTYPES
from servegate.history.read import read_history
from servegate.report import view as report_view
from servegate.runs.frames import LEVEL_DTYPES, levels_frame
from servegate.runs.reader import load_run
from servegate.runs.typed import read_run
from tests.helpers import FIXTURE_RUNS, HOSTED_RUN, SKIPPED_RUN, VLLM_RUN, clone_run


def _dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {c: str(t) for c, t in frame.dtypes.items()}


@pytest.mark.parametrize("run_id", [VLLM_RUN, HOSTED_RUN, SKIPPED_RUN])
def test_every_frame_has_its_declared_dtypes(run_id: str) -> None:
    frames = read_run(FIXTURE_RUNS / run_id)
    assert list(frames.requests.columns) == list(REQUEST_COLUMNS)
    assert _dtypes(frames.requests) == REQUEST_DTYPES
    assert _dtypes(frames.levels) == LEVEL_DTYPES  # a skipped run too: no rows, every column
    assert frames.run_id == run_id == frames.run.record.run_id


def test_the_level_table_declares_every_column_levels_frame_makes() -> None:
    assert list(levels_frame(load_run(FIXTURE_RUNS / HOSTED_RUN)).columns) == list(LEVEL_DTYPES)


def test_values_are_the_readers_with_whole_numbers_and_inf_kept() -> None:
    frames = read_run(FIXTURE_RUNS / HOSTED_RUN)
    raw = load_run(FIXTURE_RUNS / HOSTED_RUN).requests
    assert frames.requests["e2e_ms"].tolist() == raw["e2e_ms"].tolist()
    assert frames.requests["status"].tolist() == raw["status"].tolist()
    assert all(type(v) is int for v in frames.requests["concurrency"].tolist())
    c1 = frames.levels.set_index("level").loc["c1"]
    assert c1["e2e_p95_ms"] == math.inf and c1["n_error"] == 1  # its one failed request
    assert frames.levels["concurrency"].tolist() == [1, 8]


def test_a_relative_folder_is_under_the_project_root(lab_project: Path) -> None:
    clone_run(VLLM_RUN, lab_project / "eval/results", VLLM_RUN)
    frames = read_run(f"eval/results/{VLLM_RUN}")  # the working directory is notebooks/
    assert frames.run.run_dir == lab_project / "eval/results" / VLLM_RUN


def test_a_broken_folder_is_refused_by_the_reader(tmp_path: Path) -> None:
    folder = clone_run(VLLM_RUN, tmp_path, VLLM_RUN)
    text = (folder / "requests.csv").read_text()
    (folder / "requests.csv").write_text(text.replace("e2e_ms", "e2e", 1))
    with pytest.raises(RunFolderError, match=r"requests.csv line 1: the header"):
        read_run(folder)


def test_the_notebook_views_take_the_typed_frames() -> None:
    frames = read_run(FIXTURE_RUNS / HOSTED_RUN)
    html = report_view.run_summary_html(frames.levels)
    assert "c1" in html and "c8" in html
    fig = plots.latency_distributions(frames.requests, p50_ms=1000, p95_ms=3000)
    assert fig.axes


def test_the_package_exports_the_readers() -> None:
    assert servegate.read_run is read_run and servegate.read_history is read_history
    from servegate import RunFrames

    assert isinstance(read_run(FIXTURE_RUNS / VLLM_RUN), RunFrames)
    with pytest.raises(AttributeError, match="no attribute 'read_runs'"):
        _ = servegate.read_runs  # type: ignore[attr-defined]
