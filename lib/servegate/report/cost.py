"""The report's cost table: USD per 1M output tokens, self-hosted and hosted, with its basis.

Each entry says how it was reached (machine and price date, the throughput and level used, the
token mix), or why there is no figure (no price for that model or machine), never a bare number.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from servegate.analysis.cost import (
    Pricing,
    hosted_cost_per_1m_output_tokens,
    hosted_price_for_model,
    machine_price_for_run,
    self_hosted_cost_per_1m_output_tokens,
)
from servegate.analysis.searched import SearchedCapacity
from servegate.core.errors import ServegateError
from servegate.runs.frames import levels_frame
from servegate.runs.reader import RunData

__all__ = ["CostOption", "hosted_cost", "local_cost"]


class CostOption(BaseModel):
    """One row of the cost table: USD per 1M output tokens, or None and the reason in ``basis``.

    Only the fields that were set are saved: a row that could not be priced has no throughput.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    option: str
    backend: Literal["vllm", "openai"]
    usd_per_1m_output_tokens: float | None
    basis: str
    level: str | None = None
    output_tok_per_s: float | None = None
    hourly_usd: float | None = None
    measured: bool | None = None

    @model_serializer(mode="wrap")
    def _set_fields_only(
        self, handler: SerializerFunctionWrapHandler
    ) -> dict[str, Any]:  # JSON boundary: a cost row as saved
        # The decision JSON's cost rows keep only what was known for the option.
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}


def local_cost(
    run: RunData,
    pricing: Pricing,
    *,
    hourly_usd: float | None,
    p50_ms: float,
    p95_ms: float,
    metric: str,
    searched: SearchedCapacity | None = None,
) -> CostOption:
    """Self-hosted USD per 1M output tokens: the machine's hourly price over the output tokens
    per second one replica produces within the latency limits: a capacity search's
    (``searched``, its goodput) when there is one, else the best level of ``run`` that meets
    the latency gates (else the best level, and the basis says so)."""
    option = f"self-hosted vLLM ({run.model})"
    try:
        price = machine_price_for_run(
            pricing, params=run.params, manifest=run.manifest, hourly_usd=hourly_usd
        )
    except ServegateError as exc:
        return CostOption(
            option=option, backend="vllm", usd_per_1m_output_tokens=None, basis=str(exc)
        )
    if searched is not None and searched.output_tok_per_s.value:
        tps = float(searched.output_tok_per_s.value)
        return CostOption(
            option=option,
            backend="vllm",
            usd_per_1m_output_tokens=self_hosted_cost_per_1m_output_tokens(price.hourly_usd, tps),
            basis=f"{price.describe()} / {tps:.1f} output tok/s ({searched.describe()})",
            level=f"c{searched.concurrency}",
            output_tok_per_s=tps,
            hourly_usd=price.hourly_usd,
        )
    levels = levels_frame(run)
    closed = levels[levels["concurrency"].notna() & levels["output_tok_per_s"].notna()]
    meets = closed[(closed[f"{metric}_p95_ms"] <= p95_ms) & (closed[f"{metric}_p50_ms"] <= p50_ms)]
    pool, note = (
        (meets, "best level that meets the latency gates")
        if len(meets)
        else (closed, "no level met the latency gates: best throughput shown")
    )
    if pool.empty:
        return CostOption(
            option=option,
            backend="vllm",
            usd_per_1m_output_tokens=None,
            basis="no throughput measured",
        )
    best = pool.iloc[int(pool["output_tok_per_s"].to_numpy().argmax())]  # the first best
    tps = float(best["output_tok_per_s"])
    return CostOption(
        option=option,
        backend="vllm",
        usd_per_1m_output_tokens=self_hosted_cost_per_1m_output_tokens(price.hourly_usd, tps),
        basis=f"{price.describe()} / {tps:.1f} output tok/s at {best['level']} ({note})",
        level=str(best["level"]),
        output_tok_per_s=tps,
        hourly_usd=price.hourly_usd,
    )


def hosted_cost(
    hosted: RunData | None, local: RunData | None, pricing: Pricing, model: str
) -> CostOption:
    """Hosted USD per 1M output tokens: list prices over the hosted run's token mix, or the
    local run's when the hosted run measured nothing (the basis says which)."""
    option = f"hosted {model}"
    measured = hosted is not None and hosted.state != "skipped" and len(hosted.requests) > 0
    mix_run = hosted if measured else local
    try:
        key, price = hosted_price_for_model(pricing, model)
    except ServegateError as exc:
        return CostOption(
            option=option, backend="openai", usd_per_1m_output_tokens=None, basis=str(exc)
        )
    if mix_run is None or not len(mix_run.requests):
        return CostOption(
            option=option,
            backend="openai",
            usd_per_1m_output_tokens=None,
            basis="no token mix measured",
        )
    ok = mix_run.requests[mix_run.requests["status"] == "ok"]
    tokens_in, tokens_out = ok["input_tokens"].sum(), ok["output_tokens"].sum()
    usd = hosted_cost_per_1m_output_tokens(
        int(tokens_in),
        int(tokens_out),
        price.input_usd_per_1m_tokens,
        price.output_usd_per_1m_tokens,
    )
    source = "the hosted run's" if measured else "the local run's (hosted run not measured)"
    return CostOption(
        option=option,
        backend="openai",
        usd_per_1m_output_tokens=usd,
        basis=(
            f"{key} list price {price.input_usd_per_1m_tokens:g} in / "
            f"{price.output_usd_per_1m_tokens:g} out USD per 1M tokens (as of {price.as_of}) "
            f"x {source} token mix ({int(tokens_in):,} in, {int(tokens_out):,} out)"
        ),
        measured=measured,
    )
