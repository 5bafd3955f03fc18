"""Prometheus alert rules and a scrape job for the local vLLM server, from a decision report.

``build_report`` writes them beside the decision JSON: ``<date>_<label>_alerts.yml`` (one rule
group, loadable with ``rule_files``) and ``<date>_<label>_scrape.yml`` (a Prometheus
configuration with the scrape job the rules select); the pipeline copies them to
``latest_alerts.yml`` and ``latest_scrape.yml`` with the other ``latest`` files. The thresholds
and their bases are ``servegate.analysis.alert_levels``'s; the metric names are those vLLM
0.32 serves on ``/metrics`` (``vllm/v1/metrics/loggers.py`` and the HTTP counters of
prometheus-fastapi-instrumentator; a real scrape is ``tests/fixtures/vllm_metrics.txt``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from servegate import __version__
from servegate.analysis.alert_levels import AlertLevels, Threshold, alert_levels
from servegate.core.errors import ConfigError
from servegate.core.fsutil import atomic_write_text
from servegate.core.paths import resolve_path
from servegate.records.level import LevelSummary
from servegate.report.decision import DecisionReport, load_decision
from servegate.runs.reader import RunData, load_run

__all__ = [
    "DEFAULT_JOB",
    "DEFAULT_TARGET",
    "GROUP_NAME",
    "RUNBOOK_URL",
    "alert_rules",
    "alerts_from_decision",
    "gate_level",
    "report_alert_levels",
    "rules_text",
    "scrape_config",
    "scrape_text",
    "write_alert_files",
]

#: The scrape job's name: the ``job`` label every rule selects.
DEFAULT_JOB = "vllm"
#: vLLM's OpenAI-compatible server's default address (``vllm serve`` listens on port 8000).
DEFAULT_TARGET = "localhost:8000"
GROUP_NAME = "servegate-vllm"
RUNBOOK_URL = "docs/runbook.md#monitoring"
#: The rate window of every rate() and the time a condition must hold before it fires.
WINDOW = "5m"
HOLD = "5m"
DOWN_HOLD = "1m"
#: The OpenAI-compatible endpoints whose HTTP statuses count as the error share.
_API_HANDLERS = "/v1/(chat/)?completions"
_JOB = re.compile(r"[A-Za-z0-9_.:-]+")
_TARGET = re.compile(r"[A-Za-z0-9_.\-]+:[0-9]{1,5}|\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}")
_HISTOGRAMS = {
    "e2e": "vllm:e2e_request_latency_seconds",
    "ttft": "vllm:time_to_first_token_seconds",
}


def _num(value: float) -> str:
    """A threshold as PromQL reads it: 6 significant digits, no exponent for usual values."""
    return f"{value:.6g}"


def _quantile(q: float, histogram: str, sel: str) -> str:
    """``histogram_quantile`` over the rate of a vLLM histogram's buckets, all engines summed."""
    return f"histogram_quantile({q:g}, sum by (le) (rate({histogram}_bucket{sel}[{WINDOW}])))"


def _rule(
    name: str,
    expr: str,
    threshold: Threshold | None,
    *,
    severity: str,
    summary: str,
    description: str,
    hold: str = HOLD,
) -> dict[str, Any]:  # YAML boundary: one Prometheus alerting rule
    annotations = {"summary": summary, "description": description}
    if threshold is not None:
        annotations["threshold_basis"] = threshold.basis
    annotations["runbook_url"] = RUNBOOK_URL
    return {
        "alert": name,
        "expr": expr,
        "for": hold,
        "labels": {"severity": severity},
        "annotations": annotations,
    }


