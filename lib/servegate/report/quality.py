"""The decision report's answer-quality section, from the quality gate's judgement and the runs.

The gate itself is judged in ``servegate.analysis.gates`` (``analysis.quality``); here it
becomes the decision JSON's ``quality`` entry: each backend's accuracy over the checks file and
per category with its Wilson interval (run.json's ``quality``), the items local failed and
hosted passed, and the checks file both were judged on.
"""

from __future__ import annotations

import pandas as pd

from servegate.analysis.quality import QualityJudgement
from servegate.records.quality import QualityAccuracy
from servegate.report.decision import QualityExample, QualityRow, QualitySection
from servegate.runs.reader import RunData

__all__ = ["quality_entry", "quality_frame"]


def _row(run: RunData, category: str, acc: QualityAccuracy) -> QualityRow:
    return QualityRow(
        backend=run.backend,
        run_id=run.run_id,
        category=category,
        n=acc.n,
        n_passed=acc.n_passed,
        n_failed_requests=acc.n_failed_requests,
        accuracy=acc.accuracy,
        ci_low=acc.ci_low,
        ci_high=acc.ci_high,
    )


def _rows(run: RunData | None) -> list[QualityRow]:
    quality = run.record.quality if run is not None else None
    if run is None or quality is None:
        return []
    return [_row(run, "all", quality)] + [
        _row(run, name, acc) for name, acc in quality.by_category.items()
    ]


def quality_entry(
    judged: QualityJudgement | None, local: RunData | None, hosted: RunData | None
) -> QualitySection | None:
    """The decision JSON's ``quality`` section; None when there is no local run to judge."""
    if judged is None or local is None:
        return None
    quality = local.record.quality
    paired = judged.basis == "hosted"
    return QualitySection(
        basis=judged.basis,
        verdict=judged.verdict,
        note=judged.note,
        checks_path=quality.path if quality else None,
        checks_sha256=quality.sha256 if quality else None,
        rows=_rows(local) + (_rows(hosted) if paired else []),
        local_fails_hosted_passes=judged.n_regressions,
        examples=[QualityExample(**item) for item in judged.regressions],
    )


def quality_frame(section: QualitySection | None) -> pd.DataFrame:
    """The section's rows as a frame (``backend, category, accuracy, ci_low, ci_high, ...``)
    for the figure; empty when there is nothing to draw."""
    if section is None or not section.rows:
        return pd.DataFrame(columns=list(QualityRow.model_fields))
    return pd.DataFrame([r.model_dump() for r in section.rows])
