"""The load generator against the calibration server: right timings, every fault, no drops."""

from __future__ import annotations

import asyncio
import csv
import json
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.core.names import REQUEST_COLUMNS
from servegate.jobs.bench import run_benchmark
from servegate.measure.loadgen import ChatTarget, LevelSpec, LoadGenerator
from servegate.measure.prompts import Message, Prompt
from servegate.records.request import RequestRecord
from servegate.server.launch import find_free_port

PROMPTS = [
    Prompt(
        id=f"p{i:03d}",
        category="test",
        messages=[Message(role="user", content=f"question number {i} " * (1 + i % 5))],
        max_tokens=64,
    )
    for i in range(200)
]


def _run(server: CalibrationServer, spec: LevelSpec, **kwargs) -> list[RequestRecord]:
    target = ChatTarget(base_url=server.base_url, model="calibration", backend="vllm")
    kwargs.setdefault("warm_connections", False)
    gen = LoadGenerator(target, run_id="t", progress=False, **kwargs)
    return asyncio.run(gen.run_level(spec)).records


@pytest.fixture(scope="module")
def timed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CalibrationServer]:
    config = CalibrationConfig(
        seed=3,
        ttft_ms={"kind": "uniform", "low": 40, "high": 80},
        itl_ms={"kind": "uniform", "low": 3, "high": 8},
        output_tokens_min=8,
        output_tokens_max=24,
    )
    with CalibrationServer(config, truth_path=tmp_path_factory.mktemp("cal") / "t.jsonl") as srv:
        yield srv


def test_closed_loop_timings_match_the_servers_truth(timed: CalibrationServer) -> None:
    before = len(timed.truth())
    records = _run(timed, LevelSpec(prompts=PROMPTS[:48], concurrency=4), warm_connections=True)
    truth = timed.truth()[before:]
    warmup = [t for t in truth if t["output_tokens"] == 1]  # one 1-token request per slot
    truth = [t for t in truth if t["output_tokens"] > 1]
    assert len(warmup) == 4
    assert len(records) == 48 == len(truth)
    assert all(r.status == "ok" for r in records)
    ours = sorted(r.ttft_ms for r in records)
    theirs = sorted(t["observed_ttft_ms"] for t in truth)
    # The role-only chunk comes long before the first token; counting it would be ~40 ms early.
    assert statistics.median(ours) - statistics.median(theirs) == pytest.approx(1.5, abs=3.5)
    assert min(ours) >= min(t["scripted_ttft_ms"] for t in truth)
    e2e_ours = statistics.median(r.e2e_ms for r in records)
    e2e_truth = statistics.median(t["observed_e2e_ms"] for t in truth)
    assert e2e_ours - e2e_truth == pytest.approx(1.5, abs=3.5)
    # usage from the stream's last chunk, matching the server's own count
    assert sorted(r.output_tokens for r in records) == sorted(t["output_tokens"] for t in truth)
    assert {r.tokens_source for r in records} == {"usage"}
    # per-token figures: TPOT per request and the gaps behind the pooled ITL
    r = records[0]
    assert r.n_content_chunks == r.output_tokens and len(r.gaps_ms) == r.output_tokens - 1
    assert 3 <= r.itl_mean_ms <= 9 and r.tpot_ms == pytest.approx(r.itl_mean_ms, abs=1.0)


def test_every_injected_fault_is_a_row_with_its_status(tmp_path: Path) -> None:
    config = CalibrationConfig(
        seed=5,
        ttft_ms=5,
        itl_ms=1,
        output_tokens_min=4,
        output_tokens_max=8,
        p_http_429=0.1,
        p_http_500=0.1,
        p_cut=0.1,
        p_empty=0.1,
        p_stall=0.05,
        stall_s=30,
    )
    with CalibrationServer(config, truth_path=tmp_path / "t.jsonl") as srv:
        records = _run(srv, LevelSpec(prompts=PROMPTS[:120], concurrency=8), timeout_s=0.5)
        # A stalled request's truth row is written when the server sees the client leave.
        deadline = time.monotonic() + 10
        while len(srv.truth()) < 120 and time.monotonic() < deadline:
            time.sleep(0.05)
        faults = Counter(t["fault"] for t in srv.truth())
    assert len(records) == 120  # nothing dropped
    got = Counter()
    for r in records:
        if r.http_status in (429, 500):
            got[f"http_{r.http_status}"] += 1
            assert r.status == "error" and r.error.startswith(f"HTTP {r.http_status}: ")
        elif r.status == "timeout":
            got["stall"] += 1
            assert r.e2e_ms >= 500
        elif "cut mid-answer" in r.error:
            got["cut"] += 1
            assert r.status == "error"
        elif r.error.startswith("empty answer"):
            got["empty"] += 1
        else:
            assert r.status == "ok", r
            got[None] += 1
    assert got == faults


