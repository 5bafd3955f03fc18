"""Base URL handling, attaching to a server (unreachable cases; live ones in integration), and
reading a chat reply."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from servegate.calibration.app import TOKEN_TEXT
from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.core.errors import ConfigError, ServegateError
from servegate.server.endpoint import Endpoint, attach, normalize_base_url, redact_url
from servegate.server.launch import find_free_port
from tests.helpers import CALIBRATION_MODEL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1"),
        ("https://api.example.com/v1", "https://api.example.com/v1"),
        ("https://gw.example.com/llm", "https://gw.example.com/llm/v1"),
    ],
)
def test_base_urls_are_normalized_to_v1(url: str, expected: str) -> None:
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://x/v1", "not a url", ""])
def test_a_base_url_that_is_not_a_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match=r"is not an http\(s\) URL with a host; use e\.g\."):
        normalize_base_url(url)


def test_recorded_urls_lose_credentials_and_query() -> None:
    url = "https://user:s3cret@api.example.com:8443/v1?api_key=s3cret#frag"
    assert redact_url(url) == "https://api.example.com:8443/v1"
    with pytest.raises(ConfigError) as info:
        normalize_base_url("ftp://user:s3cret@host/v1?key=s3cret")
    assert "s3cret" not in str(info.value)


def test_api_key_is_not_in_repr() -> None:
    assert "sk-test" not in repr(Endpoint(base_url="http://h/v1", model="m", api_key="sk-test"))


def test_attaching_to_nothing_says_how_to_fix_it() -> None:
    port = find_free_port()
    with pytest.raises(
        ConfigError, match=rf"cannot reach http://127.0.0.1:{port}/v1 .*start the server"
    ):
        attach(f"http://127.0.0.1:{port}")


def test_a_chat_reply_is_read_with_its_usage() -> None:
    config = CalibrationConfig(
        seed=3, ttft_ms=1, itl_ms=1, output_tokens_min=3, output_tokens_max=3
    )
    with CalibrationServer(config) as srv:
        endpoint = Endpoint(base_url=srv.base_url, model=CALIBRATION_MODEL)
        reply = endpoint.chat("say three words", max_tokens=8)
    assert reply.text == TOKEN_TEXT * 3
    assert (reply.prompt_tokens, reply.completion_tokens) == (3, 3)  # the server's usage
    assert reply.latency_ms > 0


@contextmanager
def _answering(body: bytes) -> Iterator[str]:
    """A server that answers every POST with HTTP 200 and ``body``; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>a proxy sign-in page</html>", r"\(not JSON: '<html>a proxy"),
        (b'{"object": "list", "data": []}', r"\(id: Field required\)"),
        (
            b'{"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": []}',
            "answered with no choices",
        ),
    ],
    ids=["html", "another-object", "no-choices"],
)
def test_a_200_that_is_not_a_chat_completion_says_so(body: bytes, problem: str) -> None:
    with _answering(body) as url, pytest.raises(ServegateError, match=problem) as info:
        Endpoint(base_url=url, model="m").chat("hi")
    assert "check that base_url points at an OpenAI-compatible API" in str(info.value)
