"""The real vLLM CPU server on the embedded model: stream, usage, metrics, attach, stop."""

from __future__ import annotations

import json

import httpx
import pytest

from servegate.core.errors import ConfigError
from servegate.server.endpoint import attach
from servegate.server.lifecycle import VLLMServer

pytestmark = pytest.mark.vllm


def _stream_chat(server: VLLMServer, content: str, max_tokens: int = 16) -> tuple[str, dict]:
    body = {
        "model": server.model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    text, usage = [], {}
    with httpx.stream(
        "POST", f"{server.base_url}/chat/completions", json=body, timeout=120
    ) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line.removeprefix("data: "))
            for choice in chunk.get("choices", []):
                text.append(choice["delta"].get("content") or "")
            usage = chunk.get("usage") or usage
    return "".join(text), usage


def test_streams_a_chat_completion_with_counted_usage(vllm_server: VLLMServer) -> None:
    text, usage = _stream_chat(vllm_server, "What is the capital of France?")
    assert text.strip(), "empty answer"
    assert usage["completion_tokens"] > 0
    assert usage["prompt_tokens"] > 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_the_model_answers_correctly(vllm_server: VLLMServer) -> None:
    """Catches a numerically broken engine: the one question every model here must get right."""
    reply = vllm_server.chat("What is the capital of France?", max_tokens=16)
    assert "Paris" in reply.text


def test_metrics_count_the_generated_tokens(vllm_server: VLLMServer) -> None:
    before = vllm_server.metrics_snapshot()
    _, usage = _stream_chat(vllm_server, "Name three colors.", max_tokens=12)
    after = vllm_server.metrics_snapshot()
    assert before is not None and after is not None
    assert after.delta(before, "vllm:generation_tokens_total") == usage["completion_tokens"]
    assert after.get("vllm:num_requests_running") == 0
    assert after.get("vllm:kv_cache_usage_perc") is not None


def test_the_server_is_healthy_and_records_its_story(vllm_server: VLLMServer) -> None:
    vllm_server.check()
    story = vllm_server.story()
    assert story["engine"] == "cpu"
    assert story["base_url"].startswith("http://127.0.0.1:")
    assert story["startup_s"] > 0 and not story["crashed"]


def test_attach_finds_the_served_model(vllm_server: VLLMServer) -> None:
    endpoint = attach(vllm_server.root_url)
    assert endpoint.model == "smollm2"
    assert endpoint.health()
    reply = endpoint.chat("Say hello.", max_tokens=8)
    assert reply.completion_tokens and reply.text


def test_attach_refuses_a_model_the_server_does_not_serve(vllm_server: VLLMServer) -> None:
    with pytest.raises(
        ConfigError, match=r"does not serve model 'gpt-4o-mini'; it serves \['smollm2'\]"
    ):
        attach(vllm_server.base_url, "gpt-4o-mini")
