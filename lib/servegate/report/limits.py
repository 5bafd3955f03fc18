"""The report's "What the hardware allows" section: the decision JSON's ``feasibility``.

An estimate from first principles (``servegate.analysis.limits``), never a measurement, and it
enters no gate. Two parts:

- **the measured run**: each level's throughput and latency against the bound on its own
  hardware, and the share of the bound reached (``analysis.limits_run``);
- **each hardware option** of ``data/hardware.yaml``: for a planned model and quantization (by
  default params/gpu_24gb.yaml's, Llama-3.1-8B in AWQ INT4), the lower bounds on TTFT and
  end-to-end p50/p95 at the gate concurrency over the prompt set's lengths, whether each latency
  gate is reachable at the physical limit and at a realistic efficiency, the efficiency at which
  it would pass, the throughput bound at each concurrency, and the hourly price. An option whose
  entry is bad, or that the model does not fit, is listed with the reason and no figures.

The options' lengths (``prompt_workload``): the prompt set, each answer at its ``max_tokens``
cap, as params/gpu_24gb.yaml sends it; each prompt's tokens as the local run's server counted
them where it sent that prompt, else estimated. The measured run's bound uses its own requests'
token counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from servegate.analysis.cost import Pricing
from servegate.analysis.limits import (
    ModelShape,
    Quantization,
    Workload,
    efficiency_to_pass,
    latency_bounds,
    memory_fit,
    quantization,
    throughput_bound,
)
from servegate.analysis.limits_data import (
    HardwareOption,
    model_from_config,
    read_hardware,
    read_models,
)
from servegate.analysis.limits_run import level_efficiencies, run_setup
from servegate.core.errors import ServegateError
from servegate.core.paths import resolve_path
from servegate.measure.prompts import Prompt, load_prompts
from servegate.report.numbers import ReportFloat
from servegate.runs.reader import RunData

__all__ = [
    "ESTIMATE_NOTE",
    "FeasibilityLevel",
    "FeasibilityOption",
    "FeasibilityRun",
    "FeasibilitySection",
    "FeasibilityThroughput",
    "feasibility_section",
    "option_entry",
    "planned_model",
    "prompt_workload",
]

ESTIMATE_NOTE = (
    "An estimate from first principles (datasheet bandwidth and compute, model size), never a "
    "measurement; it enters no gate. Bounds: no software can be faster (efficiency 1.0)."
)
#: Concurrencies the options' throughput bound is given at.
THROUGHPUT_LEVELS = (1, 4, 8, 16, 32, 64)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeasibilityLevel(_Entry):
    """One level of the measured run against its own hardware's bound (efficiency 1)."""

    level: str
    concurrency: int
    measured_tok_per_s: ReportFloat
    bound_tok_per_s: ReportFloat
    throughput_efficiency: ReportFloat
    measured_e2e_p50_ms: ReportFloat
    bound_e2e_p50_ms: ReportFloat
    e2e_efficiency: ReportFloat
    measured_ttft_p50_ms: ReportFloat
    bound_ttft_p50_ms: ReportFloat


class FeasibilityRun(_Entry):
    """The measured run, its hardware option, model and quantization, and its levels."""

    run_id: str
    hardware: str
    hardware_name: str
    basis: str
    levels: list[FeasibilityLevel]


class FeasibilityThroughput(_Entry):
    concurrency: int
    tok_per_s: ReportFloat


class FeasibilityOption(_Entry):
    """One hardware option: its figures, its bounds at the gate concurrency, the gates'
    reachability, and its price; or, left out, only why."""

    key: str
    name: str
    included: bool
    reason: str
    source: str
    as_of: str
    hourly_usd: ReportFloat
    price_basis: str
    memory_gib: ReportFloat = None
    memory_bandwidth_gbps: ReportFloat = None
    weights_gib: ReportFloat = None
    max_sequences: int | None = None
    ttft_p50_ms: ReportFloat = None
    ttft_p95_ms: ReportFloat = None
    e2e_p50_ms: ReportFloat = None
    e2e_p95_ms: ReportFloat = None
    p50_reachable: bool | None = None
    p95_reachable: bool | None = None
    p50_reachable_realistic: bool | None = None
    p95_reachable_realistic: bool | None = None
    p50_efficiency_needed: ReportFloat = None
    p95_efficiency_needed: ReportFloat = None
    throughput: list[FeasibilityThroughput] = []


