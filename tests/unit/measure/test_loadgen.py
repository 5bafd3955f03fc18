"""The load generator against the calibration server: right timings, every fault, no drops."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.measure.loadgen import ChatTarget, LevelSpec, LoadGenerator
from servegate.records.request import RequestRecord
from servegate.server.launch import find_free_port
from tests.helpers import TEST_PROMPTS as PROMPTS


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


def test_without_usage_tokens_are_counted_with_the_models_tokenizer(
    timed: CalibrationServer, repo: Path
) -> None:
    """A server that sends no usage: counts come from the tokenizer, marked as such."""
    from servegate.measure.tokens import TokenCounter

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
