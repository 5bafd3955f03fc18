"""What the hardware allows: physical bounds on LLM serving, from first principles.

Decoding one step reads every weight once, plus the KV cache of every running sequence, and
does 2 FLOPs per weight per sequence; so one step takes at least

    step(b) = max((W + kv_token * tokens_in_cache) / bandwidth, 2 * P * b / compute)

where ``W`` is the bytes of weights read per step, ``P`` the multiplied weights (decoder blocks
and the output head), ``b`` the batch. Prefill of ``n`` tokens is bound by compute
(``2 * P_blocks * n``; the head runs for the last token only) or by one read of the weights,
whichever is slower. Efficiency 1.0 is the physical limit; at efficiency ``e`` every time is
divided by ``e`` (a run at 50% of the bandwidth takes twice the bound).

These are lower bounds on time, upper bounds on throughput: an estimate from the datasheet,
never a measurement, and never a gate. Scheduling, attention kernels, other requests' prefills,
sampling and the HTTP path only add time. ``ModelShape`` and ``Quantization`` are the inputs;
``servegate.analysis.limits_data`` reads them from the sheets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from servegate.core.errors import LimitsError

__all__ = [
    "QUANTIZATIONS",
    "Bandwidth",
    "LatencyBounds",
    "MemoryFit",
    "ModelShape",
    "Quantization",
    "Workload",
    "decode_step_s",
    "efficiency_to_pass",
    "latency_bounds",
    "memory_fit",
    "prefill_s",
    "quantization",
    "step_weight_bytes",
    "throughput_bound",
    "weight_bytes",
]


@dataclass(frozen=True)
class ModelShape:
    """A decoder-only transformer's shape (Llama, Mistral, Qwen, SmolLM): what the bounds need.

    Parameters follow from it: each block has the attention projections (q and o:
    ``hidden * heads * head_dim``; k and v: ``hidden * kv_heads * head_dim``), a gated MLP
    (``3 * hidden * intermediate``) and two norms; plus the embedding (``vocab * hidden``),
    the output head (the same matrix when ``tied_embeddings``) and the final norm.
    """

    name: str
    layers: int
    hidden_size: int
    intermediate_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    tied_embeddings: bool

    @property
    def block_linear_parameters(self) -> int:
        """The decoder blocks' matrix weights: what a quantization shrinks."""
        h, q, kv = self.hidden_size, self.attention_heads * self.head_dim, self.kv_heads
        attention = 2 * h * q + 2 * h * kv * self.head_dim
        return self.layers * (attention + 3 * h * self.intermediate_size)

    @property
    def embedding_parameters(self) -> int:
        """One ``vocab * hidden`` matrix: the embedding, and the head when untied."""
        return self.vocab_size * self.hidden_size

    @property
    def norm_parameters(self) -> int:
        return (2 * self.layers + 1) * self.hidden_size

    @property
    def parameters(self) -> int:
        """Every parameter, the embedding counted once when tied to the head."""
        tables = self.embedding_parameters * (1 if self.tied_embeddings else 2)
        return self.block_linear_parameters + tables + self.norm_parameters

    def kv_bytes_per_token(self, dtype_bytes: float = 2.0) -> float:
        """KV cache bytes per token: ``2 (K and V) * layers * kv_heads * head_dim * bytes``."""
        return 2.0 * self.layers * self.kv_heads * self.head_dim * dtype_bytes


@dataclass(frozen=True)
class Quantization:
    """How the decoder blocks' weights are stored, and which tensor rate multiplies them.

    :param weight_bytes: bytes per block weight, scales and zero points included.
    :param dense_bytes: bytes per unquantized value (embedding, head, norms, KV cache).
    :param rate: the hardware figure the multiplications run at.
    """

    name: str
    weight_bytes: float
    dense_bytes: float
    rate: Literal["bf16", "int8", "fp8"]
    formula: str


#: Group size of 4-bit AWQ/GPTQ checkpoints: one fp16 scale (and a 4-bit zero) per 128 weights.
GROUP = 128
QUANTIZATIONS: dict[str, Quantization] = {
    "fp32": Quantization("fp32", 4.0, 4.0, "bf16", "4 bytes"),
    "bf16": Quantization("bf16", 2.0, 2.0, "bf16", "2 bytes"),
    "fp16": Quantization("fp16", 2.0, 2.0, "bf16", "2 bytes"),
    "fp8": Quantization("fp8", 1.0, 2.0, "fp8", "1 byte (per-channel scales: < 0.1%)"),
    "int8": Quantization("int8", 1.0, 2.0, "int8", "1 byte (per-channel scales: < 0.1%)"),
    "awq": Quantization(
        "awq",
        0.5 + 2.5 / GROUP,
        2.0,
        "bf16",
        "0.5 + (2 + 0.5) / 128 bytes: 4 bits, fp16 scale, 4-bit zero per group",
    ),
    "gptq": Quantization(
        "gptq",
        0.5 + 2.0 / GROUP,
        2.0,
        "bf16",
        "0.5 + 2 / 128 bytes: 4 bits, fp16 scale per group (symmetric)",
    ),
}
#: Other spellings (vLLM's --dtype and --quantization values) of the names above. ``auto`` is
#: the checkpoint's dtype, bf16 for every model servegate ships a sheet for.
_ALIASES = {
    "auto": "bf16",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float32": "fp32",
    "float": "fp32",
    "awq_marlin": "awq",
    "gptq_marlin": "gptq",
    "w4a16": "gptq",
    "w8a8": "int8",
    "fp8_e4m3": "fp8",
}


