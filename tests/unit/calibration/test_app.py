"""The calibration server: its script is seeded and pure, and the server plays it, on time."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext as _no_raise
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from pydantic import ValidationError

from servegate.calibration.app import STATE, TOKEN_TEXT, TRUTH_FIELDS, build_app
from servegate.calibration.server import (
    CalibrationConfig,
    CalibrationServer,
    Dist,
    FaultBurst,
    calibration_config_from_flags,
    script_for,
)
from servegate.cli import main
from servegate.core.errors import ConfigError, PortInUseError

MODEL = "calibration"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "say three words please"}]}

TIMED = CalibrationConfig(
    seed=11,
    ttft_ms={"kind": "uniform", "low": 10, "high": 20},
    itl_ms={"kind": "uniform", "low": 2, "high": 6},
    output_tokens_min=5,
    output_tokens_max=10,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CalibrationServer]:
    truth = tmp_path_factory.mktemp("calibration") / "truth.jsonl"
    with CalibrationServer(TIMED, truth_path=truth) as srv:
        yield srv


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as c:
        yield c


def _stream(
    client: httpx.Client, url: str, into: list[Any] | None = None, **extra: Any
) -> tuple[httpx.Response, list[Any]]:
    """POST a streamed chat; return the response and its events as (ms since send, payload).

    Events are appended to ``into`` as they arrive, so a stream that breaks keeps its start.
    """
    events: list[Any] = [] if into is None else into
    t0 = time.perf_counter()
    body = {**CHAT, "stream": True, **extra}
    with client.stream("POST", f"{url}/chat/completions", json=body) as r:
        if r.status_code != 200:
            r.read()  # an error body, kept for r.json()
            return r, events
        for line in r.iter_lines():
            if line.startswith("data: "):
                data = line.removeprefix("data: ")
                payload = data if data == "[DONE]" else json.loads(data)
                events.append(((time.perf_counter() - t0) * 1000, payload))
    return r, events


def _index(resp: httpx.Response) -> int:
    return int(resp.headers["X-Request-Id"].removeprefix("cal-"))


def _content_events(events: list[Any]) -> list[Any]:
    return [
        (t, e)
        for t, e in events
        if e != "[DONE]" and e["choices"] and e["choices"][0]["delta"].get("content")
    ]


# -- the script ------------------------------------------------------------------------------


def test_the_script_is_a_pure_function_of_seed_and_index() -> None:
    again = CalibrationConfig.model_validate(TIMED.model_dump())
    assert [script_for(TIMED, i) for i in range(50)] == [script_for(again, i) for i in range(50)]
    other_seed = TIMED.model_copy(update={"seed": 12})
    assert [script_for(TIMED, i) for i in range(5)] != [script_for(other_seed, i) for i in range(5)]
    s = script_for(TIMED, 3)
    assert s.fault is None and s.finish_reason == "stop"
    assert 5 <= s.output_tokens <= 10 and len(s.itl_ms) == s.output_tokens - 1
    assert 10 <= s.ttft_ms <= 20 and all(2 <= g <= 6 for g in s.itl_ms)
    assert s.e2e_ms == pytest.approx(s.ttft_ms + sum(s.itl_ms))
    assert s.token_due_ms()[-1] == pytest.approx(s.e2e_ms)


def test_the_fault_mix_matches_the_configured_rates() -> None:
    rates = {"http_429": 0.05, "http_500": 0.03, "stall": 0.02, "cut": 0.1, "empty": 0.04}
    config = CalibrationConfig(seed=5, **{f"p_{k}": v for k, v in rates.items()})
    n = 2000
    counts = Counter(script_for(config, i).fault for i in range(n))
    for fault, p in [*rates.items(), (None, 1 - sum(rates.values()))]:
        sd = math.sqrt(n * p * (1 - p))
        assert abs(counts[fault] - n * p) <= 4 * sd, (fault, counts[fault], n * p)


def test_each_fault_scripts_what_it_should() -> None:
    config = CalibrationConfig(seed=1, p_cut=0.5, p_empty=0.5, output_tokens_min=9, stall_s=3)
    by_fault = {script_for(config, i).fault: script_for(config, i) for i in range(40)}
    cut, empty = by_fault["cut"], by_fault["empty"]
    assert cut.finish_reason is None and 4 <= cut.output_tokens <= 64
    assert empty.output_tokens == 0 and empty.ttft_ms is None and empty.finish_reason == "stop"
    stall = script_for(CalibrationConfig(seed=1, p_stall=1, stall_s=3), 0)
    assert stall.ttft_ms == 3000 and stall.e2e_ms > 3000
    error = script_for(CalibrationConfig(seed=1, p_http_429=1), 0)
    assert (error.fault, error.output_tokens, error.e2e_ms) == ("http_429", 0, 0.0)


def test_a_burst_forces_its_fault_on_consecutive_requests_only() -> None:
    base = CalibrationConfig(seed=4, p_http_500=0.1)
    burst = base.model_copy(update={"bursts": (FaultBurst(fault="http_429", start=5, count=3),)})
    faults = [script_for(burst, i).fault for i in range(12)]
    assert faults[5:8] == ["http_429"] * 3
    # outside the burst, the same draws as without it
    for i in [*range(5), *range(8, 12)]:
        assert script_for(burst, i) == script_for(base, i)
    with pytest.raises(ValidationError, match=r"bursts overlap: http_429 at 0\.\.9 and http_500"):
        CalibrationConfig(
            seed=1,
            bursts=[
                {"fault": "http_429", "start": 0, "count": 10},
                {"fault": "http_500", "start": 9, "count": 2},
            ],
        )


def test_a_request_cap_shortens_the_answer_and_says_length() -> None:
    s = script_for(TIMED, 0)
    capped = s.limited(2)
    assert capped.output_tokens == 2 and capped.finish_reason == "length"
    assert capped.e2e_ms == pytest.approx(s.ttft_ms + s.itl_ms[0])
    assert s.limited(None) is s and s.limited(1000) is s


def test_invalid_settings_are_named() -> None:
    with pytest.raises(ValueError, match=r"fault rates add up to 1\.2"):
        CalibrationConfig(seed=1, p_cut=0.6, p_stall=0.6)
    with pytest.raises(ValueError, match="lognormal distribution needs median"):
        Dist(kind="lognormal", sigma=0.3)
    with pytest.raises(ValueError, match=r"output_tokens_min .* above output_tokens_max"):
        CalibrationConfig(seed=1, output_tokens_min=9, output_tokens_max=3)
    assert CalibrationConfig(seed=1, ttft_ms=7).ttft_ms == Dist(kind="constant", value=7)
    with pytest.raises(ConfigError, match="tokens must be MIN:MAX output tokens, got '32-64'"):
        calibration_config_from_flags(seed=1, tokens="32-64")
    with pytest.raises(ConfigError, match="unknown parameter 'p_oom'"):
        calibration_config_from_flags(seed=1, p_oom=0.1)
    assert "SECRET" not in repr(CalibrationConfig(seed=1, require_api_key="SECRET"))
    with pytest.raises(ValueError) as bad:
        CalibrationConfig(seed=1, p_cut=2, require_api_key="SECRET")
    assert "SECRET" not in str(bad.value)


# -- the server ------------------------------------------------------------------------------


def test_a_stream_is_role_chunk_then_the_scripted_tokens_usage_and_done(
    server: CalibrationServer, client: httpx.Client
) -> None:
    resp, events = _stream(client, server.base_url, stream_options={"include_usage": True})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    script = script_for(TIMED, _index(resp))
    payloads = [e for _, e in events]
    assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    first = payloads[0]
    assert first["object"] == "chat.completion.chunk" and first["model"] == MODEL
    assert first["id"] == resp.headers["X-Request-Id"] and isinstance(first["created"], int)
    tokens = payloads[1 : 1 + script.output_tokens]
    assert [t["choices"][0]["delta"] for t in tokens] == [{"content": TOKEN_TEXT}] * len(tokens)
    assert len(tokens) == script.output_tokens
    finish, usage, done = payloads[1 + script.output_tokens :]
    assert finish["choices"][0]["finish_reason"] == "stop" and finish["choices"][0]["delta"] == {}
    assert usage["choices"] == []
    assert usage["usage"] == {
        "prompt_tokens": 4,
        "completion_tokens": script.output_tokens,
        "total_tokens": 4 + script.output_tokens,
    }
    assert done == "[DONE]"


def test_timings_match_the_script_and_a_role_chunk_does_not_count_as_a_token(
    server: CalibrationServer, client: httpx.Client
) -> None:
    client.get(f"{server.root_url}/health")  # a kept-alive connection: no connect in the timings
    late_ms, rows = [], {}
    for _ in range(5):
        resp, events = _stream(client, server.base_url)
        script = script_for(TIMED, _index(resp))
        first_token_ms = _content_events(events)[0][0]
        assert first_token_ms >= script.ttft_ms  # the server is never early
        late_ms.append(first_token_ms - script.ttft_ms)
        # vLLM's benchmark starts TTFT at the first chunk with choices: the role-only chunk.
        assert events[0][0] < script.ttft_ms / 2
        rows[resp.headers["X-Request-Id"]] = script
    assert statistics.median(late_ms) < 5.0, late_ms

    truth = {r["request_id"]: r for r in server.truth()}
    for request_id, script in rows.items():
        row = truth[request_id]
        assert set(row) == set(TRUTH_FIELDS)
        assert row["scripted_ttft_ms"] == pytest.approx(script.ttft_ms, abs=1e-3)
        assert row["scripted_e2e_ms"] == pytest.approx(script.e2e_ms, abs=1e-3)
        assert row["output_tokens"] == script.output_tokens and not row["interrupted"]
        for what in ("ttft", "e2e"):
            late = row[f"observed_{what}_ms"] - row[f"scripted_{what}_ms"]
            assert 0.0 <= late <= 3.0, (what, row)


def test_a_non_streamed_answer_comes_whole_after_the_scripted_time(
    server: CalibrationServer, client: httpx.Client
) -> None:
    t0 = time.perf_counter()
    resp = client.post(f"{server.base_url}/chat/completions", json={**CHAT, "max_tokens": 3})
    elapsed_ms = (time.perf_counter() - t0) * 1000
    assert resp.status_code == 200
    body = resp.json()
    script = script_for(TIMED, _index(resp)).limited(3)
    assert body["object"] == "chat.completion" and body["model"] == MODEL
    assert body["choices"][0]["message"] == {"role": "assistant", "content": TOKEN_TEXT * 3}
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    assert elapsed_ms >= script.e2e_ms


def test_models_health_metrics_and_a_wrong_model(
    server: CalibrationServer, client: httpx.Client
) -> None:
    assert client.get(f"{server.root_url}/health").status_code == 200
    models = client.get(f"{server.base_url}/models").json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == [MODEL]
    metrics = client.get(f"{server.root_url}/metrics").text
    assert "calibration_requests_total " in metrics
    resp = client.post(f"{server.base_url}/chat/completions", json={**CHAT, "model": "gpt-4o"})
    assert resp.status_code == 404
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "model_not_found"
    assert "gpt-4o" in error["message"]


def test_each_fault_does_what_it_should(tmp_path: Path) -> None:
    settings: dict[str, Any] = dict(ttft_ms=5, itl_ms=2, output_tokens_min=4, output_tokens_max=8)
    settings.update(p_http_429=0.15, p_http_500=0.15, p_stall=0.15, p_cut=0.15, p_empty=0.15)
    every = {"http_429", "http_500", "stall", "cut", "empty", None}
    # The first seed whose first 10 requests show every fault and a normal answer.
    config = next(
        c
        for c in (CalibrationConfig(seed=s, stall_s=2.0, **settings) for s in range(100))
        if {script_for(c, i).fault for i in range(10)} == every
    )
    faults = [script_for(config, i).fault for i in range(10)]
    with (
        CalibrationServer(config, truth_path=tmp_path / "truth.jsonl") as server,
        httpx.Client(timeout=httpx.Timeout(5.0, read=0.3)) as client,
    ):
        for i, fault in enumerate(faults):  # one at a time, so request i gets index i
            t0 = time.perf_counter()
            events: list[Any] = []
            with pytest.raises(httpx.HTTPError) if fault in ("stall", "cut") else _no_raise():
                resp, _ = _stream(client, server.base_url, into=events)
            content = _content_events(events)
            if fault in ("http_429", "http_500"):
                assert resp.status_code == int(fault[-3:]) and events == []
                error = resp.json()["error"]
                assert error["message"] and error["type"] and error["code"]
            elif fault == "stall":  # headers, the role chunk, then nothing past the time-out
                assert time.perf_counter() - t0 >= 0.3 and content == []
                time.sleep(0.05)  # let the server see the client leave
            elif fault == "cut":  # half the tokens, then the connection drops
                assert len(content) == script_for(config, i).output_tokens
                assert "[DONE]" not in [e for _, e in events]
                assert all(e["choices"][0]["finish_reason"] is None for _, e in events)
            else:
                assert _index(resp) == i
                n = script_for(config, i).output_tokens
                assert len(content) == (0 if fault == "empty" else n)
                assert events[-1][1] == "[DONE]"
                assert events[-2][1]["choices"][0]["finish_reason"] == "stop"
        deadline = time.monotonic() + 3
        while len(server.truth()) < len(faults) and time.monotonic() < deadline:
            time.sleep(0.02)
        truth = {r["fault"]: r for r in server.truth()}
    assert sorted(truth, key=str) == sorted(every, key=str)
    assert truth["stall"]["interrupted"] and truth["stall"]["observed_ttft_ms"] is None
    cut = truth["cut"]
    assert (
        cut["output_tokens"] == cut["scripted_output_tokens"]
        and cut["scripted_finish_reason"] is None
    )
    assert truth["empty"]["output_tokens"] == 0 and truth["empty"]["observed_ttft_ms"] is None
    assert truth["http_429"]["observed_e2e_ms"] < 50


def test_an_api_key_is_required_and_never_written_or_in_argv(tmp_path: Path) -> None:
    key = "sk-calibration-7f3a9c-DO-NOT-LEAK"
    config = CalibrationConfig(
        seed=1, ttft_ms=1, itl_ms=1, output_tokens_min=1, output_tokens_max=4, require_api_key=key
    )
    truth, log = tmp_path / "truth.jsonl", tmp_path / "server.log"
    with CalibrationServer(config, truth_path=truth, log_path=log) as server, httpx.Client() as c:
        pid = server.process.pid
        assert not any(key in arg for arg in psutil.Process(pid).cmdline())
        url = f"{server.base_url}/chat/completions"
        denied = c.post(url, json=CHAT)
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "invalid_api_key" and key not in denied.text
        wrong = c.post(url, json=CHAT, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert c.get(f"{server.base_url}/models").status_code == 401
        ok = c.post(url, json=CHAT, headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] >= 1
    assert server.process.poll() is not None and not psutil.pid_exists(pid)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert truth in written and log in written
    for path in written:
        assert key not in path.read_text(errors="replace"), path
    assert len(server.truth()) == 1


def test_a_taken_port_is_refused_before_anything_starts() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        server = CalibrationServer(TIMED, port=port)
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use"):
            server.start()
        assert server.process is None


def test_the_in_process_app_keeps_its_truth_in_memory() -> None:
    from aiohttp import web

    async def run() -> list[dict[str, Any]]:
        app = build_app(
            CalibrationConfig(seed=2, ttft_ms=3, itl_ms=1, output_tokens_min=1, output_tokens_max=3)
        )
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with httpx.AsyncClient() as c:
                r = await c.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT)
                assert r.status_code == 200
        finally:
            await runner.cleanup()
        return app[STATE].truth

    (row,) = asyncio.run(run())
    assert row["index"] == 0 and row["stream"] is False and row["observed_e2e_ms"] >= 3.0


def test_the_calibrate_command_serves_until_interrupted(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    truth = tmp_path / "truth.jsonl"
    argv = [sys.executable, "-m", "servegate.cli", "calibrate", "--port", str(port)]
    argv += ["--ttft-ms", "2", "--itl-ms", "1", "--tokens", "2:3", "--truth", str(truth)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"calibration server on http://127.0.0.1:{port}/v1" in line
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT, timeout=5)
        assert r.status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
    assert len(truth.read_text().splitlines()) == 1


def test_the_calibrate_command_names_a_bad_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--tokens", "many"]) == 2
    assert "tokens must be MIN:MAX output tokens, got 'many'" in capsys.readouterr().err
    assert main(["calibrate", "--burst", "http_429:ten:5"]) == 2
    assert "--burst must be FAULT:START:COUNT, got 'http_429:ten:5'" in capsys.readouterr().err
    assert main(["calibrate", "--burst", "teapot:1:5"]) == 2
    assert "fault" in capsys.readouterr().err


def test_bursts_from_flags() -> None:
    config = calibration_config_from_flags(seed=1, bursts=["http_500:3:2", "http_429:10:4"])
    assert [script_for(config, i).fault for i in (2, 3, 4, 5, 10, 13, 14)] == [
        None,
        "http_500",
        "http_500",
        None,
        "http_429",
        "http_429",
        None,
    ]
