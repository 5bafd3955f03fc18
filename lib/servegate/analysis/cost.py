"""Cost per 1M output tokens: hosted token prices and self-hosted machine hours, from pricing.yaml.

Both sides are put in one unit, USD per 1M output tokens, so they can stand in one table:

- self-hosted: the machine's hourly price spread over the tokens it produced in that hour at
  the measured throughput (``self_hosted_cost_per_1m_output_tokens``);
- hosted: what the measured requests' input and output tokens cost at list price, divided by
  their output tokens (``hosted_cost_per_1m_output_tokens``), so a prompt-heavy workload is
  charged for its prompts.

The prices in ``data/pricing.yaml`` are list prices with a date and a source each; see the
comment at the top of that file before trusting them.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from servegate.core.errors import PricingError
from servegate.core.paths import resolve_path

__all__ = [
    "DEFAULT_PRICING_PATH",
    "HostedPrice",
    "HourlyPrice",
    "MachinePrice",
    "Pricing",
    "as_of_date",
    "hosted_cost_per_1m_output_tokens",
    "hosted_price_for_model",
    "load_pricing",
    "machine_price_for_run",
    "self_hosted_cost_per_1m_output_tokens",
]

log = logging.getLogger(__name__)

DEFAULT_PRICING_PATH = "data/pricing.yaml"
_AS_OF = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")


def as_of_date(value: Any) -> Any:
    """A data file's ``as_of`` as ``YYYY-MM`` or ``YYYY-MM-DD`` text (pydantic "before" check)."""
    if isinstance(value, date):  # YAML reads an unquoted 2025-01-15 as a date
        return value.isoformat()
    if not isinstance(value, str) or not _AS_OF.match(value):
        raise ValueError("must be a date written YYYY-MM or YYYY-MM-DD, e.g. 2025-01")
    return value


_DATED = "every price needs as_of (when it was read, YYYY-MM or YYYY-MM-DD) and source (its URL)"


class _Dated(BaseModel):
    """When and where a price was read."""

    model_config = ConfigDict(extra="forbid")

    as_of: str = Field(description="when the price was read: YYYY-MM or YYYY-MM-DD")
    source: str = Field(description="the URL of the price page")
    note: str = ""

    _as_of = field_validator("as_of", mode="before")(as_of_date)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be the http(s) URL the price was read from")
        return value


class HostedPrice(_Dated):
    """A hosted model's list price in USD per 1M tokens."""

    input_usd_per_1m_tokens: float = Field(ge=0, allow_inf_nan=False)
    output_usd_per_1m_tokens: float = Field(ge=0, allow_inf_nan=False)


class MachinePrice(_Dated):
    """A machine's hourly list price, and what it has (matched against a run's manifest)."""

    kind: Literal["cpu", "gpu"]
    hourly_usd: float = Field(ge=0, allow_inf_nan=False)
    gpu: str | None = Field(None, description="GPU name as NVML reports it, e.g. NVIDIA L4")
    gpu_count: int = Field(0, ge=0)
    gpu_memory_gib: float | None = Field(None, gt=0)
    vcpus: int | None = Field(None, gt=0)
    memory_gib: float | None = Field(None, gt=0)
    region: str | None = None

    @model_validator(mode="after")
    def _gpu_fields(self) -> MachinePrice:
        if self.kind == "gpu" and (not self.gpu or self.gpu_count < 1):
            raise ValueError("a gpu machine needs gpu (its GPU's name) and gpu_count >= 1")
        if self.kind == "cpu" and (self.gpu or self.gpu_count):
            raise ValueError("a cpu machine has no gpu or gpu_count; use kind: gpu")
        return self

    def matches_gpu(self, name: str) -> bool:
        """Whether this machine's ``gpu`` appears in ``name`` as whole words."""
        if not self.gpu:
            return False
        pattern = rf"(?<![A-Za-z0-9]){re.escape(self.gpu)}(?![A-Za-z0-9])"
        return re.search(pattern, name, re.IGNORECASE) is not None


class _Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpu: str
    gpu: str | None = None


class Pricing(BaseModel):
    """The validated pricing file."""

    model_config = ConfigDict(extra="forbid")

    currency: Literal["USD"] = "USD"
    hosted: dict[str, HostedPrice] = Field(default_factory=dict)
    machines: dict[str, MachinePrice] = Field(default_factory=dict)
    defaults: _Defaults

    @model_validator(mode="after")
    def _defaults_exist(self) -> Pricing:
        for kind in ("cpu", "gpu"):
            key = getattr(self.defaults, kind)
            if key is None:
                continue
            if key not in self.machines:
                raise ValueError(
                    f"defaults.{kind} names {key!r}, which is not under machines "
                    f"(known: {sorted(self.machines)})"
                )
            if self.machines[key].kind != kind:
                raise ValueError(f"defaults.{kind} names {key!r}, a {self.machines[key].kind}")
        return self


_FIELDS: dict[str, type[BaseModel]] = {
    "hosted": HostedPrice,
    "machines": MachinePrice,
    "defaults": _Defaults,
}