def quantization(name: str) -> Quantization:
    """The quantization called ``name`` (vLLM's spellings accepted, e.g. ``awq_marlin``).

    :raises LimitsError: an unknown name, listing the known ones.
    """
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in QUANTIZATIONS:
        raise LimitsError(
            f"unknown quantization {name!r}; known: {', '.join(QUANTIZATIONS)} "
            f"(also {', '.join(sorted(_ALIASES))})"
        )
    return QUANTIZATIONS[key]


class Bandwidth(Protocol):
    """What the bounds read of a hardware option (``limits_data.HardwareOption`` has it)."""

    @property
    def memory_gib(self) -> float: ...
    @property
    def memory_bandwidth_gbps(self) -> float: ...
    @property
    def bf16_tflops(self) -> float: ...
    @property
    def int8_tops(self) -> float | None: ...
    @property
    def fp8_tflops(self) -> float | None: ...


def weight_bytes(model: ModelShape, quant: Quantization) -> float:
    """Bytes the weights occupy: quantized blocks, the rest (tables, norms) unquantized."""
    tables = model.embedding_parameters * (1 if model.tied_embeddings else 2)
    dense = (tables + model.norm_parameters) * quant.dense_bytes
    return model.block_linear_parameters * quant.weight_bytes + dense


def step_weight_bytes(model: ModelShape, quant: Quantization) -> float:
    """Bytes of weights one decode step must read: the blocks, the head and the norms. An
    untied embedding table is not read whole (only the batch's rows), so it is left out."""
    dense = (model.embedding_parameters + model.norm_parameters) * quant.dense_bytes
    return model.block_linear_parameters * quant.weight_bytes + dense


def _compute_per_s(hardware: Bandwidth, quant: Quantization) -> float:
    rate = {"int8": hardware.int8_tops, "fp8": hardware.fp8_tflops}.get(quant.rate)
    return (rate or hardware.bf16_tflops) * 1e12  # no int8/fp8 units: multiplied at bf16


def _check_efficiency(efficiency: float) -> float:
    if not 0.0 < float(efficiency) <= 1.0:
        raise LimitsError(
            f"efficiency must be in (0, 1] (1.0: the physical limit), got {efficiency!r}"
        )
    return float(efficiency)


def decode_step_s(
    model: ModelShape,
    quant: Quantization,
    hardware: Bandwidth,
    *,
    batch: int,
    cached_tokens: float,
    efficiency: float = 1.0,
) -> float:
    """Seconds one decode step takes at least: ``max(bytes / bandwidth, flops / compute)``.

    :param batch: sequences decoded together in the step (one token each).
    :param cached_tokens: tokens in the KV cache over the whole batch, read once each.
    """
    read = (
        step_weight_bytes(model, quant)
        + model.kv_bytes_per_token(quant.dense_bytes) * cached_tokens
    )
    flops = 2.0 * (model.block_linear_parameters + model.embedding_parameters) * batch
    memory_s = read / (hardware.memory_bandwidth_gbps * 1e9)
    return max(memory_s, flops / _compute_per_s(hardware, quant)) / _check_efficiency(efficiency)


def prefill_s(
    model: ModelShape,
    quant: Quantization,
    hardware: Bandwidth,
    n_tokens: int,
    *,
    efficiency: float = 1.0,
) -> float:
    """Seconds the prefill of ``n_tokens`` takes at least: their FLOPs at the tensor rate, or
    one read of the weights (and the write of their KV), whichever is slower."""
    flops = 2.0 * model.block_linear_parameters * n_tokens + 2.0 * model.embedding_parameters
    moved = step_weight_bytes(model, quant) + model.kv_bytes_per_token(quant.dense_bytes) * n_tokens
    memory_s = moved / (hardware.memory_bandwidth_gbps * 1e9)
    return max(memory_s, flops / _compute_per_s(hardware, quant)) / _check_efficiency(efficiency)