def alert_rules(levels: AlertLevels, *, job: str = DEFAULT_JOB) -> dict[str, Any]:
    """The rule file's contents (``groups``: one group), as ``yaml.safe_dump`` writes it.

    Severity ``critical``: the server is down or a gate is being missed (latency p95 or p50,
    or more failures than the p95 gate survives); ``warning``: the server is outside what the
    report measured (queue, KV cache, preemptions, TTFT, failures above the measured share).
    """
    sel = f'{{job="{job}"}}'
    api = f'job="{job}",handler=~"{_API_HANDLERS}"'
    gated = _HISTOGRAMS[levels.latency_metric]
    gated_name = "end-to-end latency" if levels.latency_metric == "e2e" else "time to first token"
    errors = (
        f'sum(rate(http_requests_total{{{api},status=~"4xx|5xx"}}[{WINDOW}])) '
        f"/ sum(rate(http_requests_total{{{api}}}[{WINDOW}]))"
    )
    rules = [
        _rule(
            "VllmServerDown",
            f"up{sel} == 0",
            None,
            severity="critical",
            hold=DOWN_HOLD,
            summary="vLLM's /metrics has not answered for 1 minute",
            description=(
                f"Prometheus cannot scrape the {job} job: the server crashed, was stopped or is "
                "unreachable. servegate's stability gate counts a crash as a failure."
            ),
        ),
        _rule(
            "VllmRequestsWaiting",
            f"sum(vllm:num_requests_waiting{sel}) > {_num(levels.waiting.value)}",
            levels.waiting,
            severity="warning",
            summary=f"Above {_num(levels.waiting.value)} waiting requests for 5 minutes",
            description=(
                "Requests queue for a batch slot: the server gets more traffic than the "
                "report measured. Add replicas or lower the load (docs/runbook.md#capacity)."
            ),
        ),
        _rule(
            "VllmKvCacheHigh",
            f"max(vllm:kv_cache_usage_perc{sel}) > {_num(levels.kv_cache.value)}",
            levels.kv_cache,
            severity="warning",
            summary=f"KV-cache use above {levels.kv_cache.value:.0%} for 5 minutes",
            description=(
                "The KV cache holds more than the report measured; once full, vLLM preempts "
                "sequences and latency spikes (docs/runbook.md#out-of-memory)."
            ),
        ),
        _rule(
            "VllmPreemptions",
            f"sum(rate(vllm:num_preemptions_total{sel}[{WINDOW}])) "
            f"> {_num(levels.preemptions_per_s.value)}",
            levels.preemptions_per_s,
            severity="warning",
            summary=f"Preemptions above {_num(levels.preemptions_per_s.value)}/s for 5 minutes",
            description=(
                "vLLM evicts running sequences and recomputes them: the KV cache is full. "
                "See the memory settings in docs/runbook.md#out-of-memory."
            ),
        ),
        _rule(
            "VllmLatencyP95AboveGate",
            f"{_quantile(0.95, gated, sel)} > {_num(levels.latency_p95_s.value)}",
            levels.latency_p95_s,
            severity="critical",
            summary=f"{gated_name} p95 above {_num(levels.latency_p95_s.value)} s for 5 minutes",
            description=(
                f"The p95 of vLLM's {gated_name} histogram is above the report's p95 gate: "
                "users see slower answers than the decision allowed. vLLM's buckets are coarse "
                "(histogram_quantile interpolates within a bucket), so the value is approximate."
            ),
        ),
        _rule(
            "VllmLatencyP50AboveGate",
            f"{_quantile(0.5, gated, sel)} > {_num(levels.latency_p50_s.value)}",
            levels.latency_p50_s,
            severity="critical",
            summary=f"{gated_name} p50 above {_num(levels.latency_p50_s.value)} s for 5 minutes",
            description=(
                f"The median of vLLM's {gated_name} histogram is above the report's p50 gate: "
                "the typical request is slower than the decision allowed."
            ),
        ),
        _rule(
            "VllmTtftP95High",
            f"{_quantile(0.95, _HISTOGRAMS['ttft'], sel)} > {_num(levels.ttft_p95_s.value)}",
            levels.ttft_p95_s,
            severity="warning",
            summary=f"TTFT p95 above {_num(levels.ttft_p95_s.value)} s for 5 minutes",
            description=(
                "Time to first token grows first when requests wait for a slot; a hosted "
                "fallback with a TTFT time-out starts carrying traffic "
                "(docs/runbook.md#graceful-degradation-local-first-hosted-fallback)."
            ),
        ),
        _rule(
            "VllmErrorRateHigh",
            f"{errors} > {_num(levels.error_share.value)}",
            levels.error_share,
            severity="critical",
            summary=f"More than {levels.error_share.value:.0%} of API requests failed",
            description=(
                "HTTP 4xx/5xx answers of the completions endpoints over 5 minutes. An answer "
                "cut mid-stream is a 200 here; it shows in "
                'vllm:request_success_total{finished_reason="error"}.'
            ),
        ),
    ]
    warn = levels.error_share_warn
    if warn is not None:
        rules.append(
            _rule(
                "VllmErrorsAboveMeasured",
                f"{errors} > {_num(warn.value)}",
                warn,
                severity="warning",
                summary=(
                    f"API failures above {warn.value:.2%} for 5 minutes"
                    if warn.value
                    else "API requests failing for 5 minutes"
                ),
                description=(
                    "More requests fail than in the report's measurement; each row of the "
                    "run's requests.csv has the error the benchmark saw."
                ),
            )
        )
    return {"groups": [{"name": GROUP_NAME, "rules": rules}]}


def scrape_config(
    *, job: str = DEFAULT_JOB, target: str = DEFAULT_TARGET
) -> dict[str, Any]:  # YAML boundary: a Prometheus configuration
    """A Prometheus configuration with the one scrape job the rules select (``job``)."""
    return {
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": "/metrics",
                "scrape_interval": "15s",
                "static_configs": [{"targets": [target]}],
            }
        ]
    }


