"""The decision JSON as a typed model: what ``reports/<date>_<label>_decision.json`` holds.

``DecisionReport`` is built by ``servegate.report.build`` and written with
``core.fsutil.atomic_write_json(report.model_dump(mode="json"))``. Numbers are JSON numbers or
null, never strings: a ``+inf`` latency is null and named in its object's ``infinite``
(``servegate.report.numbers``), and validation puts it back, so a saved file validates into the
model it was written from. Every key is part of the file's format (``DECISION_SCHEMA_VERSION``);
``load_decision`` also reads version 1, whose ``+inf`` was the string ``"inf"``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)
from pydantic_core import to_jsonable_python

from servegate.analysis.gate_rule import Decision, Verdict
from servegate.analysis.gates import GateParams
from servegate.core.errors import ConfigError
from servegate.core.names import DECISION_SCHEMA_VERSION
from servegate.report.cost import CostOption
from servegate.report.limits import FeasibilitySection
from servegate.report.numbers import (
    INF_STRINGS,
    ReportFloat,
    describe_infinite,
    list_infinite,
    restore_infinite,
)

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
    "decision_json_schema",
    "load_decision",
]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Gate(_Entry):
    """One gate: its threshold, the measured value with its 95% interval, and the verdict."""

    name: str
    threshold: float
    measured: ReportFloat
    ci_low: ReportFloat
    ci_high: ReportFloat
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
    previous_ms: ReportFloat
    current_ms: ReportFloat
    change_ms: ReportFloat
    change_ci_low_ms: ReportFloat
    change_ci_high_ms: ReportFloat
    relative_change: ReportFloat
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
    e2e_p50_ms: ReportFloat
    e2e_p95_ms: ReportFloat
    caveat: str
    summary_only: bool


class CapacityRow(_Entry):
    """One line of the capacity plan's table."""

    item: str
    value: ReportFloat
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
    monthly_self_hosted_usd: ReportFloat
    monthly_hosted_usd: ReportFloat
    break_even_average_rps: ReportFloat
    break_even_reason: str
    table: list[CapacityRow]


class CapacityUnavailable(_Entry):
    """No capacity plan, and why."""

    available: Literal[False]
    reason: str


class FallbackRowEntry(_Entry):
    """The local-first policy at one time-out (``inf``: local only, ``0``: hosted only)."""

    timeout_ms: ReportFloat
    policy: str
    n: int
    fallback_rate: ReportFloat
    failure_share: ReportFloat
    p50_ms: ReportFloat
    p95_ms: ReportFloat
    p95_ci_high_ms: ReportFloat
    p50_verdict: Verdict
    p95_verdict: Verdict
    passes_gates: bool
    blended_usd_per_1m_output_tokens: ReportFloat


class FallbackReplay(_Entry):
    """The fallback replay: one row per time-out and the time-outs that pass both gates."""

    simulated: Literal[True]
    level: str | None
    hosted_level: str | None
    local_run: str
    hosted_run: str
    rows: list[FallbackRowEntry]
    passing_timeouts_ms: list[ReportFloat]
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
    accuracy: ReportFloat
    ci_low: ReportFloat
    ci_high: ReportFloat


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
    """The decision JSON: the decision, its gates and everything the report shows beside them.

    Every number is a JSON number or null. A field that is infinite (a p95 among failed
    requests, a local-only fallback time-out) is null and named in its object's ``infinite``,
    e.g. ``"infinite": {"measured": "+inf"}``; without such an entry, null means no value.
    """

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
    feasibility: FeasibilitySection | None = None

    @model_validator(mode="before")
    @classmethod
    def _infinite_back(cls, data: Any) -> Any:  # JSON boundary: the file's objects
        # Each object's "infinite" back to +/-inf before the fields are validated.
        return restore_infinite(data) if isinstance(data, dict) else data

    @model_serializer(mode="wrap")
    def _infinite_listed(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:  # JSON boundary: the decision JSON as written
        if not info.mode_is_json():
            return dict(handler(self))
        # In JSON mode pydantic would turn +inf into null (or a string) and lose it: dump the
        # python values, where +inf is still a float, and list each one in its object.
        return dict(to_jsonable_python(list_infinite(self.model_dump(mode="python"))))


def decision_json_schema() -> dict[str, Any]:
    """The JSON Schema of the decision JSON, ``infinite`` included (``scripts/make_schemas.py``)."""
    return describe_infinite(DecisionReport.model_json_schema())


def load_decision(path: str | Path) -> DecisionReport:
    """A saved decision JSON, validated; the one way servegate reads one back.

    Version 1 files (``+inf`` as the string ``"inf"``) are read too, as this version.

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
    if isinstance(version, bool) or version not in (1, DECISION_SCHEMA_VERSION):
        newer = isinstance(version, int) and version > DECISION_SCHEMA_VERSION
        fix = (
            "it was written by a newer servegate: upgrade servegate to read it"
            if newer
            else "render it again with this servegate: make render"
        )
        raise ConfigError(
            f"decision JSON {path} has schema_version {version!r}, this servegate reads "
            f"version {DECISION_SCHEMA_VERSION} (and 1); {fix}"
        )
    try:
        # Version 1 wrote +inf as the string "inf": its numbers decode it.
        report = DecisionReport.model_validate(data, context={INF_STRINGS: version == 1})
    except ValidationError as exc:
        raise ConfigError(
            f"decision JSON {path} does not match this servegate's format ({exc.error_count()} "
            f"problem(s), first: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}); "
            "render it again: make render"
        ) from None
    # Read as this version: dumped again, it is written in this version's format.
    return report.model_copy(update={"schema_version": DECISION_SCHEMA_VERSION})
