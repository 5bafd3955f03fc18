"""The calibration server's settings and its per-request script, a pure function of the seed.

The calibration server (``servegate.calibration.server``) answers each chat request by a script:
which fault, if any, the time to the first content token, the gaps between tokens and how
many tokens. ``script_for(config, index)`` computes the script of the request with sequence
number ``index`` from ``config.seed`` and ``index`` alone, so a test or the fidelity benchmark
can recompute what the server was told to do and compare it with what a client measured.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "FAULTS",
    "CalibrationConfig",
    "Dist",
    "FaultBurst",
    "RequestScript",
    "knee_delay_for",
    "script_for",
]

#: Fault names, in the order their probability ranges are laid out on [0, 1).
FAULTS = ("http_429", "http_500", "stall", "cut", "empty")


class Dist(BaseModel):
    """A distribution of durations in milliseconds.

    - ``constant``: always ``value``;
    - ``uniform``: uniform on [``low``, ``high``];
    - ``lognormal``: ``median * exp(sigma * Z)`` with Z standard normal (right-skewed, like
      real inter-token gaps).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["constant", "uniform", "lognormal"] = "constant"
    value: float | None = Field(None, ge=0, description="constant: the value, ms")
    low: float | None = Field(None, ge=0, description="uniform: lower bound, ms")
    high: float | None = Field(None, ge=0, description="uniform: upper bound, ms")
    median: float | None = Field(None, gt=0, description="lognormal: the median, ms")
    sigma: float | None = Field(None, ge=0, description="lognormal: sd of the log")

    @model_validator(mode="after")
    def _params_fit_kind(self) -> Dist:
        needed = {"constant": ("value",), "uniform": ("low", "high"), "lognormal": ("median",)}
        missing = [p for p in needed[self.kind] if getattr(self, p) is None]
        if missing:
            raise ValueError(
                f"a {self.kind} distribution needs {' and '.join(missing)}; e.g. "
                + {
                    "constant": "{'kind': 'constant', 'value': 40}",
                    "uniform": "{'kind': 'uniform', 'low': 20, 'high': 60}",
                    "lognormal": "{'kind': 'lognormal', 'median': 40, 'sigma': 0.3}",
                }[self.kind]
            )
        low, high = self.low, self.high
        if self.kind == "uniform" and low is not None and high is not None and low > high:
            raise ValueError(f"uniform needs low <= high, got low={low}, high={high}")
        return self

    def sample(self, rng: random.Random) -> float:
        """One draw in ms (a constant draws nothing from ``rng``)."""
        # The asserts only narrow for mypy: _params_fit_kind made sure each kind has its fields.
        if self.kind == "constant":
            assert self.value is not None
            return float(self.value)
        if self.kind == "uniform":
            assert self.low is not None and self.high is not None
            return rng.uniform(self.low, self.high)
        assert self.median is not None
        return rng.lognormvariate(0.0, self.sigma or 0.0) * self.median


