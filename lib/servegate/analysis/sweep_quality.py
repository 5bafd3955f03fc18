"""A sweep's answers: each setting's accuracy, judged against the base setting's answers.

A sweep varies the server settings of one model (dtype, quantization, flags), so the question
about a setting's answers is "does it answer as well as the base does?". Each run of a sweep
ends with a quality pass (``servegate.jobs.quality_pass``); here a setting's ``quality.csv``
is judged by ``servegate.analysis.quality.judge_quality`` against the base's, paired by item:
PASS when the whole 95% interval of setting-minus-base accuracy is above ``-margin``, FAIL
when it is wholly below, INCONCLUSIVE otherwise.

- The base is the reference: PASS when it made a quality pass, INCONCLUSIVE when it made none.
- Without a base quality pass (no base setting, it did not run or has no pass, or it answered
  another checks file) a setting is judged against the absolute ``floor`` instead.
- A setting without a quality pass is INCONCLUSIVE, so it cannot win on speed alone.
- When no run of the sweep made a quality pass (``quality_prompts: null``), answers were not
  checked: ``judge_settings`` returns None and the sweep decides on latency alone, saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from servegate.analysis.gate_rule import Verdict
from servegate.analysis.quality import QualityJudgement, accuracy, judge_quality
from servegate.core.errors import RunFolderError
from servegate.core.stats import Estimate
from servegate.runs.quality_csv import read_quality
from servegate.runs.reader import RunData

__all__ = ["SettingQuality", "judge_settings", "passed_over", "quality_columns"]

Basis = Literal["reference", "base", "floor", "none"]
_NO_PASS = Estimate(None, None, None, 0, 0.95, "wilson", "share")


def _pct(value: float | None, sign: str = "%") -> str:
    return "?" if value is None else f"{value * 100:.0f}{sign}"


def _pts(value: float | None) -> str:
    return "?" if value is None else f"{value * 100:+.0f}"


@dataclass(frozen=True)
class SettingQuality:
    """One setting's answers: its accuracy and the verdict on them (see the module doc).

    :param basis: ``"reference"`` (the base itself), ``"base"`` (paired against the base),
        ``"floor"`` (the absolute floor) or ``"none"`` (no quality pass to judge).
    :param accuracy: the setting's accuracy with its Wilson 95% interval (value None: no pass).
    :param difference: setting minus base accuracy, paired by item (basis ``"base"`` only).
    :param threshold: ``-margin`` against the base, the floor against the floor.
    """

    verdict: Verdict
    basis: Basis
    accuracy: Estimate
    note: str
    threshold: float
    reference: str | None = None
    reference_accuracy: float | None = None
    difference: Estimate | None = None
    n_worse: int = 0

    def accuracy_text(self) -> str:
        """``41% [33 - 49]``, or ``no quality pass``."""
        acc = self.accuracy
        if acc.value is None:
            return "no quality pass"
        return f"{_pct(acc.value)} [{_pct(acc.ci_low, '')} - {_pct(acc.ci_high, '')}]"

    def judged_text(self) -> str:
        """The verdict and what it rests on: ``FAIL against base: -29 pts [-37, -21]``."""
        if self.basis == "reference":
            return "PASS (the reference)"
        if self.basis == "base" and self.difference is not None:
            d = self.difference
            return (
                f"{self.verdict} against {self.reference}: {_pts(d.value)} pts "
                f"[{_pts(d.ci_low)}, {_pts(d.ci_high)}]"
            )
        if self.basis == "floor":
            return f"{self.verdict} against the floor {_pct(self.threshold)}"
        return f"{self.verdict}: no quality pass"

    def winning_text(self) -> str:
        """What the winner's answers were judged by, for the verdict sentence."""
        if self.basis == "reference":
            return f"its answers ({self.accuracy_text()}) are the reference"
        if self.basis == "base" and self.difference is not None:
            d = self.difference
            return (
                f"answers as good as {self.reference}'s ({_pct(self.accuracy.value)} vs "
                f"{_pct(self.reference_accuracy)}, {_pts(d.value)} pts "
                f"[{_pts(d.ci_low)}, {_pts(d.ci_high)}])"
            )
        return f"accuracy {self.accuracy_text()}, {self.judged_text()}"

    def shortfall(self, name: str) -> str:
        """Why a setting whose latency passes does not win: its answers, in one clause."""
        head = f"{name} passes the latency gates but"
        if self.basis == "base" and self.difference is not None:
            d = self.difference
            how = (
                "are worse than"
                if self.verdict == Verdict.FAIL
                else "are not shown to be as good as"
            )
            return (
                f"{head} its answers {how} {self.reference}'s: accuracy "
                f"{_pct(self.accuracy.value)} vs {_pct(self.reference_accuracy)} "
                f"({_pts(d.value)} pts [{_pts(d.ci_low)}, {_pts(d.ci_high)}], margin "
                f"{-self.threshold * 100:.0f} pts)"
            )
        if self.basis == "floor":
            how = "is below" if self.verdict == Verdict.FAIL else "is not shown to be above"
            return (
                f"{head} its accuracy {self.accuracy_text()} {how} the floor "
                f"{_pct(self.threshold)} (no base answers to pair with)"
            )
        return f"{head} its answers were not checked: {self.note}"


