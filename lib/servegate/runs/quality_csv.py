"""A run folder's ``quality.csv``: each quality item's status, verdict, reason and whole answer.

Written once, atomically, when the quality pass ends (``servegate.jobs.quality_pass``): a run
killed mid-pass has no quality.csv and run.json says the pass did not finish, never a torn
file. Read back by the report with ``read_quality``, which checks the header, that ``passed``
is ``true``/``false``, the statuses, and that the counts agree with run.json's ``quality``.
Answers are stored whole, quoted by the csv module: a newline or a comma inside stays in its
cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from servegate.core.errors import RunFolderError
from servegate.core.fsutil import atomic_write_text
from servegate.core.names import QUALITY_COLUMNS, QUALITY_CSV, STATUSES
from servegate.records.run import RunRecord

__all__ = ["read_quality", "write_quality"]

_FIX = "the file was edited or truncated; delete quality.csv and run the benchmark again"


def write_quality(run_dir: Path, rows: Iterable[Mapping[str, object]]) -> Path:
    """Write ``quality.csv`` in ``run_dir`` atomically; ``passed`` as ``true``/``false``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=QUALITY_COLUMNS, extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "passed": "true" if row["passed"] else "false"})
    path = run_dir / QUALITY_CSV
    atomic_write_text(path, buffer.getvalue())
    return path


def read_quality(run_dir: Path, record: RunRecord) -> pd.DataFrame | None:
    """``quality.csv`` of a run as a frame (``passed`` bool, the rest strings), or None when
    the run made no quality pass (no ``quality`` in run.json and no file).

    :raises RunFolderError: when the file is missing though run.json has ``quality``, or its
        header, a ``passed`` or ``status`` cell, or its counts disagree with run.json.
    """
    path = run_dir / QUALITY_CSV

    def fail(problem: str, fix: str = _FIX) -> RunFolderError:
        return RunFolderError(f"{path}: {problem}; {fix}", run_dir=str(run_dir), file=QUALITY_CSV)

    summary = record.quality
    if not path.is_file():
        if summary is not None:
            raise fail("is missing, though run.json has a `quality` block")
        return None
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise fail(f"cannot be read as CSV ({exc})") from None
    if tuple(frame.columns) != QUALITY_COLUMNS:
        raise fail(f"header is {list(frame.columns)}, expected {list(QUALITY_COLUMNS)}")
    bad = frame[~frame["passed"].isin(("true", "false"))]
    if not bad.empty:
        line = int(bad.index[0]) + 2  # 1-based, after the header
        raise fail(f"line {line}: passed is {bad['passed'].iloc[0]!r}, expected true or false")
    unknown = frame[~frame["status"].isin(STATUSES)]
    if not unknown.empty:
        line = int(unknown.index[0]) + 2
        raise fail(f"line {line}: status {unknown['status'].iloc[0]!r} is not one of {STATUSES}")
    frame["passed"] = frame["passed"] == "true"
    if summary is not None and (len(frame), int(frame["passed"].sum())) != (
        summary.n,
        summary.n_passed,
    ):
        raise fail(
            f"holds {len(frame)} items, {int(frame['passed'].sum())} passed, but run.json's "
            f"quality says {summary.n} and {summary.n_passed}"
        )
    return frame
