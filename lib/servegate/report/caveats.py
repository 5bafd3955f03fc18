"""The report's caveats: what a reader must know to weigh the decision, in plain language."""

from __future__ import annotations

from pathlib import Path

from servegate.analysis.compare import Comparison
from servegate.analysis.gates import Evaluation
from servegate.report.params import ReportParams
from servegate.runs.reader import RunData

__all__ = ["imported_caveats", "report_caveats"]


def report_caveats(
    params: ReportParams,
    local: RunData | None,
    evaluation: Evaluation | None,
    *,
    hosted_status: str,
    compared: dict[str, Comparison],
    broken: list[tuple[Path, str]],
) -> list[str]:
    """What the reader must know to weigh the decision, in plain language."""
    out: list[str] = []
    ev, min_prompts = evaluation, params.gates.min_prompts
    if local is None:
        out.append("No local vLLM run was found: there is nothing to decide on yet.")
        return out
    out += imported_caveats(local)
    hw = local.record.manifest.hardware
    if local.record.source is None and hw.get("accelerator", "cpu") == "cpu":
        out.append(
            f"The local numbers come from vLLM's CPU build on {hw.get('cpu_model', 'a CPU')} "
            f"({hw.get('cpu_logical_cores', '?')} cores) serving {local.model}: a stand-in for "
            "the GPU node. They show the method and the pipeline, not GPU latency or cost."
        )
    if ev is not None and ev.n_measured < min_prompts:
        out.append(
            f"Only {ev.n_measured} prompts were measured; the stability gate needs "
            f"{min_prompts}, so this run can not be a GO."
        )
    if hosted_status != "measured":
        out.append(
            f"Hosted benchmark: {hosted_status}. Hosted latency is not measured; "
            "its cost below is the price sheet applied to the local run's token mix."
        )
    judged = ev.quality if ev is not None else None
    if judged is not None and judged.basis == "floor":
        out.append(
            f"Answer quality could not be compared with the hosted model ({judged.note}). A "
            "floor says the answers are right often enough, not that they are as good as "
            "the hosted model's."
        )
    if local.incomplete:
        out.append(
            "The local run did not finish cleanly (killed or stopped mid-level); "
            "its last level was rebuilt from the requests it recorded."
        )
    if ev is not None:
        for g in ev.gates:
            if g.verdict == "INCONCLUSIVE" and g.prompts_to_settle:
                out.append(
                    f"{g.name}: inconclusive; about {g.prompts_to_settle} prompts would "
                    "likely settle it."
                )
    for name, comparison in compared.items():
        if comparison.regressions:
            what = ", ".join(f"{c.metric} at {c.level}" for c in comparison.regressions)
            out.append(
                f"Regression since {comparison.previous_run} ({name}): {what} got slower, "
                "and the 95% interval of the change excludes zero."
            )
    for folder, reason in broken:
        out.append(f"Run folder {folder.name} was skipped: {reason}")
    return out


def imported_caveats(run: RunData) -> list[str]:
    """What an imported run's figures mean: which tool measured them, and its TTFT."""
    found = run.record.manifest.source_file
    if run.record.source is None or found is None:
        return []
    version = f" {found.tool_version}" if found.tool_version else " (version unknown)"
    out = [
        f"Run {run.run_id} was imported from {found.tool}{version} ({found.path}); servegate "
        "did not measure it, and its figures keep that tool's definitions."
    ]
    has_ttft = "ttft_ms" in run.requests and run.requests["ttft_ms"].notna().any()
    if has_ttft and not run.record.ttft_comparable:
        out.append(
            f"Its TTFT is {found.tool}'s, not comparable with servegate's "
            f"({found.ttft_definition or 'the tool does not say where it starts'}); "
            "no gate reads it. Import again with --ttft-comparable only if the tool "
            "measures it the same way."
        )
    return out