@dataclass(frozen=True)
class Workload:
    """Per request: its prompt tokens and its answer tokens, and where the counts came from."""

    input_tokens: tuple[int, ...]
    output_tokens: tuple[int, ...]
    basis: str

    def __post_init__(self) -> None:
        if not self.input_tokens or len(self.input_tokens) != len(self.output_tokens):
            raise LimitsError("a workload needs as many output lengths as input lengths, >= 1")

    def mean_context(self) -> float:
        """Mean tokens in a running sequence's cache: its prompt and half its answer."""
        return float(np.mean(np.asarray(self.input_tokens) + np.asarray(self.output_tokens) / 2))


@dataclass(frozen=True)
class MemoryFit:
    """Whether weights fit, and how many sequences of the workload's mean context fit beside."""

    weights_gib: float
    budget_gib: float
    kv_gib_per_sequence: float
    max_sequences: int

    @property
    def fits(self) -> bool:
        return self.max_sequences >= 1

    def reason(self) -> str:
        """Why the model does not fit ("" when it does)."""
        if self.fits:
            return ""
        return (
            f"the weights need {self.weights_gib:.1f} GiB (and a sequence "
            f"{self.kv_gib_per_sequence:.2f} GiB) of a {self.budget_gib:.1f} GiB budget"
        )


def memory_fit(
    model: ModelShape,
    quant: Quantization,
    hardware: Bandwidth,
    workload: Workload,
    *,
    memory_utilization: float = 0.9,
) -> MemoryFit:
    """Weights plus KV cache within ``memory_gib * memory_utilization`` (vLLM's
    ``gpu_memory_utilization``), with sequences at the workload's mean context. Activations
    and the CUDA graphs are left out: a fit here is necessary, not sufficient."""
    budget = hardware.memory_gib * memory_utilization * 2**30
    weights = weight_bytes(model, quant)
    per_seq = model.kv_bytes_per_token(quant.dense_bytes) * workload.mean_context()
    room = max(0.0, budget - weights)
    return MemoryFit(weights / 2**30, budget / 2**30, per_seq / 2**30, int(room // per_seq))


@dataclass(frozen=True)
class LatencyBounds:
    """Lower bounds on TTFT and end-to-end latency (ms) at one concurrency, over a workload."""

    concurrency: int
    efficiency: float
    step_ms: float
    ttft_p50_ms: float
    ttft_p95_ms: float
    e2e_p50_ms: float
    e2e_p95_ms: float
    throughput_tok_per_s: float


def latency_bounds(
    model: ModelShape,
    quant: Quantization,
    hardware: Bandwidth,
    workload: Workload,
    concurrency: int,
    *,
    efficiency: float = 1.0,
) -> LatencyBounds:
    """Per request, ``ttft >= prefill(input)`` and ``e2e >= ttft + (output - 1) * step(c)``;
    their p50 and p95 over the workload (numpy's linear percentiles).

    ``step(c)`` decodes ``concurrency`` sequences of the workload's mean context together, as
    continuous batching does at a full closed-loop level (fewer in a step, at a level's edges,
    make that step faster: it is the steady state's bound). Other requests' prefills, which
    stall decoding in real servers, are not counted.
    """
    step = decode_step_s(
        model,
        quant,
        hardware,
        batch=concurrency,
        cached_tokens=concurrency * workload.mean_context(),
        efficiency=efficiency,
    )
    ttft = np.array(
        [prefill_s(model, quant, hardware, n, efficiency=efficiency) for n in workload.input_tokens]
    )
    e2e = ttft + (np.maximum(np.asarray(workload.output_tokens), 1) - 1) * step
    return LatencyBounds(
        concurrency=concurrency,
        efficiency=efficiency,
        step_ms=step * 1e3,
        ttft_p50_ms=float(np.percentile(ttft, 50)) * 1e3,
        ttft_p95_ms=float(np.percentile(ttft, 95)) * 1e3,
        e2e_p50_ms=float(np.percentile(e2e, 50)) * 1e3,
        e2e_p95_ms=float(np.percentile(e2e, 95)) * 1e3,
        throughput_tok_per_s=concurrency / step,
    )


def throughput_bound(
    model: ModelShape,
    quant: Quantization,
    hardware: Bandwidth,
    *,
    concurrency: int,
    mean_context: float,
    efficiency: float = 1.0,
) -> float:
    """Output tokens/s at most with ``concurrency`` sequences: one token each per step,
    ``concurrency / step(concurrency)``; prefills, which take steps too, are not counted."""
    step = decode_step_s(
        model,
        quant,
        hardware,
        batch=concurrency,
        cached_tokens=concurrency * mean_context,
        efficiency=efficiency,
    )
    return concurrency / step


def efficiency_to_pass(bound_ms: float, threshold_ms: float) -> float:
    """The efficiency at which a latency bound (at efficiency 1) meets its threshold:
    ``bound / threshold``; above 1.0 the threshold is out of physical reach (``inf`` when the
    threshold is 0)."""
    if threshold_ms <= 0:
        return math.inf
    return bound_ms / threshold_ms
