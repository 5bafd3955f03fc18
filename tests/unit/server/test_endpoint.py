"""Base URL handling and attaching to a server (unreachable cases; live ones in integration)."""

from __future__ import annotations

import pytest

from servegate.core.errors import ConfigError
from servegate.server.endpoint import Endpoint, attach, normalize_base_url, redact_url
from servegate.server.launch import find_free_port


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