class FeasibilitySection(_Entry):
    """The decision JSON's ``feasibility``: an estimate, labelled as one, never a gate."""

    note: str
    model: str
    quantization: str
    model_basis: str
    workload_basis: str
    n_requests: int
    concurrency: int
    metric: str
    p50_ms: float
    p95_ms: float
    realistic_efficiency: float
    memory_utilization: float
    run: FeasibilityRun | None
    run_note: str
    options: list[FeasibilityOption]


def planned_model(name: str, models_path: str | Path) -> ModelShape:
    """A model sheet key, or a model folder (or config.json) to read the shape from.

    :raises LimitsError: neither a sheet key nor a readable config.
    """
    models = read_models(models_path)
    if name in models:
        return models[name]
    return model_from_config(name, name=Path(name).name)


def _estimated_tokens(prompt: Prompt) -> int:
    # Without the model's tokenizer: ~4 characters per token, plus 4 per message for the chat
    # template's role markers (both rough, stated wherever the estimate is shown).
    return sum(len(m.content) // 4 + 4 for m in prompt.messages)


def _measured_inputs(run: RunData | None) -> dict[str, int]:
    """Each prompt id's input tokens as the run's server counted them (the median of its
    successful requests)."""
    if run is None or not len(run.requests):
        return {}
    ok = run.requests[run.requests["status"] == "ok"].dropna(subset=["input_tokens"])
    return {str(k): int(v) for k, v in ok.groupby("prompt_id")["input_tokens"].median().items()}


def prompt_workload(
    prompts_path: str | Path,
    *,
    run: RunData | None = None,
    tokenizer: str | Path | None = None,
) -> Workload:
    """The prompt set as a workload, each answer at its ``max_tokens`` cap (params/gpu_24gb.yaml
    sends each prompt's own cap). Each prompt's tokens: as ``run``'s server counted them where
    it sent that prompt; else counted by ``tokenizer`` (a model folder: its chat template
    applied) when given; else estimated at 4 characters a token."""
    prompt_set = load_prompts(prompts_path)
    measured = _measured_inputs(run)
    counted: dict[str, int] = {}
    if tokenizer is not None and (resolve_path(tokenizer) / "tokenizer.json").is_file():
        from transformers import AutoTokenizer  # only here: a heavy import

        tok = AutoTokenizer.from_pretrained(str(resolve_path(tokenizer)))
        counted = {
            p.id: len(
                tok.apply_chat_template(
                    [m.model_dump() for m in p.messages], add_generation_prompt=True, tokenize=True
                )
            )
            for p in prompt_set.prompts
            if p.id not in measured
        }
    inputs = [
        measured.get(p.id) or counted.get(p.id) or _estimated_tokens(p) for p in prompt_set.prompts
    ]
    n_measured = sum(p.id in measured for p in prompt_set.prompts)
    n_counted = len(counted)
    n_estimated = len(inputs) - n_measured - n_counted
    how = ", ".join(
        text
        for n, text in (
            (n_measured, f"{n_measured} as {run.run_id if run else ''}'s server counted them"),
            (n_counted, f"{n_counted} counted by the tokenizer of {tokenizer}"),
            (n_estimated, f"{n_estimated} estimated at 4 characters a token"),
        )
        if n
    )
    return Workload(
        tuple(inputs),
        tuple(p.max_tokens for p in prompt_set.prompts),
        f"{prompt_set.path.name}: {len(inputs)} prompts, each answer at its max_tokens cap; "
        f"prompt tokens: {how}",
    )


def _price(option: HardwareOption, pricing: Pricing | None) -> tuple[float | None, str]:
    if option.priced_as is None:
        return None, "no list price recorded"
    machine = pricing.machines.get(option.priced_as) if pricing is not None else None
    if machine is None:
        return None, f"{option.priced_as} is not in the price sheet"
    share = max(machine.gpu_count, 1)
    per = f" / {share} GPUs" if share > 1 else ""
    return machine.hourly_usd / share, (
        f"{option.priced_as} {machine.hourly_usd:g} USD/h{per} (as of {machine.as_of})"
    )


def option_entry(
    key: str,
    option: HardwareOption,
    model: ModelShape,
    quant: Quantization,
    workload: Workload,
    *,
    concurrency: int,
    metric: str,
    p50_ms: float,
    p95_ms: float,
    realistic: float,
    memory_utilization: float,
    pricing: Pricing | None,
) -> FeasibilityOption:
    """One option's entry: bounds, reachability and price; left out when the model's
    weights do not fit its memory at all."""
    hourly, price_basis = _price(option, pricing)
    head = {
        "key": key,
        "name": option.name,
        "source": option.source,
        "as_of": option.as_of,
        "hourly_usd": hourly,
        "price_basis": price_basis,
        "memory_gib": option.memory_gib,
        "memory_bandwidth_gbps": option.memory_bandwidth_gbps,
    }
    fit = memory_fit(model, quant, option, workload, memory_utilization=memory_utilization)
    if not fit.fits:
        return FeasibilityOption(
            **head,
            included=False,
            reason=f"does not fit: {fit.reason()}",
            weights_gib=fit.weights_gib,
        )
    bound = latency_bounds(model, quant, option, workload, concurrency)
    p50 = bound.ttft_p50_ms if metric == "ttft" else bound.e2e_p50_ms
    p95 = bound.ttft_p95_ms if metric == "ttft" else bound.e2e_p95_ms
    need50, need95 = efficiency_to_pass(p50, p50_ms), efficiency_to_pass(p95, p95_ms)
    context = workload.mean_context()
    reason = (
        ""
        if fit.max_sequences >= concurrency
        else f"only {fit.max_sequences} sequences of the mean length fit beside the weights"
    )
    return FeasibilityOption(
        **head,
        included=True,
        reason=reason,
        weights_gib=fit.weights_gib,
        max_sequences=fit.max_sequences,
        ttft_p50_ms=bound.ttft_p50_ms,
        ttft_p95_ms=bound.ttft_p95_ms,
        e2e_p50_ms=bound.e2e_p50_ms,
        e2e_p95_ms=bound.e2e_p95_ms,
        p50_reachable=need50 <= 1.0,
        p95_reachable=need95 <= 1.0,
        p50_reachable_realistic=need50 <= realistic,
        p95_reachable_realistic=need95 <= realistic,
        p50_efficiency_needed=need50,
        p95_efficiency_needed=need95,
        throughput=[
            FeasibilityThroughput(
                concurrency=c,
                tok_per_s=throughput_bound(
                    model, quant, option, concurrency=c, mean_context=context
                ),
            )
            for c in THROUGHPUT_LEVELS
            if c <= max(fit.max_sequences, 1)
        ],
    )


def _run_part(
    local: RunData | None,
    models: Mapping[str, ModelShape],
    options: Mapping[str, HardwareOption],
) -> tuple[FeasibilityRun | None, str]:
    if local is None:
        return None, "no local run to set against its bound"
    try:
        setup = run_setup(local, models, options)
        levels = level_efficiencies(local, setup)
    except ServegateError as exc:
        return None, f"the local run's bound is not shown: {exc}"
    return FeasibilityRun(
        run_id=local.run_id,
        hardware=setup.hardware_key,
        hardware_name=setup.hardware.name,
        basis=setup.basis,
        levels=[FeasibilityLevel(**vars(e)) for e in levels],
    ), ""


def feasibility_section(
    local: RunData | None,
    pricing: Pricing | None,
    *,
    hardware_path: str | Path,
    models_path: str | Path,
    model: str,
    quant: str,
    prompts_path: str | Path,
    concurrency: int,
    metric: str,
    p50_ms: float,
    p95_ms: float,
    realistic: float,
    memory_utilization: float,
    extra_left_out: Sequence[tuple[str, str]] = (),
) -> FeasibilitySection:
    """The ``feasibility`` section (module docstring).

    :raises LimitsError: the hardware or model sheet cannot be read at all, the planned model
        is unknown, or its quantization is (``report.build`` turns that into a caveat).
    """
    options, left_out = read_hardware(hardware_path, strict=False)
    models = read_models(models_path)
    shape = planned_model(model, models_path)
    q = quantization(quant)
    workload = prompt_workload(prompts_path, run=local)
    run, run_note = _run_part(local, models, options)
    entries = [
        option_entry(
            key,
            option,
            shape,
            q,
            workload,
            concurrency=concurrency,
            metric=metric,
            p50_ms=p50_ms,
            p95_ms=p95_ms,
            realistic=realistic,
            memory_utilization=memory_utilization,
            pricing=pricing,
        )
        for key, option in options.items()
    ]
    entries += [
        FeasibilityOption(
            key=key,
            name=key,
            included=False,
            reason=f"left out: {why}",
            source="",
            as_of="",
            hourly_usd=None,
            price_basis="",
        )
        for key, why in [*left_out.items(), *extra_left_out]
    ]
    return FeasibilitySection(
        note=ESTIMATE_NOTE,
        model=shape.name,
        quantization=q.name,
        model_basis=model,
        workload_basis=workload.basis,
        n_requests=len(workload.input_tokens),
        concurrency=concurrency,
        metric=metric,
        p50_ms=p50_ms,
        p95_ms=p95_ms,
        realistic_efficiency=realistic,
        memory_utilization=memory_utilization,
        run=run,
        run_note=run_note,
        options=entries,
    )
