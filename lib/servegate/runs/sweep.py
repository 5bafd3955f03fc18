"""The run folders of one sweep: found by run.json's ``sweep_id``, one chosen per setting.

A sweep (``servegate.jobs.sweep``) tags each setting's run folder with ``sweep_id`` and
``setting``. Running the sweep again keeps a setting whose run *finished* (``is_finished``)
and redoes one that was interrupted or killed; the table (``servegate.analysis.sweep``) shows
each setting's newest finished run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from servegate.core.errors import RunFolderError
from servegate.core.names import RUN_JSON
from servegate.core.paths import resolve_path
from servegate.runs.reader import RunData, load_run

__all__ = ["START_FAILURES", "is_finished", "latest_by_setting", "sweep_runs"]

log = logging.getLogger(__name__)

#: ``error_kind`` of a run whose vLLM did not start: a result of its setting, kept on resume.
START_FAILURES = ("start_failed", "oom", "hang")


def is_finished(run: RunData) -> bool:
    """Whether a setting's run is its result: complete, crashed, or a classified start
    failure. An interrupted or killed run is not: running the sweep again redoes it."""
    record = run.record
    if record.state in ("complete", "server_crashed"):
        return True
    return record.state == "failed" and record.error_kind in START_FAILURES


def sweep_runs(results_dir: str | Path, sweep_id: str) -> list[RunData]:
    """Every readable run folder of ``sweep_id`` under ``results_dir``, oldest first.

    Only run.json's ``sweep_id`` is read from the other folders (a results folder may hold
    hundreds of runs); a folder of this sweep that cannot be read is left out with a warning
    naming ``load_run``'s reason, as ``list_runs`` does.
    """
    folder = resolve_path(results_dir)
    if not folder.is_dir():
        return []
    runs = []
    for run_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:  # JSON boundary: a peek at one key before reading the whole run
            tagged = json.loads((run_dir / RUN_JSON).read_text(encoding="utf-8")).get("sweep_id")
        except (OSError, ValueError, AttributeError):
            continue
        if tagged != sweep_id:
            continue
        try:
            runs.append(load_run(run_dir))
        except RunFolderError as exc:
            log.warning("skipping run folder %s of sweep %s: %s", run_dir, sweep_id, exc)
    return sorted(runs, key=lambda r: (r.created_at, r.run_id))


def latest_by_setting(runs: Sequence[RunData]) -> dict[str, RunData]:
    """Each setting's run: its newest finished one, else its newest one."""
    chosen: dict[str, RunData] = {}
    for run in runs:  # oldest first: a later run replaces an earlier one unless it is worse
        setting = run.record.setting
        if setting is None:
            continue
        before = chosen.get(setting.name)
        if before is None or is_finished(run) or not is_finished(before):
            chosen[setting.name] = run
    return chosen
