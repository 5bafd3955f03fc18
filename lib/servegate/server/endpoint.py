"""An OpenAI-compatible endpoint seen from outside: health, served models, metrics, a test chat.

``VLLMServer`` is an ``Endpoint`` that also owns its process; ``attach`` gives an ``Endpoint``
for a server someone else runs (a GPU box, a multi-node deployment, a hosted API).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import ValidationError

from servegate.core.errors import ConfigError, ServegateError
from servegate.server.metrics import MetricsSnapshot, parse_metrics

if TYPE_CHECKING:  # imported where a reply is read: `import openai` takes about 1.5 s
    from openai.types.chat import ChatCompletion

__all__ = ["ChatReply", "Endpoint", "attach", "normalize_base_url", "redact_url"]

log = logging.getLogger(__name__)


def redact_url(url: str) -> str:
    """``url`` without user info, query string or fragment, safe to record in a manifest."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def normalize_base_url(url: str) -> str:
    """Validate an OpenAI-style base URL and make it end in ``/v1``.

    :raises ConfigError: when ``url`` is not an http(s) URL with a host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"base_url {redact_url(url)!r} is not an http(s) URL with a host; "
            "use e.g. http://127.0.0.1:8000/v1"
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path = f"{path}/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass(frozen=True)
class ChatReply:
    """A non-streamed chat answer with its token usage and wall time."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float


@dataclass
class Endpoint:
    """An OpenAI-compatible server at ``base_url`` (ending in ``/v1``) serving ``model``.

    The API key is never part of ``repr`` and is sent only as a bearer token.
    """

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    request_timeout_s: float = 60.0

    @property
    def root_url(self) -> str:
        """The server root, where vLLM serves ``/health`` and ``/metrics``."""
        return self.base_url.removesuffix("/v1")

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def health(self) -> bool:
        """True when ``/health`` answers 200."""
        try:
            return httpx.get(f"{self.root_url}/health", timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    def served_models(self) -> list[str]:
        """Model ids from ``GET /v1/models``."""
        resp = httpx.get(f"{self.base_url}/models", headers=self._headers(), timeout=10.0)
        resp.raise_for_status()
        return [m["id"] for m in resp.json().get("data", [])]

    def metrics_snapshot(self) -> MetricsSnapshot | None:
        """One scrape of ``/metrics``; ``None`` when the server has none (e.g. a hosted API)."""
        try:
            resp = httpx.get(f"{self.root_url}/metrics", timeout=10.0)
        except httpx.HTTPError as exc:
            log.warning("could not read %s/metrics: %s", self.root_url, exc)
            return None
        if resp.status_code != 200:
            return None
        return parse_metrics(resp.text)

    def chat(self, content: str, *, max_tokens: int = 32, temperature: float = 0.0) -> ChatReply:
        """Send one non-streamed chat completion and return the answer (for smoke checks)."""
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        start = time.perf_counter()
        resp = httpx.post(
            f"{self.base_url}/chat/completions",
            json=body,
            headers=self._headers(),
            timeout=self.request_timeout_s,
        )
        latency_ms = (time.perf_counter() - start) * 1000
        if resp.status_code != 200:
            raise ServegateError(
                f"chat completion at {redact_url(self.base_url)} failed with HTTP "
                f"{resp.status_code}: {resp.text[:200]}"
            )
        answer = self._completion(resp)
        usage = answer.usage
        return ChatReply(
            text=answer.choices[0].message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            latency_ms=latency_ms,
        )

    def _completion(self, resp: httpx.Response) -> ChatCompletion:
        """The 200 reply read as the openai client's ``ChatCompletion``, with one choice at least.

        :raises ServegateError: naming what is wrong when the body is not such a reply.
        """
        from openai.types.chat import ChatCompletion

        try:
            answer = ChatCompletion.model_validate(resp.json())
        except ValueError as exc:  # not JSON, or not a chat completion (ValidationError)
            if isinstance(exc, ValidationError):
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"]) or "the body"
                problem = f"{where}: {first['msg']}"
            else:
                problem = f"not JSON: {resp.text[:200]!r}"
            raise ServegateError(
                f"chat completion at {redact_url(self.base_url)} answered HTTP 200 with a body "
                f"that is not an OpenAI chat completion ({problem}); check that base_url points "
                "at an OpenAI-compatible API"
            ) from None
        if not answer.choices:
            raise ServegateError(
                f"chat completion at {redact_url(self.base_url)} answered with no choices; "
                "check that base_url points at an OpenAI-compatible API"
            )
        return answer

    def warmup(self, n: int) -> list[float]:
        """Send ``n`` short chats so first-request costs (graphs, caches) are paid before measuring.

        Returns their latencies in ms; they are never part of a benchmark's results.
        """
        prompts = ["Say hello.", "What is 2 + 2?", "Name a color."]
        return [self.chat(prompts[i % len(prompts)], max_tokens=8).latency_ms for i in range(n)]


def attach(base_url: str, model: str | None = None, *, api_key: str | None = None) -> Endpoint:
    """An ``Endpoint`` for a running server, checked to serve ``model``.

    With ``model`` unset, the server must serve exactly one model, which is used.

    :raises ConfigError: bad URL, unreachable server, or a model the server does not serve.
    """
    url = normalize_base_url(base_url)
    probe = Endpoint(base_url=url, model=model or "", api_key=api_key)
    try:
        served = probe.served_models()
    except httpx.HTTPStatusError as exc:
        raise ConfigError(
            f"{redact_url(url)}/models answered HTTP {exc.response.status_code}; check the URL "
            "and that the API key in the environment is valid for this server"
        ) from None
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"cannot reach {redact_url(url)} ({type(exc).__name__}); "
            "start the server or fix base_url"
        ) from None
    if model is None:
        if len(served) != 1:
            raise ConfigError(f"{redact_url(url)} serves {served}; name one with `model`")
        model = served[0]
    elif model not in served:
        raise ConfigError(
            f"{redact_url(url)} does not serve model {model!r}; it serves {served}. "
            "Set `model` to one of those"
        )
    probe.model = model
    return probe