def _header(levels: AlertLevels) -> str:
    source = (
        f"run {levels.run_id}, gate level {levels.level}"
        if levels.run_id
        else "the gate thresholds alone (no comparable local run)"
    )
    lines = [
        f"Prometheus alerting rules for the local vLLM server, written by servegate {__version__},",
        f"from {source}.",
        "Each rule's threshold_basis says where its number comes from.",
        "Load with `rule_files:` in prometheus.yml; the scrape job is the _scrape.yml beside it.",
        "Regenerated by every report (`make report`, `make render`) and `servegate alerts`.",
        *levels.notes,
    ]
    return "".join(f"# {line}\n" for line in lines)


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, width=100, allow_unicode=True)


def rules_text(levels: AlertLevels, *, job: str = DEFAULT_JOB) -> str:
    """The alerts file: a comment naming the measurements used, then the rules."""
    return _header(levels) + _dump(alert_rules(levels, job=job))


def scrape_text(*, job: str = DEFAULT_JOB, target: str = DEFAULT_TARGET) -> str:
    """The scrape file: how to use it, then the configuration."""
    return (
        "# Prometheus scrape job for the local vLLM server, written by servegate: merge\n"
        "# scrape_configs into your prometheus.yml (or run Prometheus with this file) and add\n"
        "# the report's _alerts.yml (reports/latest_alerts.yml) under rule_files. Set targets\n"
        "# to the server's host:port; the alert rules select this job_name.\n"
    ) + _dump(scrape_config(job=job, target=target))


def gate_level(run: RunData | None, concurrency: int | None) -> tuple[LevelSummary | None, str]:
    """The run's summary of its closed-loop gate level, or None and why not."""
    if run is None:
        return None, "no comparable local vLLM run"
    if concurrency is None:
        return None, f"run {run.run_id} has no gate level"
    for level in run.levels:
        if level.concurrency == concurrency and level.request_rate is None:
            return level, ""
    return None, f"run {run.run_id} has no summary of its gate level c{concurrency}"


def report_alert_levels(decision: DecisionReport, local: RunData | None) -> AlertLevels:
    """The thresholds for a decision report: its gates, and its local run's gate level."""
    level, why = gate_level(local, decision.gate_concurrency)
    run_id = local.run_id if local is not None else None
    return alert_levels(level, decision.thresholds, run_id=run_id, missing=why)


def _check_scrape(job: str, target: str) -> None:
    """Refuse a job name that would break the rules' PromQL or a target that is not host:port."""
    if not _JOB.fullmatch(job):
        raise ConfigError(
            f"scrape job name {job!r} is not usable in the alert rules: use letters, digits, "
            "'_', '-', '.' or ':' (e.g. --job vllm)"
        )
    if not _TARGET.fullmatch(target):
        raise ConfigError(
            f"scrape target {target!r} is not host:port: give the vLLM server's address "
            "without scheme or path (e.g. --target localhost:8000)"
        )


def write_alert_files(
    folder: Path,
    prefix: str,
    levels: AlertLevels,
    *,
    job: str = DEFAULT_JOB,
    target: str = DEFAULT_TARGET,
) -> tuple[Path, Path]:
    """Write ``<prefix>_alerts.yml`` and ``<prefix>_scrape.yml`` in ``folder`` (``alerts.yml``
    and ``scrape.yml`` for an empty prefix), each atomically."""
    _check_scrape(job, target)
    start = f"{prefix}_" if prefix else ""
    alerts, scrape = folder / f"{start}alerts.yml", folder / f"{start}scrape.yml"
    atomic_write_text(alerts, rules_text(levels, job=job))
    atomic_write_text(scrape, scrape_text(job=job, target=target))
    return alerts, scrape


def alerts_from_decision(
    decision_path: str | Path,
    out: str | Path,
    *,
    results_dir: str | Path = "eval/results",
    job: str = DEFAULT_JOB,
    target: str = DEFAULT_TARGET,
) -> tuple[AlertLevels, tuple[Path, Path]]:
    """``servegate alerts``: the rules of a saved decision report (its gates, and the gate level
    of its local run read from ``results_dir``) written to ``out/alerts.yml`` and
    ``out/scrape.yml`` for another scrape job name or target. Relative folders are under the
    project root.

    :raises ConfigError: the decision JSON is missing or invalid, or ``job`` or ``target`` is
        unusable.
    :raises RunFolderError: its local run is not in ``results_dir``.
    """
    _check_scrape(job, target)
    decision = load_decision(decision_path)
    local = None
    if decision.local_run:
        local = load_run(resolve_path(results_dir) / decision.local_run)
    levels = report_alert_levels(decision, local)
    folder = resolve_path(out)
    folder.mkdir(parents=True, exist_ok=True)
    return levels, write_alert_files(folder, "", levels, job=job, target=target)