def _problem(err: Mapping[str, Any]) -> str:
    loc = [str(p) for p in err["loc"]]
    where = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        owner = _FIELDS.get(loc[0]) if len(loc) > 1 else Pricing
        known = sorted(owner.model_fields) if owner else []
        return f"unknown key {where!r} (known keys there: {', '.join(known)})"
    if err["type"] == "missing":
        fix = f" ({_DATED})" if loc[-1] in ("as_of", "source") else ""
        return f"{where} is missing{fix}"
    if err["type"] in ("greater_than_equal", "greater_than"):
        bound = str(err["msg"]).split("be ", 1)[-1]
        return (
            f"{where} must be {bound} (prices and counts cannot be negative), got {err['input']!r}"
        )
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}, got {err.get('input')!r:.80}"


def load_pricing(path: str | Path = DEFAULT_PRICING_PATH) -> Pricing:
    """Read and validate a pricing file (``data/pricing.yaml``).

    A relative ``path`` is under the project root (``servegate.core.paths``), so a notebook
    (which runs in ``notebooks/``) and a command line read the same file.

    :raises PricingError: when the file is missing, not YAML, or invalid: an unknown key, a
        negative price, a missing ``as_of`` or ``source``, a default that names no machine.
        The message lists every problem.
    """
    resolved = resolve_path(path)
    if not resolved.is_file():
        raise PricingError(
            f"pricing file {resolved} not found; use {DEFAULT_PRICING_PATH} (relative paths are "
            "under the project root), or pass the path of your own copy"
        )
    try:
        data = yaml.safe_load(resolved.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PricingError(f"pricing file {resolved} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PricingError(
            f"pricing file {resolved} must hold a mapping with hosted, machines and defaults, "
            f"got {type(data).__name__}"
        )
    try:
        return Pricing.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise PricingError(
            f"invalid pricing file {resolved}: {problems}; fix the file (its top comment "
            "describes each field)"
        ) from None


def _number(name: str, value: float | None, *, allow_none: bool) -> float | None:
    if value is None:
        if allow_none:
            return None
        raise PricingError(f"{name} must be a number, got None")
    number = float(value)
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise PricingError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def self_hosted_cost_per_1m_output_tokens(
    hourly_usd: float, output_tok_per_s: float | None
) -> float | None:
    """USD per 1M output tokens of a machine kept busy at the measured throughput.

    ``cost = hourly_usd / (output_tok_per_s * 3600) * 1_000_000``: an hour of the machine
    divided by the output tokens it produces in that hour. It assumes the machine is paid for
    whole hours and runs this load all the time; idle hours make real tokens dearer.

    Example: 0.8048 USD/h at 500 tok/s is 0.8048 / 1.8M tokens = 0.4471 USD per 1M tokens.

    :param hourly_usd: the machine's price, USD per hour (>= 0).
    :param output_tok_per_s: measured output tokens per second at one load level.
    :returns: USD per 1M output tokens; ``None`` when the throughput is None, NaN or 0 (an
        all-failed level has no cost per token, not an infinite one).
    :raises PricingError: for a negative, NaN or infinite price, or a negative throughput.
    """
    hourly = _number("hourly_usd", hourly_usd, allow_none=False)
    assert hourly is not None
    if output_tok_per_s is None or math.isnan(float(output_tok_per_s)):
        return None
    rate = _number("output_tok_per_s", output_tok_per_s, allow_none=False)
    if not rate:
        return None
    return hourly / (rate * 3600.0) * 1_000_000.0


def hosted_cost_per_1m_output_tokens(
    input_tokens: int | None,
    output_tokens: int | None,
    price_in_per_1m: float,
    price_out_per_1m: float,
) -> float | None:
    """USD per 1M output tokens of the measured token mix at hosted list prices.

    ``total_usd = (input_tokens * price_in_per_1m + output_tokens * price_out_per_1m) / 1e6``
    and ``cost = total_usd / output_tokens * 1e6``, i.e.
    ``price_out_per_1m + price_in_per_1m * input_tokens / output_tokens``: the output price
    plus the input price weighted by how many prompt tokens each answer token needed.

    Example: 11,261 input and 2,813 output tokens at 0.15 / 0.60 USD per 1M cost
    (11,261 * 0.15 + 2,813 * 0.60) / 1e6 = 0.00337695 USD, i.e. 1.2005 USD per 1M output tokens.

    :param input_tokens: prompt tokens of the successful requests (the API's usage counts).
    :param output_tokens: completion tokens of the same requests.
    :returns: USD per 1M output tokens; ``None`` when either count is None or there were no
        output tokens.
    :raises PricingError: for a negative, NaN or infinite count or price.
    """
    p_in = _number("price_in_per_1m", price_in_per_1m, allow_none=False)
    p_out = _number("price_out_per_1m", price_out_per_1m, allow_none=False)
    n_in = _number("input_tokens", input_tokens, allow_none=True)
    n_out = _number("output_tokens", output_tokens, allow_none=True)
    if n_in is None or not n_out:
        return None
    assert p_in is not None and p_out is not None
    total_usd = (n_in * p_in + n_out * p_out) / 1_000_000.0
    return total_usd / n_out * 1_000_000.0


def hosted_price_for_model(pricing: Pricing, model: str) -> tuple[str, HostedPrice]:
    """The hosted price of ``model``: its exact entry, else the longest ``<key>-...`` prefix.

    A dated model name such as ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``.

    :returns: (the pricing key used, its price).
    :raises PricingError: when no entry fits, naming the known ones.
    """
    if model in pricing.hosted:
        return model, pricing.hosted[model]
    prefixes = [k for k in pricing.hosted if model.startswith(f"{k}-")]
    if prefixes:
        key = max(prefixes, key=len)
        return key, pricing.hosted[key]
    raise PricingError(
        f"no hosted price for model {model!r} (known: {sorted(pricing.hosted)}); "
        "add it under hosted: in data/pricing.yaml with its as_of and source"
    )


@dataclass(frozen=True)
class HourlyPrice:
    """The hourly price chosen for a self-hosted run, and why.

    :param machine: the pricing key, or None for an explicit ``hourly_usd``.
    :param basis: how it was chosen: ``"hourly_usd parameter"``, ``"params.machine"``,
        ``"default cpu"`` or ``"matched gpu"``.
    """

    hourly_usd: float
    machine: str | None
    basis: str
    as_of: str | None = None
    source: str | None = None
    note: str = ""

    def describe(self) -> str:
        """One line for a report, e.g. ``aws-c7a.large 0.10264 USD/h (default cpu, 2025-01)``."""
        if self.machine is None:
            return f"{self.hourly_usd:g} USD/h ({self.basis})"
        text = f"{self.machine} {self.hourly_usd:g} USD/h ({self.basis}, as of {self.as_of})"
        return f"{text}; {self.note}" if self.note else text


def _from_entry(pricing: Pricing, key: str, basis: str, note: str = "") -> HourlyPrice:
    entry = pricing.machines[key]
    return HourlyPrice(entry.hourly_usd, key, basis, entry.as_of, entry.source, note)


def machine_price_for_run(
    pricing: Pricing | None,
    *,
    params: Mapping[str, Any] | None = None,
    manifest: Mapping[str, Any] | None = None,
    hourly_usd: float | None = None,
) -> HourlyPrice:
    """Pick the hourly price of the machine a self-hosted run used.

    In order: an explicit ``hourly_usd``; else the pricing key named by ``machine`` in the run's
    parameters (e.g. ``machine: aws-g6.xlarge``); else by the manifest's hardware: no GPU ->
    the CPU machine whose ``vcpus`` equals the run's cores, else ``defaults.cpu`` (with a note
    that the core counts differ); GPUs -> the first machine, ``defaults.gpu`` first, whose
    ``gpu`` names the run's GPU and whose ``gpu_count`` equals its count.

    :param pricing: the pricing file's content; may be None only with ``hourly_usd``.
    :raises PricingError: for a negative ``hourly_usd``, an unknown ``machine`` key, a manifest
        without hardware, or a GPU that no machine entry fits (the message says how to add one).
    """
    if hourly_usd is not None:
        value = _number("hourly_usd", hourly_usd, allow_none=False)
        assert value is not None
        return HourlyPrice(value, None, "hourly_usd parameter")
    if pricing is None:
        raise PricingError("no pricing file and no hourly_usd: pass one of them to price a run")
    key = (params or {}).get("machine")
    if key:
        if key not in pricing.machines:
            raise PricingError(
                f"params name machine {key!r}, which data/pricing.yaml does not list "
                f"(known: {sorted(pricing.machines)}); fix the name or add the machine"
            )
        return _from_entry(pricing, key, "params.machine")
    hardware = (manifest or {}).get("hardware")
    if not isinstance(hardware, Mapping):
        raise PricingError(
            "the run's manifest has no hardware section, so its machine cannot be priced; "
            "name one with machine: in the params or pass hourly_usd"
        )
    gpus = [g.get("name", "") for g in hardware.get("gpus") or [] if isinstance(g, Mapping)]
    if not gpus:
        cores = hardware.get("cpu_affinity_cores") or hardware.get("cpu_logical_cores")
        for name, entry in pricing.machines.items():
            if entry.kind == "cpu" and cores and entry.vcpus == cores:
                return _from_entry(pricing, name, "default cpu")
        default = pricing.defaults.cpu
        vcpus = pricing.machines[default].vcpus
        note = f"priced as {vcpus} vCPUs, the run had {cores} cores" if cores else ""
        return _from_entry(pricing, default, "default cpu", note)
    order = [pricing.defaults.gpu] if pricing.defaults.gpu else []
    order += [k for k in pricing.machines if k not in order]
    for name in order:
        entry = pricing.machines[name]
        if entry.kind == "gpu" and entry.gpu_count == len(gpus) and entry.matches_gpu(gpus[0]):
            return _from_entry(pricing, name, "matched gpu")
    raise PricingError(
        f"no machine in data/pricing.yaml has {len(gpus)} x {gpus[0]!r}; add one under "
        "machines: (kind: gpu, gpu: <name>, gpu_count, hourly_usd, as_of, source), or name one "
        "with machine: in the params, or pass hourly_usd"
    )
