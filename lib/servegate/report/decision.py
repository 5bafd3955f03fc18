"""The decision JSON as a typed model: what ``reports/<date>_<label>_decision.json`` holds.

``DecisionReport`` is built by ``servegate.report.build`` and written with
``core.fsutil.atomic_write_json(report.model_dump(mode="python"))``, so a ``+inf`` latency is the
string ``"inf"`` in the file; ``SavedFloat`` fields read it back, and a saved file validates into
the model it was written from. Every key is part of the file's format (``DECISION_SCHEMA_VERSION``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from servegate.analysis.gate_rule import Decision, Verdict
from servegate.analysis.gates import GateParams
from servegate.core.errors import ConfigError
from servegate.core.names import DECISION_SCHEMA_VERSION
from servegate.core.numbers import SavedFloat
from servegate.report.cost import CostOption

__all__ = [
    "CapacityPlanEntry",
    "CapacityRow",
    "CapacityUnavailable",
    "ChangeRow",
    "DecisionReport",
    "FallbackNotRun",
    "FallbackReplay",
    "FallbackRowEntry",
    "Gate",
    "PocBaseline",
    "QualityExample",
    "QualityRow",
    "QualitySection",
    "RefusedRun",
    "RunComparison",
    "load_decision",
]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Gate(_Entry):
    """One gate: its threshold, the measured value with its 95% interval, and the verdict."""

    name: str
    threshold: float
    measured: SavedFloat
    ci_low: SavedFloat
    ci_high: SavedFloat
    verdict: Verdict
    unit: str
    n: int
    level: str | None
    prompts_to_settle: int | None
    method: str
    note: str


class ChangeRow(_Entry):
    """One compared figure (p50 or p95 at a level) against the previous comparable run."""

    level: str
    metric: str
    previous_ms: SavedFloat
    current_ms: SavedFloat
    change_ms: SavedFloat
    change_ci_low_ms: SavedFloat
    change_ci_high_ms: SavedFloat
    relative_change: SavedFloat
    verdict: str


class RefusedRun(_Entry):
    """An earlier run that was not compared, and why."""

    run_id: str
    reasons: list[str]


class RunComparison(_Entry):
    """A reported run against its previous comparable run (``servegate.analysis.compare``)."""

    current_run: str
    previous_run: str | None
    message: str
    changes: list[ChangeRow]
    regressions: list[str]
    refused: list[RefusedRun]
    context: list[str]


class PocBaseline(_Entry):
    """A proof-of-concept summary shown beside the gates; it never passes or fails one."""

    id: str
    label: str
    backend: str
    source_file: str
    run_date: str
    rows: int
    e2e_p50_ms: SavedFloat
    e2e_p95_ms: SavedFloat
    caveat: str
    summary_only: bool


class CapacityRow(_Entry):
    """One line of the capacity plan's table."""

    item: str
    value: SavedFloat
    unit: str
    basis: str


class CapacityPlanEntry(_Entry):
    """The capacity plan: replicas, monthly costs, break-even and the table they come from."""

    available: Literal[True]
    status: str
    level: str | None
    machine: str
    hosted_model: str
    replicas: int | None
    monthly_self_hosted_usd: SavedFloat
    monthly_hosted_usd: SavedFloat
    break_even_average_rps: SavedFloat
    break_even_reason: str
    table: list[CapacityRow]


class CapacityUnavailable(_Entry):
    """No capacity plan, and why."""

    available: Literal[False]
    reason: str


class FallbackRowEntry(_Entry):
    """The local-first policy at one time-out (``inf``: local only, ``0``: hosted only)."""

    timeout_ms: SavedFloat
    policy: str
    n: int
    fallback_rate: SavedFloat
    failure_share: SavedFloat
    p50_ms: SavedFloat
    p95_ms: SavedFloat
    p95_ci_high_ms: SavedFloat
    p50_verdict: Verdict
    p95_verdict: Verdict
    passes_gates: bool
    blended_usd_per_1m_output_tokens: SavedFloat


class FallbackReplay(_Entry):
    """The fallback replay: one row per time-out and the time-outs that pass both gates."""

    simulated: Literal[True]
    level: str | None
    hosted_level: str | None
    local_run: str
    hosted_run: str
    rows: list[FallbackRowEntry]
    passing_timeouts_ms: list[SavedFloat]
    notes: list[str]


class FallbackNotRun(_Entry):
    """No fallback replay, and why."""

    simulated: Literal[False]
    reason: str


class QualityRow(_Entry):
    """One backend's accuracy over the whole checks file (``category`` "all") or a category."""

    backend: str
    run_id: str
    category: str
    n: int
    n_passed: int
    n_failed_requests: int
    accuracy: SavedFloat
    ci_low: SavedFloat
    ci_high: SavedFloat


class QualityExample(_Entry):
    """An item the local backend failed and the hosted one passed, with both answers."""

    id: str
    category: str
    local_answer: str
    local_reason: str
    hosted_answer: str


class QualitySection(_Entry):
    """The answer-quality section: accuracy by category per backend, what local got wrong that
    hosted got right, and the checks file both were judged on."""

    basis: Literal["hosted", "floor", "none"]
    verdict: Verdict
    note: str
    checks_path: str | None
    checks_sha256: str | None
    rows: list[QualityRow]
    local_fails_hosted_passes: int
    examples: list[QualityExample]


class DecisionReport(_Entry):
    """The decision JSON: the decision, its gates and everything the report shows beside them."""

    schema_version: int = DECISION_SCHEMA_VERSION
    servegate_version: str
    git_commit: str | None
    generated_at: str
    decision: Decision
    gates: list[Gate]
    gate_concurrency: int | None
    n_measured_prompts: int
    thresholds: GateParams
    local_run: str | None
    hosted_run: str | None
    hosted_status: str
    cost: list[CostOption]
    caveats: list[str]
    comparison: dict[str, RunComparison]
    poc_baseline: list[PocBaseline]
    capacity: CapacityPlanEntry | CapacityUnavailable | None
    fallback: FallbackReplay | FallbackNotRun | None
    quality: QualitySection | None = None


def load_decision(path: str | Path) -> DecisionReport:
    """A saved decision JSON, validated; the one way servegate reads one back.

    :raises ConfigError: when the file is missing or not JSON, is of another
        ``schema_version`` (saying which servegate to use), or does not match ``DecisionReport``.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the decision JSON {path} ({exc}); run `make report` first"
        ) from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != DECISION_SCHEMA_VERSION:
        newer = isinstance(version, int) and version > DECISION_SCHEMA_VERSION
        fix = (
            "it was written by a newer servegate: upgrade servegate to read it"
            if newer
            else "render it again with this servegate: make render"
        )
        raise ConfigError(
            f"decision JSON {path} has schema_version {version!r}, this servegate reads "
            f"version {DECISION_SCHEMA_VERSION}; {fix}"
        )
    try:
        return DecisionReport.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            f"decision JSON {path} does not match this servegate's format ({exc.error_count()} "
            f"problem(s), first: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}); "
            "render it again: make render"
        ) from None