def test_connection_refused_is_recorded_not_raised() -> None:
    target = ChatTarget(
        base_url=f"http://127.0.0.1:{find_free_port()}/v1", model="m", backend="vllm"
    )
    gen = LoadGenerator(target, run_id="t", progress=False)
    records = asyncio.run(gen.run_level(LevelSpec(prompts=PROMPTS[:5], concurrency=2))).records
    assert [r.status for r in records] == ["error"] * 5
    assert all("Connect" in r.error for r in records)


def test_open_loop_keeps_its_poisson_schedule(timed: CalibrationServer) -> None:
    before = len(timed.truth())
    rate = 40.0
    records = _run(timed, LevelSpec(prompts=PROMPTS[:120], request_rate=rate), seed=9)
    truth = timed.truth()[before:]
    assert len(records) == len(truth) == 120
    due = np.sort([r.due_s for r in records])
    arrivals = np.sort([t["arrival_unix_s"] for t in truth])
    lateness_ms = (arrivals - arrivals[0]) - (due - due[0])
    assert np.abs(lateness_ms).max() * 1000 < 15, "requests left later than scheduled"
    achieved = (len(due) - 1) / (due[-1] - due[0])
    assert achieved == pytest.approx(rate, rel=0.25)  # Poisson noise over 120 arrivals
    assert max(r.queue_ms for r in records) < 10


def test_a_client_that_falls_behind_shows_it_as_latency(timed: CalibrationServer) -> None:
    # 100 req/s offered, but only 2 in flight and ~100 ms each: requests wait for a slot.
    spec = LevelSpec(prompts=PROMPTS[:40], request_rate=100.0, max_inflight=2)
    records = _run(timed, spec)
    late = [r for r in records if r.queue_ms > 100]
    assert len(late) > 20
    for r in late:
        assert r.ttft_ms >= r.queue_ms + 40 and r.e2e_ms >= r.ttft_ms


