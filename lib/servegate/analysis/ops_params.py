"""Validated parameters of the operations analyses: the capacity plan and the fallback simulation.

The models forbid unknown keys and are validated already when constructed (``CapacityParams(...)``);
a problem raises the ``ConfigError`` of ``servegate.core.config.validate_params``, like every
parameter model: it names each bad field, the value and, from the field's description, the fix.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from servegate.analysis.cost import HostedPrice, HourlyPrice
from servegate.core.config import params_error

__all__ = [
    "DEFAULT_HOSTED_MODEL",
    "DEFAULT_PEAK_TO_AVERAGE",
    "DEFAULT_TIMEOUTS_MS",
    "CapacityForecast",
    "CapacityParams",
    "FallbackParams",
]

#: Used when neither average_rps nor peak_to_average is given (daily peak of interactive use).
DEFAULT_PEAK_TO_AVERAGE = 2.0
DEFAULT_TIMEOUTS_MS = (100.0, 250.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0, 5000.0)
#: The hosted model a report prices when no hosted run names one: the model the hosted benchmark
#: (params/hosted_openai.yaml) measures by default, so a later hosted run prices the same way.
DEFAULT_HOSTED_MODEL = "gpt-4o-mini"


class _Params(BaseModel):
    """A parameter model validated when constructed, with the errors of ``validate_params``.

    Pydantic calls a model's own ``__init__`` from ``model_validate`` too, so the message comes
    from ``params_error`` (what ``validate_params`` raises) rather than a second validation.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: How the user knows these parameters, in the error message.
    _what: ClassVar[str] = "parameters"

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            # The message of validate_params, which names each field and its fix.
            raise params_error(type(self), exc, what=self._what) from None


