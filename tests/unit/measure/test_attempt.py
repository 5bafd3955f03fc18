"""From what a request collected to its record: timings, tokens, and the final status."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from servegate.core.names import Status
from servegate.measure.attempt import Attempt, RecordContext, error_message, to_record
from tests.helpers import TEST_PROMPTS

PROMPT = TEST_PROMPTS[0]
CONTEXT = RecordContext(
    run_id="r1", backend="vllm", model="m", level="c4", concurrency=4, request_rate=None
)


def _data(payload: object) -> bytes:
    """One SSE event as servers send it: a data line and a blank line."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {text}\n\n".encode()


def _token(text: str) -> bytes:
    return _data({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


FINISH = _data({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
USAGE = _data({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
DONE = _data("[DONE]")


def _attempt(*reads: tuple[float, bytes], due: float = 10.0) -> Attempt:
    """Due at 10 s, sent at 10.002 s, in a level that started at 4 s."""
    attempt = Attempt(5, PROMPT, due=due, sent=due + 0.002, t0=4.0, http_status=200)
    attempt.reads.extend(reads)
    return attempt


def test_a_full_answer_is_timed_from_its_due_time_to_its_last_read() -> None:
    attempt = _attempt(
        (10.1, _token("a")), (10.13, _token("b")), (10.17, _token("c") + FINISH + USAGE + DONE)
    )
    record = to_record(attempt, CONTEXT)
    assert record.status is Status.OK and record.error == ""
    assert (record.run_id, record.level, record.concurrency, record.seq) == ("r1", "c4", 4, 5)
    assert record.prompt_id == PROMPT.id and record.category == PROMPT.category
    assert record.queue_ms == pytest.approx(2.0)
    assert record.ttft_ms == pytest.approx(100.0)
    assert record.e2e_ms == pytest.approx(170.0)
    assert (record.due_s, record.end_s) == pytest.approx((6.0, 6.17))
    assert record.gaps_ms == pytest.approx([30.0, 40.0])
    assert (record.itl_mean_ms, record.itl_max_ms) == pytest.approx((35.0, 40.0))
    assert record.tpot_ms == pytest.approx((170.0 - 100.0) / 2)  # 3 tokens from usage
    assert (record.input_tokens, record.output_tokens, record.tokens_source) == (7, 3, "usage")
    assert (record.n_content_chunks, record.finish_reason) == (3, "stop")


@pytest.mark.parametrize(
    ("reads", "error"),
    [
        ([_token("a"), _data({"error": {"message": "engine died"}}), DONE], "engine died"),
        ([_token("a"), _token("b")], "stream ended before [DONE] (cut mid-answer)"),
        ([FINISH, DONE], "empty answer (no content tokens)"),
        ([_data({"error": "CUDA out of memory"}), DONE], "CUDA out of memory"),
    ],
    ids=["error-chunk", "no-done", "no-content", "oom-chunk"],
)
def test_a_stream_that_arrived_can_still_be_a_failure(reads: list[bytes], error: str) -> None:
    attempt = _attempt(*((10.1 + 0.01 * k, data) for k, data in enumerate(reads)))
    record = to_record(attempt, CONTEXT)
    assert record.status is (Status.OOM if "memory" in error else Status.ERROR)
    assert record.error == error
    assert record.tpot_ms is None


def test_an_out_of_memory_error_body_is_oom_and_other_errors_stay_errors() -> None:
    for text, status in (
        ('{"error": {"message": "CUDA out of memory. Tried to allocate 2 GiB"}}', Status.OOM),
        ('{"error": {"message": "Rate limit reached"}}', Status.ERROR),
    ):
        attempt = _attempt()
        attempt.fail(Status.ERROR, error_message(text, 500))
        record = to_record(attempt, CONTEXT)
        assert record.status is status and record.error.startswith("HTTP 500: ")
        assert record.ttft_ms is None and record.gaps_ms == [] and record.tokens_source == "none"


def test_a_timed_out_stream_keeps_its_status_and_ends_when_it_was_recorded() -> None:
    due = time.perf_counter() - 1.0  # ended now, 1 s after it was due
    attempt = _attempt((due + 0.1, _token("a")), due=due)
    attempt.fail(Status.TIMEOUT, "no complete answer within 1 s")
    record = to_record(attempt, CONTEXT)
    assert record.status is Status.TIMEOUT and record.ttft_ms == pytest.approx(100.0)
    assert record.e2e_ms >= 1000.0  # not the last read: the time-out is when it ended
    assert record.tpot_ms is None


def test_tokens_come_from_usage_else_the_tokenizer_else_the_chunks() -> None:
    reads = ((10.1, _token("a b")), (10.2, _token(" c") + DONE))
    words = replace(CONTEXT, token_counter=lambda text: len(text.split()))
    record = to_record(_attempt(*reads), words)
    assert record.tokens_source == "tokenizer" and record.output_tokens == 3
    assert record.input_tokens == len(PROMPT.messages[0].content.split())
    record = to_record(_attempt(*reads), CONTEXT)
    assert (record.input_tokens, record.output_tokens, record.tokens_source) == (None, 2, "chunks")


def test_error_message_reads_an_openai_error_body_else_quotes_the_body() -> None:
    assert error_message('{"error": {"message": "bad model"}}', 404) == "HTTP 404: bad model"
    assert (
        error_message("  <html>Bad Gateway</html>\n", 502) == "HTTP 502: <html>Bad Gateway</html>"
    )
    assert error_message('["not", "a", "mapping"]', 500) == 'HTTP 500: ["not", "a", "mapping"]'
