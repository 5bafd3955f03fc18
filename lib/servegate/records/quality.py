"""run.json's ``quality`` block: how many of the checkable items a backend answered right.

Written by ``servegate.jobs.quality_pass`` after the latency levels, from the per-item rows it
also saves as ``quality.csv``; read by the report's quality gate and section and by the sweep
table. Accuracy is over every item sent: a failed request counts as not passed, and is also
counted on its own (``n_failed_requests``), so a flaky endpoint is never read as a weak model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from servegate.core.numbers import SavedFloat

__all__ = ["QualityAccuracy", "QualityRecord"]


class QualityAccuracy(BaseModel):
    """Accuracy over a group of items, with its 95% Wilson interval."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    n: int = Field(ge=0, description="items sent")
    n_passed: int = Field(ge=0, description="answers that passed their check")
    n_failed_requests: int = Field(ge=0, description="items with no answer (error, time-out)")
    accuracy: SavedFloat = Field(description="n_passed / n; None when n is 0")
    ci_low: SavedFloat = Field(description="95% Wilson interval, lower end")
    ci_high: SavedFloat = Field(description="95% Wilson interval, upper end")


class QualityRecord(QualityAccuracy):
    """run.json's ``quality``: the whole set's accuracy, each category's, and what was asked."""

    by_category: dict[str, QualityAccuracy] = Field(description="the same, per category")
    path: str = Field(description="the checks file, as the parameter gave it")
    sha256: str = Field(description="sha256 of the checks file's bytes")
    max_tokens: int = Field(description="the answer cap each item was sent with")
    concurrency: int = Field(description="requests in flight during the pass")
    temperature: float = 0.0
    wall_s: SavedFloat = None
    complete: bool = Field(True, description="False when the pass was cut short")