class FaultBurst(BaseModel):
    """A run of consecutive requests that all get one fault, like a rate limiter kicking in.

    Requests with sequence numbers ``start .. start + count - 1`` get ``fault`` whatever the
    random draw said; the rest of each script is drawn as usual.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    fault: Literal["http_429", "http_500", "stall", "cut", "empty"]
    start: int = Field(ge=0, description="sequence number of the first request in the burst")
    count: int = Field(ge=1, description="how many consecutive requests get the fault")

    @property
    def stop(self) -> int:
        """One past the last sequence number in the burst."""
        return self.start + self.count


def _as_dist(value: Any) -> Any:
    # A bare number means a constant: `ttft_ms=200` reads as {"kind": "constant", "value": 200}.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"kind": "constant", "value": value}
    return value


class CalibrationConfig(BaseModel):
    """How the calibration server answers. Unknown keys are errors, so a typo cannot hide.

    Fault rates are probabilities per request; their sum must not exceed 1. A request with no
    fault streams ``output_tokens_min..output_tokens_max`` content tokens (uniform), the first
    after ``ttft_ms`` and each next one ``itl_ms`` after the previous one.
    """

    # hide_input_in_errors: a validation error must not print the API key it was given.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    seed: int = Field(description="with the request's sequence number, fixes its whole script")
    ttft_ms: Dist = Field(Dist(value=200.0), description="arrival to first content token, ms")
    itl_ms: Dist = Field(Dist(value=40.0), description="gap between content tokens, ms")
    output_tokens_min: int = Field(32, ge=1)
    output_tokens_max: int = Field(128, ge=1)
    p_http_429: float = Field(0.0, ge=0, le=1, description="answer 429 at once")
    p_http_500: float = Field(0.0, ge=0, le=1, description="answer 500 at once")
    p_stall: float = Field(
        0.0, ge=0, le=1, description="send headers, then nothing for stall_s, then the answer"
    )
    p_cut: float = Field(
        0.0, ge=0, le=1, description="close the stream after about half the tokens, no [DONE]"
    )
    p_empty: float = Field(0.0, ge=0, le=1, description="a normal stream with no content token")
    stall_s: float = Field(120.0, gt=0, description="how long a stall lasts; beyond time-outs")
    model: str = Field("calibration", min_length=1)
    role_chunk: bool = Field(
        True, description="send a role-only chunk at once, before the first content token"
    )
    require_api_key: str | None = Field(
        None, repr=False, description="when set, requests need 'Authorization: Bearer <key>'"
    )

    bursts: tuple[FaultBurst, ...] = Field(
        (), description="runs of consecutive requests that all get one fault (no overlaps)"
    )
    # A capacity knee: a server that serves `slots` requests at full speed and makes any
    # request beyond them wait (vLLM preempting or queueing past its batch). It gives the
    # capacity search a known right answer: the highest passing concurrency is `slots`.
    slots: int | None = Field(
        None, ge=1, description="requests served at full speed at once; None: no knee"
    )
    knee_delay_ms: Dist = Field(
        Dist(value=1000.0),
        description="extra wait of a request that arrives while `slots` others are in flight",
    )

    # Scripted answers: a request whose last user message is one of these keys is answered
    # with the value's text (a word or two per content token) instead of " tok" tokens, on the
    # same timing script. It gives the quality pass a known right answer: the share of items
    # scripted with their reference answers is the accuracy the pass must report.
    answers: dict[str, str] = Field(
        default_factory=dict, description="answer text by the last user message's text"
    )

    _coerce_dists = field_validator("ttft_ms", "itl_ms", "knee_delay_ms", mode="before")(_as_dist)

    @model_validator(mode="after")
    def _consistent(self) -> CalibrationConfig:
        if self.output_tokens_min > self.output_tokens_max:
            raise ValueError(
                f"output_tokens_min ({self.output_tokens_min}) is above output_tokens_max "
                f"({self.output_tokens_max}); swap them"
            )
        total = sum(self.fault_rates().values())
        if total > 1.0 + 1e-12:
            raise ValueError(
                f"fault rates add up to {total:g} (> 1): {self.fault_rates()}; lower some"
            )
        spans = sorted(self.bursts, key=lambda b: b.start)
        for before, after in itertools.pairwise(spans):
            if after.start < before.stop:
                raise ValueError(
                    f"bursts overlap: {before.fault} at {before.start}..{before.stop - 1} and "
                    f"{after.fault} at {after.start}..{after.stop - 1}; move one of them"
                )
        return self

    def burst_fault(self, index: int) -> str | None:
        """The fault a burst forces on request ``index``, or None when no burst covers it."""
        for burst in self.bursts:
            if burst.start <= index < burst.stop:
                return burst.fault
        return None

    def fault_rates(self) -> dict[str, float]:
        """Probability per request of each fault in ``FAULTS``."""
        return {
            "http_429": self.p_http_429,
            "http_500": self.p_http_500,
            "stall": self.p_stall,
            "cut": self.p_cut,
            "empty": self.p_empty,
        }


@dataclass(frozen=True)
class RequestScript:
    """What the server does for one request; times are from the request's arrival, in ms.

    ``fault`` is None for a normal answer, else one of ``FAULTS``. ``ttft_ms`` is when the first
    content token is due (None when no content token is sent: HTTP errors, empty answers).
    ``itl_ms`` holds the ``output_tokens - 1`` gaps between content tokens. ``e2e_ms`` is when
    the last byte is due: 0 for HTTP errors, the finish time for an empty answer.
    ``finish_reason`` is "stop", "length" (cut short by the request's ``max_tokens``) or None
    (no finishing chunk: HTTP errors and cut streams).
    """

    index: int
    fault: str | None
    ttft_ms: float | None
    itl_ms: tuple[float, ...]
    output_tokens: int
    e2e_ms: float
    finish_reason: str | None

    def token_due_ms(self) -> list[float]:
        """When each content token is due, from arrival (cumulative, so no drift)."""
        if self.ttft_ms is None:
            return []
        due = [self.ttft_ms]
        for gap in self.itl_ms:
            due.append(due[-1] + gap)
        return due

    def delayed(self, delay_ms: float) -> RequestScript:
        """This script started ``delay_ms`` later (a request waiting for a slot); an HTTP error
        is answered at once all the same."""
        if delay_ms <= 0 or self.fault in ("http_429", "http_500"):
            return self
        ttft = None if self.ttft_ms is None else self.ttft_ms + delay_ms
        return replace(self, ttft_ms=ttft, e2e_ms=self.e2e_ms + delay_ms)

    def limited(self, max_tokens: int | None) -> RequestScript:
        """This script with at most ``max_tokens`` (>= 1) content tokens, the request's own cap.

        A capped answer finishes with "length"; a cut stream stays unfinished.
        """
        if max_tokens is None or max_tokens >= self.output_tokens:
            return self
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        itl = self.itl_ms[: max_tokens - 1]
        return replace(
            self,
            itl_ms=itl,
            output_tokens=max_tokens,
            e2e_ms=(self.ttft_ms or 0.0) + sum(itl),
            finish_reason=None if self.fault == "cut" else "length",
        )


def script_for(config: CalibrationConfig, index: int) -> RequestScript:
    """The script of the request with sequence number ``index`` (0 for the first request).

    A pure function of ``(config, index)``: a fresh ``random.Random`` seeded with the string
    ``"{seed}:{index}"`` (seeded through SHA-512, identical across processes and platforms)
    draws, in this order, the fault (one uniform on [0, 1) against the rates laid out in
    ``FAULTS`` order), the TTFT, the token count, then each gap. The draws do not depend on
    the fault rates' values, so changing a rate changes which requests fail, not the draws.

    - ``http_429``, ``http_500``: no token; answered at once.
    - ``stall``: the first token is due ``stall_s`` after arrival, then the drawn gaps follow.
    - ``cut``: the first ``max(1, n // 2)`` tokens on schedule, then the connection closes.
    - ``empty``: no content token; the finishing chunk is due at the drawn TTFT.

    A request inside one of ``config.bursts`` gets the burst's fault instead of the drawn one.
    """
    rng = random.Random(f"{config.seed}:{index}")
    u = rng.random()
    fault = None
    edge = 0.0
    for name, rate in config.fault_rates().items():
        edge += rate
        if u < edge:
            fault = name
            break
    # A burst overrides the draw but draws nothing itself, so the other scripts stay the same.
    fault = config.burst_fault(index) or fault
    ttft = config.ttft_ms.sample(rng)
    n = rng.randint(config.output_tokens_min, config.output_tokens_max)
    gaps = tuple(config.itl_ms.sample(rng) for _ in range(n - 1))

    if fault in ("http_429", "http_500"):
        return RequestScript(index, fault, None, (), 0, 0.0, None)
    if fault == "empty":
        return RequestScript(index, fault, None, (), 0, ttft, "stop")
    if fault == "stall":
        ttft = config.stall_s * 1000.0
    finish: str | None = "stop"
    if fault == "cut":
        n = max(1, n // 2)
        gaps = gaps[: n - 1]
        finish = None
    return RequestScript(index, fault, ttft, gaps, n, ttft + sum(gaps), finish)


def knee_delay_for(config: CalibrationConfig, index: int, in_flight: int) -> float:
    """The extra wait (ms) of request ``index`` that arrives while ``in_flight`` others are in
    flight: a draw of ``knee_delay_ms`` when they fill ``config.slots``, else 0. Drawn from its
    own seeded generator, so a knee changes no other draw of the script."""
    if config.slots is None or in_flight < config.slots:
        return 0.0
    return config.knee_delay_ms.sample(random.Random(f"{config.seed}:{index}:knee"))