def judge_settings(
    runs: Mapping[str, RunData | None],
    base: str | None,
    *,
    margin: float,
    floor: float,
) -> tuple[dict[str, SettingQuality] | None, list[str]]:
    """Each setting's ``SettingQuality`` by name, and notes; None when no run made a pass.

    :param runs: each setting's run (None: not run yet), in the sweep's order.
    :param base: the base setting's name (the one that changes nothing); None when none.
    """
    found = {name: _rows(run) for name, run in runs.items()}
    if not any(rows is not None for rows, _ in found.values()):
        nulled = [run for run in runs.values() if run is not None]
        why = (
            " (quality_prompts: null)"
            if nulled and all(not run.params.get("quality_prompts") for run in nulled)
            else ""
        )
        return None, [
            f"answers were not checked: no setting made a quality pass{why}; the winner is "
            "chosen on latency alone"
        ]
    notes: list[str] = []
    base_rows, missing = _reference(base, found)
    if base_rows is None:
        notes.append(f"{missing}: each setting's answers are judged against the floor {floor:g}")
    judged: dict[str, SettingQuality] = {}
    for name, (rows, why) in found.items():
        if name == base and base_rows is not None:
            judged[name] = _as_reference(base_rows, -margin)
            continue
        reference, missing_here = base_rows, missing
        run, base_run = runs.get(name), runs.get(base) if base else None
        if reference is not None and _other_checks(run, base_run):
            reference = None
            missing_here = f"{name} answered another checks file than {base}"
        result = judge_quality(
            rows,
            reference,
            margin=margin,
            floor=floor,
            local_missing=f"{name} {why}",
            hosted_missing=missing_here,
            sides=(name, base or "base"),
        )
        judged[name] = _setting(result, rows, base, reference)
    return judged, notes


def _rows(run: RunData | None) -> tuple[pd.DataFrame | None, str]:
    """A setting's quality rows, or None and why it has none (for the note)."""
    if run is None:
        return None, "has not run yet"
    try:
        rows = read_quality(run.run_dir, run.record)
    except RunFolderError as exc:
        # A damaged quality.csv is one setting's problem: judged as no pass, never a crash.
        return None, f"has an unreadable quality.csv ({exc})"
    if rows is not None and not rows.empty:
        return rows, ""
    if "quality_prompts" in run.params and not run.params["quality_prompts"]:
        return None, "skipped its quality pass (quality_prompts: null)"
    return None, f"made no quality pass (its run is {run.state})"


def _reference(
    base: str | None, found: Mapping[str, tuple[pd.DataFrame | None, str]]
) -> tuple[pd.DataFrame | None, str]:
    """The base's rows, or None and why the settings are not judged against them."""
    if base is None:
        return None, "no base setting (one that changes nothing)"
    rows, why = found.get(base, (None, "is not in this sweep"))
    return (rows, "") if rows is not None else (None, f"the base {base} {why}")


def _other_checks(run: RunData | None, base_run: RunData | None) -> bool:
    """Whether the two runs answered different checks files (different sha256)."""
    a = run.record.quality if run is not None else None
    b = base_run.record.quality if base_run is not None else None
    return a is not None and b is not None and a.sha256 != b.sha256


def _wilson(rows: pd.DataFrame | None) -> Estimate:
    if rows is None or rows.empty:
        return _NO_PASS
    acc = accuracy(rows)
    return Estimate(acc.accuracy, acc.ci_low, acc.ci_high, acc.n, 0.95, "wilson", "share")


def _as_reference(rows: pd.DataFrame, threshold: float) -> SettingQuality:
    note = "the reference: the other settings' answers are judged against these"
    return SettingQuality(Verdict.PASS, "reference", _wilson(rows), note, threshold)


def _setting(
    judged: QualityJudgement,
    rows: pd.DataFrame | None,
    base: str | None,
    reference: pd.DataFrame | None,
) -> SettingQuality:
    own = _wilson(rows)
    if judged.basis == "hosted":  # judge_quality's paired basis: here, against the base
        return SettingQuality(
            judged.verdict,
            "base",
            own,
            judged.note,
            judged.threshold,
            base,
            _wilson(reference).value,
            judged.estimate,
            judged.n_regressions,
        )
    return SettingQuality(judged.verdict, judged.basis, own, judged.note, judged.threshold)


def passed_over(names_and_quality: list[tuple[str, SettingQuality]]) -> str:
    """``; passed over: bf16 passes the latency gates but ...`` for each setting ranked above
    the winner on latency whose answers stop it."""
    return "".join(f"; passed over: {q.shortfall(name)}" for name, q in names_and_quality)


def quality_columns(quality: SettingQuality | None) -> dict[str, object]:
    """A setting's answers as frame columns (shares 0-1; NaN where there is no figure)."""
    nan = float("nan")

    def num(value: float | None) -> float:
        return nan if value is None else float(value)

    acc = quality.accuracy if quality else _NO_PASS
    diff = quality.difference if quality else None
    return {
        "accuracy": num(acc.value),
        "accuracy_ci_low": num(acc.ci_low),
        "accuracy_ci_high": num(acc.ci_high),
        "accuracy_vs_base": num(diff.value if diff else None),
        "accuracy_vs_base_ci_low": num(diff.ci_low if diff else None),
        "accuracy_vs_base_ci_high": num(diff.ci_high if diff else None),
        "quality_verdict": str(quality.verdict) if quality else "not checked",
        "quality_basis": quality.basis if quality else "",
        "quality_note": quality.note if quality else "",
    }