def test_run_benchmark_leaves_a_consistent_run_folder(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(p.model_dump_json() + "\n" for p in PROMPTS[:30]))
    config = CalibrationConfig(
        seed=1, ttft_ms=10, itl_ms=2, output_tokens_min=4, output_tokens_max=12, p_http_500=0.1
    )
    with CalibrationServer(config) as srv:
        result = run_benchmark(
            {
                "backend": "vllm",
                "base_url": srv.root_url,
                "model": "calibration",
                "prompts": str(prompts),
                "n_prompts": 30,
                "concurrency": [1, 4],
                "baseline_prompts": 10,
                "results_dir": str(tmp_path / "results"),
                "run_label": "cal",
                "warmup_requests": 2,
            },
            progress=False,
        )
    assert result.state == "complete"
    with open(result.run_dir / "requests.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == REQUEST_COLUMNS
    assert len(rows) == 40 == result.record["n_request_rows"]
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["state"] == "complete" and record["schema_version"] == 1
    levels = {lv["level"]: lv for lv in record["levels"]}
    assert levels["c1"]["n_requests"] == 10 and levels["c4"]["n_requests"] == 30
    for lv in levels.values():
        n_failed = sum(1 for r in rows if r["level"] == lv["level"] and r["status"] != "ok")
        assert lv["n_errors"] == n_failed
        assert lv["throughput"]["output_tok_per_s"]["value"] > 0
    assert record["manifest"]["prompt_set"]["sha256"]
    assert record["manifest"]["hardware"]["cpu_logical_cores"] >= 1
    assert record["params"]["base_url"] == srv.root_url


def test_429_and_500_bursts_are_rows_and_the_run_stays_consistent(tmp_path: Path) -> None:
    """A rate limiter kicking in, then a flapping backend: every failure a row, none lost."""
    from servegate.runs.reader import load_run

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(p.model_dump_json() + "\n" for p in PROMPTS[:60]))
    # Sequence numbers 0-3 are the level's connection warm-up (one per slot); 4-63 are measured.
    bursts = [
        {"fault": "http_429", "start": 10, "count": 20},
        {"fault": "http_500", "start": 40, "count": 10},
    ]
    config = CalibrationConfig(
        seed=2, ttft_ms=5, itl_ms=1, output_tokens_min=4, output_tokens_max=8, bursts=bursts
    )
    with CalibrationServer(config, truth_path=tmp_path / "t.jsonl") as srv:
        result = run_benchmark(
            {
                "backend": "vllm",
                "base_url": srv.root_url,
                "model": "calibration",
                "prompts": str(prompts),
                "n_prompts": 60,
                "concurrency": [4],
                "baseline_prompts": 4,
                "results_dir": str(tmp_path / "results"),
                "run_label": "bursts",
                "warmup_requests": 0,
            },
            progress=False,
        )
        truth = srv.truth()
    assert [t["fault"] for t in truth[:4]] == [None] * 4  # the warm-up was not in a burst
    assert Counter(t["fault"] for t in truth[4:]) == {None: 30, "http_429": 20, "http_500": 10}
    assert result.state == "complete"
    run = load_run(result.run_dir)
    rows = run.requests
    assert len(rows) == 60 == result.record["n_request_rows"]
    assert rows["prompt_id"].nunique() == 60
    assert Counter(rows["http_status"].astype(int)) == {200: 30, 429: 20, 500: 10}
    failed = rows[rows["status"] != "ok"]
    assert set(failed["status"]) == {"error"} and failed["error"].str.startswith("HTTP ").all()
    # The bursts hit consecutive requests: the 429s span about 20 sequence numbers, not 60.
    seq_429 = rows.loc[rows["http_status"] == 429, "seq"]
    assert seq_429.max() - seq_429.min() < 20 + 4
    (level,) = run.levels
    assert (level["n_requests"], level["n_ok"], level["n_errors"]) == (60, 30, 30)
    # Half the requests failed: as misses, they put p95 out of reach instead of vanishing.
    assert level["e2e_ms"]["p95"]["value"] == float("inf")


def test_without_usage_tokens_are_counted_with_the_models_tokenizer(
    timed: CalibrationServer, repo: Path
) -> None:
    """A server that sends no usage: counts come from the tokenizer, marked as such."""
    from servegate.jobs.bench import TokenCounter

    model = repo / "data/models/smollm2-135m-instruct"
    if not model.is_dir():
        pytest.skip("the embedded model is not built (make model)")
    target = ChatTarget(base_url=timed.base_url, model="calibration", backend="vllm")
    gen = LoadGenerator(
        target,
        run_id="t",
        progress=False,
        warm_connections=False,
        token_counter=TokenCounter(model),
    )
    gen._body = _without_usage(gen._body)  # ask for no usage chunk, as some servers do
    records = asyncio.run(gen.run_level(LevelSpec(prompts=PROMPTS[:3], concurrency=1))).records
    assert {r.tokens_source for r in records} == {"tokenizer"}
    for r in records:
        # the calibration server streams " tok" per token: one tokenizer token each
        assert r.output_tokens == r.n_content_chunks
        assert r.input_tokens > 0


def _without_usage(body_of):
    def body(prompt):
        data = json.loads(body_of(prompt))
        data.pop("stream_options")
        return json.dumps(data).encode()

    return body


def test_a_server_slower_than_every_time_out_gives_timeout_rows(tmp_path: Path) -> None:
    config = CalibrationConfig(
        seed=8, ttft_ms=1500, itl_ms=1, output_tokens_min=4, output_tokens_max=8
    )
    with CalibrationServer(config) as srv:
        records = _run(srv, LevelSpec(prompts=PROMPTS[:12], concurrency=4), timeout_s=0.3)
    assert [r.status for r in records] == ["timeout"] * 12
    assert all(r.e2e_ms >= 300 and r.ttft_ms is None for r in records)
    assert all(r.error == "no complete answer within 0.3 s" for r in records)
