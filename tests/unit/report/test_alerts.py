"""The Prometheus alert rules a report writes: names vLLM really serves, files promtool accepts,
and alerts that fire (and stay quiet) on synthetic series, checked by ``promtool test rules``.

promtool comes from Debian's ``prometheus`` package, which ``scripts/setup_system.sh`` (run by
``make setup``, ``make test`` and ``make system``) installs; without it these tests fail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from servegate.analysis.alert_levels import AlertLevels
from servegate.analysis.gates import GateParams
from servegate.cli import main
from servegate.jobs import pipeline
from servegate.report.alerts import (
    GROUP_NAME,
    alert_rules,
    report_alert_levels,
    rules_text,
    scrape_config,
)
from servegate.report.build import build_report
from servegate.report.decision import load_decision
from servegate.runs.reader import load_run
from tests.helpers import FIXTURES, REPO, VLLM_RUN, clone_run

RUN_ID = "20261127T000000Z_alerts_vllm"
SERIES = 'job="vllm",instance="localhost:8000",model_name="smollm2",engine="0"'
#: Every eval happens here: 10 one-minute samples, past each rule's 5-minute window and hold.
EVAL = "10m"
RULES = "rules.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: run `make system` (scripts/setup_system.sh installs "
            "Debian's prometheus package, which has it; as root, or `sudo apt-get install "
            "prometheus`)"
        )
    return path


def _check(*args: str | Path) -> str:
    done = subprocess.run([*map(str, args)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ...]:
    """A report built on a fixture run whose gate level (c8) sampled its gauges: peak 3
    waiting, 12% KV cache, 4 preemptions."""
    root = tmp_path_factory.mktemp("alerts")
    folder = clone_run(VLLM_RUN, root / "results", RUN_ID)
    record = json.loads((folder / "run.json").read_text())
    c8 = next(level for level in record["levels"] if level["level"] == "c8")
    c8["metrics"]["delta"]["vllm:num_preemptions_total"] = 4.0
    c8["metrics"]["during"] = {
        "interval_s": 2.0,
        "samples": 9,
        "peak": {
            "vllm:num_requests_running": 8.0,
            "vllm:num_requests_waiting": 3.0,
            "vllm:kv_cache_usage_perc": 0.12,
        },
        "mean": {
            "vllm:num_requests_running": 6.0,
            "vllm:num_requests_waiting": 1.0,
            "vllm:kv_cache_usage_perc": 0.08,
        },
    }
    (folder / "run.json").write_text(json.dumps(record))
    report = build_report(
        {
            "results_dir": str(root / "results"),
            "history_path": "/nonexistent.csv",
            "report_dir": str(root / "reports"),
            "report_label": "t",
            "poc_summaries": "",
        }
    )
    return report.written


@pytest.fixture(scope="module")
def levels(written: tuple[Path, ...]) -> AlertLevels:
    decision = load_decision(written[0])
    return report_alert_levels(decision, load_run(written[0].parents[1] / "results" / RUN_ID))


def test_the_report_writes_the_rules_and_scrape_job_beside_the_decision(
    written: tuple[Path, ...], promtool: str
) -> None:
    decision, alerts, scrape = written
    assert decision.name.endswith("_t_decision.json")
    assert alerts.name == decision.name.replace("_decision.json", "_alerts.yml")
    assert scrape.name == decision.name.replace("_decision.json", "_scrape.yml")
    assert "SUCCESS: 9 rules found" in _check(promtool, "check", "rules", alerts)
    assert "valid prometheus config" in _check(promtool, "check", "config", scrape)
    text = alerts.read_text()
    assert text.startswith("# Prometheus alerting rules") and f"run {RUN_ID}, gate level c8" in text
    # the measured thresholds, as the analysis tests derive them
    rules = {r["alert"]: r for r in yaml.safe_load(text)["groups"][0]["rules"]}
    assert rules["VllmRequestsWaiting"]["expr"] == 'sum(vllm:num_requests_waiting{job="vllm"}) > 6'
    assert rules["VllmKvCacheHigh"]["expr"].endswith("> 0.24")
    assert rules["VllmLatencyP95AboveGate"]["expr"].endswith("> 3")
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
        assert rule["alert"] == "VllmServerDown" or rule["annotations"]["threshold_basis"]


def test_the_up_alert_selects_the_scrape_jobs_name(written: tuple[Path, ...]) -> None:
    _, alerts, scrape = written
    [job] = yaml.safe_load(scrape.read_text())["scrape_configs"]
    rules = yaml.safe_load(alerts.read_text())["groups"][0]["rules"]
    down = next(r for r in rules if r["alert"] == "VllmServerDown")
    assert down["expr"] == f'up{{job="{job["job_name"]}"}} == 0'
    assert all(f'job="{job["job_name"]}"' in r["expr"] for r in rules)


def test_every_series_a_rule_reads_is_one_vllm_serves(levels: AlertLevels) -> None:
    """The names in the rules are those of a real scrape of vLLM 0.32's /metrics."""
    served = {
        sample.name
        for family in text_string_to_metric_families((FIXTURES / "vllm_metrics.txt").read_text())
        for sample in family.samples
    }
    rules = alert_rules(levels)["groups"][0]["rules"]
    names = {
        name
        for rule in rules
        for name in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", rule["expr"])
        if name != "up"  # Prometheus's own, per scrape target
    }
    assert names == {
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:num_preemptions_total",
        "vllm:e2e_request_latency_seconds_bucket",
        "vllm:time_to_first_token_seconds_bucket",
        "http_requests_total",
    }
    assert names <= served


