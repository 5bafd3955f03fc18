"""The SSE reader: timestamped byte reads of a chat stream to token times, text, usage and end."""

from __future__ import annotations

import json

import pytest

from servegate.measure.sse import parse_sse


def _data(payload: object) -> bytes:
    """One SSE event as servers send it: a data line and a blank line."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {text}\n\n".encode()


def _delta(content: str | None = None, finish: str | None = None, **delta: str) -> dict:
    if content is not None:
        delta["content"] = content
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_a_role_only_first_chunk_is_not_a_token() -> None:
    reads = [
        (1.0, _data(_delta(role="assistant", content=""))),  # sent before any token
        (2.0, _data(_delta("Hi"))),
        (2.5, _data(_delta(" there"))),
        (3.0, _data(_delta(finish="stop"))),
        (3.1, _data({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}})),
        (3.2, _data("[DONE]")),
    ]
    parsed = parse_sse(reads)
    assert parsed.first_token_time == 2.0
    assert parsed.content_times == [2.0, 2.5]
    assert parsed.gaps_ms() == pytest.approx([500.0])
    assert parsed.text == "Hi there"
    assert parsed.finish_reason == "stop"
    assert (parsed.prompt_tokens, parsed.completion_tokens) == (7, 2)
    assert parsed.done and parsed.last_time == 3.2 and parsed.error is None


def test_a_line_split_across_reads_takes_the_time_of_the_read_that_ends_it() -> None:
    first, second = _data(_delta("A")), _data(_delta("B"))
    assert b"\n" not in first[:20] + second[:10]  # both cuts fall inside a data line
    reads = [
        (1.0, first[:20]),
        (1.5, first[20:] + second[:10]),  # ends the first line, starts the second
        (2.0, second[10:] + _data("[DONE]")),
    ]
    parsed = parse_sse(reads)
    assert parsed.text == "AB"
    assert parsed.content_times == [1.5, 2.0]
    assert parsed.done and parsed.last_time == 2.0


def test_done_without_a_space_and_a_last_line_without_newline() -> None:
    reads = [(1.0, b'data:{"choices":[{"delta":{"content":"x"}}]}\n'), (1.2, b"data:[DONE]")]
    parsed = parse_sse(reads)
    assert parsed.text == "x" and parsed.content_times == [1.0]
    assert parsed.done and parsed.last_time == 1.2


def test_a_stream_cut_before_done_is_not_done() -> None:
    parsed = parse_sse([(1.0, _data(_delta("half"))), (1.1, b'data: {"choices": [{"del')])
    assert parsed.text == "half" and not parsed.done and parsed.finish_reason is None
    assert parsed.error is not None and parsed.error.startswith("unparseable stream chunk: ")


def test_comments_events_and_blank_lines_are_skipped() -> None:
    reads = [(1.0, b": keep-alive\n\nevent: message\nid: 3\n\n" + _data(_delta("ok")))]
    parsed = parse_sse(reads)
    assert parsed.text == "ok" and parsed.content_times == [1.0] and parsed.error is None


def test_an_error_event_is_kept_as_the_streams_error() -> None:
    error = {"error": {"message": "The server had an error", "type": "server_error"}}
    parsed = parse_sse([(1.0, _data(_delta("a"))), (2.0, _data(error))])
    assert parsed.error == "The server had an error"
    assert parsed.text == "a" and not parsed.done
    plain = parse_sse([(1.0, _data({"error": "overloaded"}))])
    assert plain.error == "overloaded" and plain.first_token_time is None


def test_no_reads_is_an_empty_stream() -> None:
    parsed = parse_sse([])
    assert parsed.content_times == [] and parsed.text == "" and not parsed.done
    assert parsed.first_token_time is None and parsed.last_time is None and parsed.gaps_ms() == []
