"""The POC's figures of record: summary-only history rows with their caveats."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.core.errors import ConfigError
from servegate.history.aggregate import load_history, rebuild_history
from servegate.history.poc import DEFAULT_POC_PATH, load_poc_summaries, poc_caveat, poc_history_rows
from tests.helpers import FIXTURE_RUNS, REPO


def test_the_committed_summaries_are_the_figures_of_record() -> None:
    runs = {r.id: r for r in load_poc_summaries(REPO / DEFAULT_POC_PATH)}
    local = runs["poc-local-gpu"]
    assert (local.rows, local.mean_s, local.p50_s, local.p95_s, local.min_s) == (
        20,
        19.596,
        16.758,
        47.597,
        6.367,
    )
    assert local.run_date.isoformat() == "2025-12-31T17:14:07+00:00"
    assert local.source_file == "eval/results_poc/eval_results_20251231_171407.csv"
    hosted = runs["poc-hosted-w7"]
    assert (hosted.rows, hosted.p50_s, hosted.p95_s) == (40, 3.098, 7.197)
    early = runs["poc-hosted-gpt4o-mini-early"]
    assert early.rows == 2 and early.p95_s is None


def test_history_gets_one_summary_only_row_per_poc_run(tmp_path: Path) -> None:
    out = tmp_path / "history.csv"
    rebuild_history(FIXTURE_RUNS, out, pricing=None, poc_summaries=REPO / DEFAULT_POC_PATH)
    history = load_history(out)
    poc = history[history["source"] == "summary_only"].set_index("run_id")
    assert list(poc.index) == [
        "poc_poc-hosted-gpt4o-mini-early",
        "poc_poc-hosted-w7",
        "poc_poc-local-gpu",
    ]  # sorted by date, then id, like every other row
    local = poc.loc["poc_poc-local-gpu"]
    assert (local["e2e_p50_ms"], local["e2e_p95_ms"]) == (16758.0, 47597.0)
    assert local["backend"] == "vllm" and local["n_requests"] == 20
    # no interval, no TTFT, no throughput: a summary cannot give them
    for column in ("e2e_p95_ci_low_ms", "e2e_p95_ci_high_ms", "ttft_p95_ms", "output_tok_per_s"):
        assert local[column] != local[column], column  # NaN
    assert "20 rows" in local["note"] and "no interval" in local["note"]
    assert "2 rows: not evidence" in poc.loc["poc_poc-hosted-gpt4o-mini-early", "note"]
    # the measured rows are unchanged by the POC rows
    measured = history[history["source"] != "summary_only"]
    without = load_history(rebuild_history(FIXTURE_RUNS, tmp_path / "h2.csv", pricing=None).path)
    assert measured.reset_index(drop=True).equals(without.reset_index(drop=True))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("runs: [", "is not valid YAML"),
        (
            "runs:\n  - {id: a, label: l, backend: vllm, model: m, source_file: f, "
            "run_date: '2025-12-31T00:00:00Z', rows: 20, p50_s: 9, p95_s: 2}\n",
            "min_s <= p50_s <= p95_s does not hold",
        ),
        (
            "runs:\n  - {id: a, label: l, backend: tgi, model: m, source_file: f, "
            "run_date: '2025-12-31T00:00:00Z', rows: 20}\n",
            "backend",
        ),
        (
            "runs:\n  - {id: a, label: l, backend: vllm, model: m, source_file: f, "
            "run_date: '2025-12-31T00:00:00Z', rows: 20, p99_s: 3}\n",
            "p99_s",
        ),
        (
            "runs:\n  - {id: a, label: l, backend: vllm, model: m, source_file: f, "
            "run_date: '2025-12-31T00:00:00', rows: 20}\n",
            "needs a time zone",
        ),
        (
            "runs:\n  - {id: a, label: l, backend: vllm, model: m, source_file: f, "
            "run_date: '2025-12-31T00:00:00Z', rows: 20}\n"
            "  - {id: a, label: l, backend: vllm, model: m, source_file: f, "
            "run_date: '2025-12-31T00:00:00Z', rows: 20}\n",
            "repeated: a",
        ),
    ],
    ids=["yaml", "order", "backend", "unknown-key", "naive-date", "duplicate-id"],
)
def test_a_bad_summaries_file_is_named(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "poc.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem) as info:
        load_poc_summaries(path)
    assert str(path) in str(info.value)
    history = tmp_path / "h.csv"
    with pytest.raises(ConfigError):
        rebuild_history(FIXTURE_RUNS, history, pricing=None, poc_summaries=path)
    assert not history.exists()  # nothing half-written


def test_no_summaries_file_means_no_poc_rows(tmp_path: Path) -> None:
    assert load_poc_summaries(tmp_path / "absent.yaml") == []


def test_the_caveat_follows_the_sample_size() -> None:
    runs = {r.id: r for r in load_poc_summaries(REPO / DEFAULT_POC_PATH)}
    assert poc_caveat(runs["poc-local-gpu"]).startswith("20 rows: p95 rests on the slowest 1")
    assert poc_caveat(runs["poc-hosted-w7"]).startswith("40 rows: p95 rests on the slowest 2")
    assert poc_caveat(runs["poc-hosted-gpt4o-mini-early"]).startswith("2 rows: not evidence")
    rows = poc_history_rows(list(runs.values()))
    assert {r.source for r in rows} == {"summary_only"}
