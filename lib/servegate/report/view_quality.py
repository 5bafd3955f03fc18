"""HTML of the report's answer-quality section: accuracy by category, what local got wrong.

Formats the decision JSON's ``quality`` entry (``servegate.report.quality``); computes nothing.
Answers are model output: every one is escaped, and long ones are cut for the table only (the
run folder's quality.csv keeps them whole).
"""

from __future__ import annotations

from servegate.core.errors import RunFolderError
from servegate.records.quality import QualityAccuracy
from servegate.report.decision import QualityRow, QualitySection
from servegate.report.html import badge, escape, number
from servegate.runs.quality_csv import read_quality
from servegate.runs.reader import RunData

__all__ = ["quality_html", "run_quality_html"]

_ANSWER_SHOWN = 400  # characters of an answer shown in the report's table

#: How the report names each backend (as the figures do).
_BACKENDS = {"vllm": "local vLLM", "openai": "hosted API"}

_BASIS = {
    "hosted": "Local answers against the hosted answers to the same items, paired by item.",
    "floor": "No hosted answers to compare with: local accuracy against the absolute floor.",
    "none": "No quality pass to judge.",
}


def _cut(text: str) -> str:
    if len(text) <= _ANSWER_SHOWN:
        return escape(text)
    return escape(text[:_ANSWER_SHOWN]) + f"… <i>({len(text):,} characters in quality.csv)</i>"


def _accuracy_cell(row: QualityRow) -> str:
    return (
        f"<b>{number(row.accuracy, 'share')}</b> ({row.n_passed}/{row.n})"
        f"<br><span style='font-size:12px;color:#555'>{number(row.ci_low, 'share')} – "
        f"{number(row.ci_high, 'share')}</span>"
    )


def _table(rows: list[QualityRow]) -> str:
    backends = list(dict.fromkeys(r.backend for r in rows))
    categories = list(dict.fromkeys(r.category for r in rows))
    cells = {(r.backend, r.category): r for r in rows}
    head = "<tr><th>Category</th>" + "".join(
        f"<th>{escape(_BACKENDS.get(b, b))}: accuracy, 95% interval</th>" for b in backends
    )
    body = []
    for category in categories:
        tds = []
        for backend in backends:
            row = cells.get((backend, category))
            failed = (
                f"<br><span style='font-size:12px'>{row.n_failed_requests} failed requests</span>"
                if row is not None and row.n_failed_requests
                else ""
            )
            tds.append(f"<td>{_accuracy_cell(row)}{failed}</td>" if row else "<td>—</td>")
        name = "all items" if category == "all" else category
        body.append(f"<tr><td>{escape(name)}</td>{''.join(tds)}</tr>")
    return f'<table class="sg-table">{head}</tr>{"".join(body)}</table>'


def quality_html(section: QualitySection | None) -> str:
    """The section: verdict and basis, the accuracy table, the items local failed and hosted
    passed (with both answers), and the checks file's hash."""
    if section is None:
        return "<p>No local run, so no answers to judge.</p>"
    parts = [
        f"<p>{badge(section.verdict)} {escape(_BASIS[section.basis])} "
        f"{escape(section.note[:1].upper() + section.note[1:])}.</p>"
    ]
    if section.rows:
        parts.append(_table(section.rows))
    if section.basis == "hosted":
        if section.examples:
            shown = len(section.examples)
            parts.append(
                f"<p>Items local failed and hosted passed: {section.local_fails_hosted_passes}"
                + (
                    f" (the first {shown} shown)"
                    if shown < section.local_fails_hosted_passes
                    else ""
                )
                + "</p>"
            )
            rows = "".join(
                f"<tr><td><code>{escape(e.id)}</code><br>{escape(e.category)}</td>"
                f"<td>{_cut(e.local_answer)}<br><i style='font-size:12px'>"
                f"{escape(e.local_reason)}</i></td><td>{_cut(e.hosted_answer)}</td></tr>"
                for e in section.examples
            )
            parts.append(
                '<table class="sg-table"><tr><th>Item</th><th>Local answer (why it failed)</th>'
                f"<th>Hosted answer</th></tr>{rows}</table>"
            )
        else:
            parts.append("<p>No item that hosted answered right did local answer wrong.</p>")
    if section.checks_sha256:
        parts.append(
            f"<p style='font-size:12px;color:#555'>Checks file <code>"
            f"{escape(section.checks_path)}</code>, sha256 <code>"
            f"{escape(section.checks_sha256)}</code>.</p>"
        )
    return "".join(parts)


def run_quality_html(run: RunData, *, shown: int = 5) -> str:
    """One run's quality pass: accuracy overall and per category, then the first failed
    items with their answers and reasons (notebook 01)."""
    quality = run.record.quality
    if quality is None:
        skipped = "quality_prompts" in run.params and not run.params["quality_prompts"]
        why = "quality_prompts was null" if skipped else "the run ended before it"
        return f"<p>No quality pass in this run ({escape(why)}).</p>"
    rows = [
        QualityRow(
            backend=run.backend,
            run_id=run.run_id,
            category=name,
            **{k: getattr(acc, k) for k in QualityAccuracy.model_fields},
        )
        for name, acc in {"all": quality, **quality.by_category}.items()
    ]
    parts = [_table(rows)]
    try:
        frame = read_quality(run.run_dir, run.record)
    except RunFolderError as exc:
        return parts[0] + f"<p>{escape(exc)}</p>"
    failed = frame[~frame["passed"]].head(shown) if frame is not None else None
    if failed is not None and len(failed):
        body = "".join(
            f"<tr><td><code>{escape(r.id)}</code><br>{escape(r.category)}</td>"
            f"<td>{_cut(str(r.answer))}</td><td style='font-size:12px'>{escape(r.reason)}</td></tr>"
            for r in failed.itertuples()
        )
        parts.append(
            f"<p>First {len(failed)} items that did not pass (all in "
            f"<code>{escape(run.run_dir.name)}/quality.csv</code>):</p>"
            f'<table class="sg-table"><tr><th>Item</th><th>Answer</th><th>Why</th></tr>'
            f"{body}</table>"
        )
    return "".join(parts)
