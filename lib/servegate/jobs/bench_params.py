"""The parameters of one benchmark run (``notebooks/01_benchmark.ipynb``), validated.

Their defaults are ``params/cpu_default.yaml``'s, so Shift-Enter through the notebook makes the
same run as ``make bench`` (a test holds the model, the yaml and the notebook together).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from servegate.core.config import validate_params
from servegate.core.nbparams import check_injected_parameters
from servegate.server.endpoint import normalize_base_url

__all__ = ["BenchmarkParams"]


class BenchmarkParams(BaseModel):
    """The parameters of ``notebooks/01_benchmark.ipynb`` (docs/contracts.md), validated."""

    model_config = ConfigDict(extra="forbid")

    # Defaults: params/cpu_default.yaml's (a test holds them together). Relative paths are
    # under the project root (servegate.core.paths), whatever the working directory.
    backend: Literal["vllm", "openai"] = "vllm"
    base_url: str = Field("", description='"" = launch vLLM (vllm) or the OpenAI default (openai)')
    model: str = Field("smollm2", min_length=1, description="model name as the server serves it")
    model_path: str = Field("data/models/smollm2-135m-instruct", description="folder vLLM loads")
    server: dict[str, Any] = Field(  # YAML boundary: ServerConfig's, validated when it starts
        default_factory=lambda: {
            "dtype": "float32",
            "max_model_len": 2048,
            "kv_cache_space_gib": 2,
            "startup_timeout_s": 600,
            "warmup_requests": 2,
            "env": {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"},
        },
        description="ServerConfig settings",
    )
    prompts: str = "data/prompts/interactive_v1.jsonl"
    n_prompts: int | None = Field(250, description="prompts per level (None = all)")
    concurrency: list[int] = Field(default_factory=lambda: [1, 8, 32])
    baseline_prompts: int | None = Field(16, description="prompts at concurrency 1")
    request_rate: float | None = Field(None, description="req/s, Poisson open loop; None = closed")
    max_tokens: int | None = Field(32, description="cap on each prompt's own max_tokens")
    temperature: float = Field(0.0, ge=0, le=2)
    timeout_s: float = Field(120.0, gt=0)
    results_dir: str = "eval/results"
    run_label: str = "cpu-default"
    seed: int = 42
    warmup_requests: int = Field(4, ge=0)
    gate_concurrency: int | None = Field(8, description="the level the gates judge")
    quality_prompts: str | None = Field(
        "data/quality/checks_v1.jsonl",
        description="checks file of the quality pass after the levels; None skips the pass",
    )
    quality_max_tokens: int = Field(96, gt=0, description="answer cap of the quality pass")
    quality_concurrency: int = Field(16, gt=0, description="requests in flight in the pass")
    machine: str | None = Field(None, description="data/pricing.yaml machine key for the cost")
    hourly_usd: float | None = Field(None, gt=0, description="machine price; beats `machine`")

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]) -> BenchmarkParams:
        """Validate the notebook's parameter variables (the names of this model's fields); a
        misspelt name papermill injected is refused, not silently left unread."""
        check_injected_parameters(namespace, also_known=cls.model_fields)
        picked = {k: namespace[k] for k in cls.model_fields if k in namespace}
        return validate_params(cls, picked, what="benchmark parameters")

    @field_validator("concurrency")
    @classmethod
    def _positive_levels(cls, value: list[int]) -> list[int]:
        if not value or any(c <= 0 for c in value):
            raise ValueError(
                f"`concurrency` must list positive integers, got {value}; use e.g. [1, 8]"
            )
        return sorted(set(value))

    @model_validator(mode="after")
    def _consistent(self) -> BenchmarkParams:
        for name in ("n_prompts", "baseline_prompts", "max_tokens"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"`{name}` must be a positive integer or null, got {value}")
        if self.request_rate is not None and self.request_rate <= 0:
            raise ValueError(f"`request_rate` must be > 0 req/s or null, got {self.request_rate}")
        if self.request_rate is not None and self.n_prompts is None:
            raise ValueError("`request_rate` needs `n_prompts`: how many requests to send")
        if self.base_url:
            normalize_base_url(self.base_url)
        return self