# --- promtool test rules: each alert fires above its threshold and not at or below it ------------


def _buckets(histogram: str) -> list[float]:
    """The ``le`` bounds of a vLLM histogram, from the real scrape."""
    text = (FIXTURES / "vllm_metrics.txt").read_text()
    found = re.findall(rf'^{re.escape(histogram)}_bucket{{.*le="([^"]+)"', text, re.M)
    return sorted({float(le) for le in found})


def _histogram(histogram: str, low: float, high: float) -> list[dict[str, str]]:
    """Bucket series of 10 observations a minute, all between ``low`` and ``high`` (two
    adjacent bounds): every quantile lands inside (low, high]."""
    series = []
    for le in _buckets(histogram):
        per_min = 10 if le >= high else 0
        le_text = "+Inf" if le == float("inf") else f"{le:g}"
        series.append(
            {
                "series": f'{histogram}_bucket{{{SERIES},le="{le_text}"}}',
                "values": f"0+{per_min}x15",
            }
        )
    return series


def _around(histogram: str, threshold: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Two adjacent bucket pairs: one wholly above ``threshold``, one wholly at or below it."""
    bounds = _buckets(histogram)
    above = next(i for i, b in enumerate(bounds) if b >= threshold)
    below = max(i for i, b in enumerate(bounds) if b <= threshold)
    return (bounds[above], bounds[above + 1]), (bounds[below - 1], bounds[below])


def _case(
    name: str, series: list[dict[str, str]], fires: bool, rule: dict[str, Any], **labels: str
) -> dict[str, Any]:
    expected = (
        [
            {
                "exp_labels": {"severity": rule["labels"]["severity"], **labels},
                "exp_annotations": rule["annotations"],
            }
        ]
        if fires
        else []
    )
    return {
        "name": f"{name} {'fires' if fires else 'stays quiet'}",
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [{"eval_time": EVAL, "alertname": name, "exp_alerts": expected}],
    }


def _gauge(name: str, value: float) -> list[dict[str, str]]:
    return [{"series": f"{name}{{{SERIES}}}", "values": f"{value:g}x15"}]


def _requests(per_min: float, failed_per_min: float) -> list[dict[str, str]]:
    handler = 'handler="/v1/chat/completions",method="POST"'
    return [
        {
            "series": f'http_requests_total{{{SERIES},{handler},status="2xx"}}',
            "values": f"0+{per_min - failed_per_min:g}x15",
        },
        {
            "series": f'http_requests_total{{{SERIES},{handler},status="5xx"}}',
            "values": f"0+{failed_per_min:g}x15",
        },
    ]


def _cases(levels: AlertLevels, rules: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """A firing and a quiet input for every alert, from its threshold."""
    metric = {"e2e": "vllm:e2e_request_latency_seconds", "ttft": "vllm:time_to_first_token_seconds"}
    cases = [
        _case(
            "VllmServerDown",
            [{"series": 'up{job="vllm",instance="localhost:8000"}', "values": "0x15"}],
            True,
            rules["VllmServerDown"],
            job="vllm",
            instance="localhost:8000",
        ),
        _case(
            "VllmServerDown",
            [{"series": 'up{job="vllm",instance="localhost:8000"}', "values": "1x15"}],
            False,
            rules["VllmServerDown"],
        ),
    ]
    waiting = levels.waiting.value
    cases += [
        _case(
            "VllmRequestsWaiting",
            _gauge("vllm:num_requests_waiting", value),
            fires,
            rules["VllmRequestsWaiting"],
        )
        for value, fires in ((waiting + 1, True), (waiting, False))
    ]
    kv = levels.kv_cache.value
    cases += [
        _case(
            "VllmKvCacheHigh",
            _gauge("vllm:kv_cache_usage_perc", value),
            fires,
            rules["VllmKvCacheHigh"],
        )
        for value, fires in ((kv + 0.05, True), (kv, False))
    ]
    per_s = levels.preemptions_per_s.value
    cases += [
        _case(
            "VllmPreemptions",
            [
                {
                    "series": f"vllm:num_preemptions_total{{{SERIES}}}",
                    "values": f"0+{rate * 60:g}x15",
                }
            ],
            fires,
            rules["VllmPreemptions"],
        )
        for rate, fires in ((per_s * 1.5 + 0.1, True), (per_s / 2, False))
    ]
    for name, threshold, histogram in (
        ("VllmLatencyP95AboveGate", levels.latency_p95_s, metric[levels.latency_metric]),
        ("VllmLatencyP50AboveGate", levels.latency_p50_s, metric[levels.latency_metric]),
        ("VllmTtftP95High", levels.ttft_p95_s, metric["ttft"]),
    ):
        above, below = _around(histogram, threshold.value)
        cases += [
            _case(name, _histogram(histogram, *above), True, rules[name]),
            _case(name, _histogram(histogram, *below), False, rules[name]),
        ]
    for name, threshold in (
        ("VllmErrorRateHigh", levels.error_share),
        ("VllmErrorsAboveMeasured", levels.error_share_warn),
    ):
        if threshold is None:
            continue
        share = threshold.value
        cases += [
            _case(name, _requests(100, 100 * share + 2), True, rules[name]),
            _case(name, _requests(100, 100 * share / 2), False, rules[name]),
        ]
    return cases


def _promtool_test(
    promtool: str, folder: Path, levels: AlertLevels, job: str = "vllm"
) -> tuple[int, str]:
    (folder / RULES).write_text(rules_text(levels, job=job))
    rules = {r["alert"]: r for r in alert_rules(levels, job=job)["groups"][0]["rules"]}
    tests = {"rule_files": [RULES], "evaluation_interval": "1m", "tests": _cases(levels, rules)}
    (folder / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    done = subprocess.run(
        [promtool, "test", "rules", "tests.yml"],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def test_each_alert_fires_above_its_measured_threshold_only(
    levels: AlertLevels, promtool: str, tmp_path: Path
) -> None:
    assert levels.run_id == RUN_ID and levels.waiting.value == 6  # measured, not the fallbacks
    rc, out = _promtool_test(promtool, tmp_path, levels)
    assert rc == 0, out
    assert "SUCCESS" in out


@pytest.mark.parametrize(
    "gates",
    [GateParams(), GateParams(p95_ms=800, p50_ms=250, gate_latency_metric="ttft")],
    ids=["default-gates", "ttft-gates"],
)
def test_without_a_run_the_gate_rules_fire_and_stay_quiet(
    gates: GateParams, promtool: str, tmp_path: Path
) -> None:
    from servegate.analysis.alert_levels import alert_levels

    levels = alert_levels(None, gates)
    assert "no comparable local run" in rules_text(levels).split("groups:")[0]
    rc, out = _promtool_test(promtool, tmp_path, levels)
    assert rc == 0, out


def test_a_rule_that_misses_its_threshold_fails_the_promtool_test(
    levels: AlertLevels, promtool: str, tmp_path: Path
) -> None:
    """The check can fail: rules written for a doubled waiting threshold stay quiet where the
    test expects them to fire."""
    import dataclasses

    wrong = dataclasses.replace(
        levels, waiting=dataclasses.replace(levels.waiting, value=levels.waiting.value + 5)
    )
    (tmp_path / RULES).write_text(rules_text(wrong))
    rules = {r["alert"]: r for r in alert_rules(wrong)["groups"][0]["rules"]}
    cases = [c for c in _cases(levels, rules) if c["name"].startswith("VllmRequestsWaiting")]
    (tmp_path / "tests.yml").write_text(
        yaml.safe_dump({"rule_files": [RULES], "tests": cases}, sort_keys=False)
    )
    done = subprocess.run(
        [promtool, "test", "rules", "tests.yml"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode != 0 and "VllmRequestsWaiting" in done.stdout + done.stderr


# --- publishing and the command ------------------------------------------------------------------


def test_the_alert_files_are_published_as_latest(tmp_path: Path) -> None:
    stem = "2026-11-27_t_decision"
    files = [
        tmp_path / f"{stem}.json",
        tmp_path / "2026-11-27_t_alerts.yml",
        tmp_path / "2026-11-27_t_scrape.yml",
    ]
    for path in files:
        path.write_text(path.name)
    published = pipeline._publish_latest(tmp_path, files, stem)
    assert [p.name for p in published] == ["latest.json", "latest_alerts.yml", "latest_scrape.yml"]
    assert (tmp_path / "latest_alerts.yml").read_text() == "2026-11-27_t_alerts.yml"


def test_the_alerts_command_rewrites_them_for_another_job(
    written: tuple[Path, ...], promtool: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    decision = written[0]
    results = decision.parents[1] / "results"
    argv = [
        "alerts",
        "--decision",
        str(decision),
        "--results-dir",
        str(results),
        "--out",
        str(tmp_path),
        "--job",
        "llm",
        "--target",
        "10.0.0.5:8000",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"alerts: thresholds from run {RUN_ID}, level c8" in out
    rules = yaml.safe_load((tmp_path / "alerts.yml").read_text())["groups"][0]
    assert rules["name"] == GROUP_NAME
    assert all('job="llm"' in r["expr"] for r in rules["rules"])
    assert yaml.safe_load((tmp_path / "scrape.yml").read_text()) == scrape_config(
        job="llm", target="10.0.0.5:8000"
    )
    _check(promtool, "check", "rules", tmp_path / "alerts.yml")


def test_the_alerts_command_names_a_missing_run_folder(
    written: tuple[Path, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "alerts",
        "--decision",
        str(written[0]),
        "--results-dir",
        str(tmp_path),
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(argv) == 2
    assert f"run folder {tmp_path / RUN_ID} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out" / "alerts.yml").exists()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--job", 'vllm"} or vector(1) #', "scrape job name .* is not usable in the alert rules"),
        ("--target", "http://localhost:8000/metrics", "scrape target .* is not host:port"),
    ],
    ids=["job-breaking-promql", "target-with-scheme"],
)
def test_the_alerts_command_refuses_a_job_or_target_it_cannot_write(
    written: tuple[Path, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    value: str,
    message: str,
) -> None:
    argv = ["alerts", "--decision", str(written[0]), "--out", str(tmp_path), flag, value]
    assert main(argv) == 2
    assert re.search(message, capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_the_alerts_command_names_a_missing_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["alerts", "--decision", str(tmp_path / "latest.json"), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "cannot read the decision JSON" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_runbook_lists_every_alert_the_rules_have(levels: AlertLevels) -> None:
    section = (REPO / "docs/runbook.md").read_text().split("## Monitoring")[1].split("\n## ")[0]
    listed = set(re.findall(r"^\| `(Vllm\w+)`(?:, `(Vllm\w+)`)?", section, re.M))
    named = {name for pair in listed for name in pair if name}
    assert levels.error_share_warn is not None  # every optional rule is present
    assert named == {r["alert"] for r in alert_rules(levels)["groups"][0]["rules"]}