class CapacityForecast(BaseModel):
    """The traffic a report's capacity plan is for; prices and gates come from elsewhere.

    Validated as part of the report's parameters (``validate_params``), not on its own.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    peak_rps: float = Field(
        5.0,
        gt=0,
        allow_inf_nan=False,
        description="capacity plan: the forecast peak in requests per second, e.g. 5.0",
    )
    peak_to_average: float = Field(
        2.0, ge=1, allow_inf_nan=False, description="capacity plan: peak ÷ average, >= 1, e.g. 2.0"
    )
    annual_growth: float = Field(
        0.5,
        gt=-1,
        allow_inf_nan=False,
        description="capacity plan: yearly growth as a fraction > -1, e.g. 0.5 for +50% a year",
    )
    headroom: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="capacity plan: spare share of each replica at peak, >= 0 and < 1, e.g. 0.2",
    )


class CapacityParams(_Params):
    """What a capacity plan is for: forecast, growth, headroom, prices and the latency gates."""

    _what = "capacity parameters"

    peak_rps: float = Field(
        gt=0,
        allow_inf_nan=False,
        description="the forecast peak in requests per second, e.g. 5.0",
    )
    average_rps: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="the forecast average in requests per second, at most peak_rps",
    )
    peak_to_average: float | None = Field(
        None,
        ge=1,
        allow_inf_nan=False,
        description="peak ÷ average traffic, >= 1, e.g. 2.0 (or average_rps instead)",
    )
    annual_growth: float = Field(
        0.0,
        gt=-1,
        allow_inf_nan=False,
        description="yearly growth as a fraction > -1, e.g. 0.5 for +50% a year",
    )
    horizon_years: float = Field(
        1.0, ge=0, allow_inf_nan=False, description="years ahead to plan for, >= 0, e.g. 1"
    )
    growth_factor: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="one traffic multiplier > 0, e.g. 1.5 (or annual_growth instead)",
    )
    headroom: float = Field(
        0.2, ge=0, lt=1, description="spare share of each replica at peak, >= 0 and < 1, e.g. 0.2"
    )
    hourly_usd: float = Field(
        gt=0,
        allow_inf_nan=False,
        description="one replica's machine price in USD per hour, > 0, as in data/pricing.yaml",
    )
    hosted_input_usd_per_1m: float = Field(
        ge=0, allow_inf_nan=False, description="the hosted list price per 1M input tokens, >= 0"
    )
    hosted_output_usd_per_1m: float = Field(
        ge=0, allow_inf_nan=False, description="the hosted list price per 1M output tokens, >= 0"
    )
    hours_per_month: float = Field(
        730.0,
        gt=0,
        le=744,
        description="hours billed a month: use 730 (8,760 ÷ 12); a month has at most 744",
    )
    p50_ms: float = Field(1000.0, gt=0, allow_inf_nan=False)
    p95_ms: float = Field(3000.0, gt=0, allow_inf_nan=False, description="also goodput's SLO")
    latency_metric: Literal["e2e", "ttft"] = "e2e"
    level_rule: Literal["ci", "point"] = Field(
        "ci", description="ci: both gates PASS on their 95% intervals; point: estimates only"
    )
    mean_input_tokens: float | None = Field(None, ge=0, allow_inf_nan=False)
    mean_output_tokens: float | None = Field(None, gt=0, allow_inf_nan=False)
    break_even_max_rps: float | None = Field(None, gt=0, description="None: 100x the average")

    @model_validator(mode="after")
    def _consistent(self) -> CapacityParams:
        if self.average_rps is not None and self.peak_to_average is not None:
            raise ValueError("give average_rps or peak_to_average, not both")
        if self.average_rps is not None and self.average_rps > self.peak_rps:
            raise ValueError(
                f"average_rps {self.average_rps:g} exceeds peak_rps {self.peak_rps:g}; "
                "the average cannot be above the peak"
            )
        if self.growth_factor is not None and self.annual_growth != 0:
            raise ValueError("give growth_factor or annual_growth (with horizon_years), not both")
        return self

    @property
    def growth(self) -> float:
        """Traffic multiplier at the horizon: ``growth_factor``, else (1 + annual)^years."""
        if self.growth_factor is not None:
            return self.growth_factor
        return (1.0 + self.annual_growth) ** self.horizon_years

    @property
    def ratio(self) -> float:
        """Peak ÷ average traffic: from ``average_rps``, ``peak_to_average`` or the default."""
        if self.average_rps is not None:
            return self.peak_rps / self.average_rps
        return self.peak_to_average or DEFAULT_PEAK_TO_AVERAGE

    @classmethod
    def from_prices(
        cls, hosted: HostedPrice, machine: HourlyPrice | float, **rest: Any
    ) -> CapacityParams:
        """Params priced from ``servegate.analysis.cost``: a hosted entry and a machine price."""
        hourly = machine.hourly_usd if isinstance(machine, HourlyPrice) else machine
        return cls(
            hourly_usd=hourly,
            hosted_input_usd_per_1m=hosted.input_usd_per_1m_tokens,
            hosted_output_usd_per_1m=hosted.output_usd_per_1m_tokens,
            **rest,
        )


class FallbackParams(_Params):
    """The fallback simulation: which level, which time-outs, the gates, the seed and prices."""

    _what = "fallback parameters"

    level: str | None = Field(
        None, description='the local load level, e.g. "c8" or 8; None: the gate level'
    )
    hosted_level: str | None = Field(None, description="None: the same level, else all rows")
    timeouts_ms: tuple[float, ...] = Field(
        DEFAULT_TIMEOUTS_MS,
        min_length=1,
        description="time-to-first-token limits in ms, each > 0 and finite, e.g. [500, 1000]",
    )
    p50_ms: float = Field(1000.0, gt=0, allow_inf_nan=False)
    p95_ms: float = Field(3000.0, gt=0, allow_inf_nan=False)
    seed: int = Field(0, description="a whole number, e.g. 0")
    local_usd_per_1m_output_tokens: float | None = Field(None, ge=0, allow_inf_nan=False)
    hosted_input_usd_per_1m: float | None = Field(None, ge=0, allow_inf_nan=False)
    hosted_output_usd_per_1m: float | None = Field(None, ge=0, allow_inf_nan=False)

    @field_validator("level", "hosted_level", mode="before")
    @classmethod
    def _level_name(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise ValueError("a concurrency must be >= 1")
            return f"c{value}"  # the load generator's label of a closed-loop level
        return value

    @field_validator("timeouts_ms")
    @classmethod
    def _timeouts(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        bad = [t for t in value if not (math.isfinite(t) and t > 0)]
        if bad:
            raise ValueError(f"every time-out must be > 0 and finite ({bad} are not)")
        return tuple(sorted(set(value)))

    @classmethod
    def from_prices(
        cls, hosted: HostedPrice | None, local_usd_per_1m: float | None, **rest: Any
    ) -> FallbackParams:
        """Params priced from a pricing.yaml hosted entry and the local cost per 1M tokens."""
        return cls(
            local_usd_per_1m_output_tokens=local_usd_per_1m,
            hosted_input_usd_per_1m=hosted.input_usd_per_1m_tokens if hosted else None,
            hosted_output_usd_per_1m=hosted.output_usd_per_1m_tokens if hosted else None,
            **rest,
        )
