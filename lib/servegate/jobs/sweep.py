"""A server-setting sweep: ``servegate sweep SWEEP.yaml`` and ``notebooks/06_sweep.ipynb``.

``run_sweep(path)`` reads the sweep file (``servegate.jobs.sweep_file``: everything is checked
before any server starts), then for each setting starts vLLM with the base's server settings
and the setting's changes, warms it, runs the capacity search (or the listed levels), stops
it, and moves on. Each setting is one run folder tagged with the sweep's ``sweep_id`` and its
``setting``. A setting whose vLLM does not start is recorded with its classified reason (OOM,
a bad flag, a hang) and the sweep goes on; a crash mid-search ends that run as
``server_crashed`` and the sweep goes on. Ctrl-C (or SIGTERM) stops the sweep; every finished
setting is kept, and running the sweep again skips them (``servegate.runs.sweep``:
complete, crashed, or a classified start failure) and redoes the rest.

With ``base_url`` in the base params every setting is measured against that one running
server and its server settings are only recorded: a dry run of the sweep's bookkeeping (the
tests use the calibration server so), never a comparison of settings.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servegate.analysis.cost import DEFAULT_PRICING_PATH
from servegate.analysis.sweep import SweepTable, sweep_table
from servegate.core.errors import ServerError
from servegate.core.progress import Reporter, format_duration, reporter
from servegate.jobs.bench import RunResult, run_benchmark
from servegate.jobs.preflight import check_runs
from servegate.jobs.search import SearchRunParams, run_search
from servegate.jobs.sweep_file import Setting, SweepPlan, load_sweep
from servegate.records.run import RunRecord
from servegate.runs.sweep import is_finished, latest_by_setting, sweep_runs

__all__ = ["SettingOutcome", "SweepResult", "plan_table", "run_sweep"]


@dataclass(frozen=True)
class SettingOutcome:
    """How one setting ended: its run folder (None if none was made) and whether it was
    found finished from an earlier run of the sweep rather than run now."""

    setting: Setting
    run_dir: Path | None
    state: str
    reused: bool
    error_kind: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class SweepResult:
    """The sweep as planned, and each setting's outcome in order."""

    plan: SweepPlan
    outcomes: tuple[SettingOutcome, ...]


def run_sweep(
    sweep: SweepPlan | str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    progress: Reporter | bool = True,
) -> SweepResult:
    """Run (or resume) a sweep; returns each setting's outcome.

    :param sweep: a sweep file, or a plan ``load_sweep`` made.
    :param overrides: benchmark parameters over the file's (e.g. ``{"results_dir": ...}``).
    :raises ConfigError: for a bad sweep file or what this machine lacks, before any server
        starts or any file is written.
    :raises KeyboardInterrupt: when interrupted; the finished settings stay on disk.
    """
    plan = sweep if isinstance(sweep, SweepPlan) else load_sweep(sweep, overrides)
    say = progress if not isinstance(progress, bool) else reporter(None if progress else "off")
    checks = [
        (f"setting {s.name!r}", plan.params_for(s).model_dump(mode="json")) for s in plan.settings
    ]
    notices = check_runs(checks)
    done = {
        name: run
        for name, run in latest_by_setting(sweep_runs(plan.results_dir, plan.sweep_id)).items()
        if is_finished(run)
    }
    n = len(plan.settings)
    kept = sum(1 for s in plan.settings if s.name in done)
    say.stage(
        f"sweep {plan.sweep_id}: {n} settings ({kept} finished before), {plan.mode} mode, "
        f"run folders in {plan.results_dir}"
    )
    for notice in notices:
        say.stage(f"notice: {notice}")
    if plan.attached:
        say.stage(
            "notice: base_url is set: every setting is measured against that one server, and "
            "its server settings are only recorded, not applied"
        )
    outcomes: list[SettingOutcome] = []
    started = time.monotonic()
    for i, setting in enumerate(plan.settings, 1):
        head = f"sweep {i}/{n} {setting.name}"
        if setting.name in done:
            run = done[setting.name]
            say.stage(f"{head}: finished before ({run.state}), {run.run_dir.name}; skipped")
            outcomes.append(_outcome(setting, run.run_dir, run.record, reused=True))
            continue
        say.stage(f"{head}: {setting.describe()}")
        try:
            outcome = _run_setting(plan, setting, say)
        except KeyboardInterrupt:
            finished = kept + sum(1 for o in outcomes if not o.reused)
            say.stage(
                f"sweep {plan.sweep_id} interrupted during {setting.name}: {finished} of {n} "
                "settings finished and kept; run the sweep again to resume"
            )
            raise
        say.stage(f"{head}: {_said(outcome)}")
        outcomes.append(outcome)
    ran = sum(1 for o in outcomes if not o.reused)
    say.stage(
        f"sweep {plan.sweep_id}: {n} settings, {ran} run now in "
        f"{format_duration(time.monotonic() - started)}; the table: notebooks/06_sweep.ipynb"
    )
    return SweepResult(plan, tuple(outcomes))


def plan_table(
    plan: SweepPlan, *, pricing_path: str | Path | None = DEFAULT_PRICING_PATH
) -> SweepTable:
    """The sweep's table (``servegate.analysis.sweep``) in the plan's order, by its limits."""
    settings = [(s.name, s.server) for s in plan.settings]
    return sweep_table(
        plan.results_dir,
        plan.sweep_id,
        settings=settings,
        limits=plan.limits,
        pricing_path=pricing_path,
    )


def _run_setting(plan: SweepPlan, setting: Setting, say: Reporter) -> SettingOutcome:
    """Measure one setting; a server that does not start is an outcome, not an error."""
    params = plan.params_for(setting)
    tags = {"sweep_id": plan.sweep_id, "setting": setting.record()}
    try:
        result: RunResult
        if isinstance(params, SearchRunParams):
            result = run_search(params, progress=say, tags=tags).run
        else:
            result = run_benchmark(params, progress=say, tags=tags)
    except ServerError as exc:
        # run_benchmark closed the run folder as failed, with the reason; find it again.
        runs = latest_by_setting(sweep_runs(plan.results_dir, plan.sweep_id))
        run = runs.get(setting.name)
        if run is None:
            return SettingOutcome(setting, None, "failed", False, exc.kind, str(exc))
        return _outcome(setting, run.run_dir, run.record, reused=False)
    return _outcome(setting, result.run_dir, result.record, reused=False)


def _outcome(setting: Setting, run_dir: Path, record: RunRecord, *, reused: bool) -> SettingOutcome:
    return SettingOutcome(setting, run_dir, record.state, reused, record.error_kind, record.error)


def _said(outcome: SettingOutcome) -> str:
    """One progress line: how the setting ended, and where its run folder is."""
    where = outcome.run_dir.name if outcome.run_dir else "no run folder"
    if outcome.state == "complete":
        return f"complete, {where}"
    kind = f" ({outcome.error_kind})" if outcome.error_kind else ""
    why = (outcome.error or "").splitlines()[0] if outcome.error else ""
    why = why if len(why) <= 300 else why[:299] + "…"
    return f"{outcome.state}{kind}: {why}; {where}; the sweep goes on"
