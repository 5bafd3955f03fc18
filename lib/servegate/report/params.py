"""The decision report's parameters: the notebook's flat names, nested into typed models.

Papermill passes ``notebooks/03_decision_report.ipynb``'s parameters flat (``p95_ms``,
``peak_rps``); ``ReportParams`` holds the gate thresholds as ``GateParams`` and the capacity
forecast as ``CapacityForecast``, and ``_nest_flat_names`` is the one place that maps one to
the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from servegate.analysis.gates import GateParams
from servegate.analysis.ops_params import CapacityForecast
from servegate.core.config import validate_params
from servegate.core.nbparams import check_injected_parameters
from servegate.history.poc import DEFAULT_POC_PATH

__all__ = ["ReportParams"]

#: The nested parameter models of the report, by field name.
_SECTIONS: dict[str, type[BaseModel]] = {"gates": GateParams, "capacity": CapacityForecast}
#: Each flat notebook name of a nested parameter, and the field it belongs in. Papermill passes
#: the notebook's parameters flat (``p95_ms``, ``peak_rps``): this is the one place they nest.
_FLAT: dict[str, str] = {
    name: section for section, model in _SECTIONS.items() for name in model.model_fields
}


class ReportParams(BaseModel):
    """The parameters of ``notebooks/03_decision_report.ipynb`` (docs/contracts.md), validated.

    The gate thresholds are ``gates`` (``GateParams``) and the capacity plan's forecast is
    ``capacity`` (``CapacityForecast``); both also take their fields' names flat, as the
    notebook's parameters are named: ``{"p95_ms": 2000}`` is ``{"gates": {"p95_ms": 2000}}``.
    The paths are kept as given; a relative one is read under the project root
    (``servegate.core.paths``) where it is opened, never from the working directory.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    results_dir: str = "eval/results"
    history_path: str = "eval/reports/aggregate_history.csv"
    local_run: str = Field("", description='run id; "" = the latest local vLLM run')
    hosted_run: str = Field("", description='run id; "" = the latest comparable hosted run')
    report_dir: str = "reports"
    report_label: str = Field("", description='report file label; "" = the local run label')
    gates: GateParams = Field(default_factory=GateParams, description="the gate thresholds")
    capacity: CapacityForecast = Field(
        default_factory=CapacityForecast, description="the capacity plan's forecast traffic"
    )
    pricing_path: str = "data/pricing.yaml"
    hourly_usd: float | None = Field(None, gt=0, description="self-hosted machine USD/h")
    poc_summaries: str = Field(DEFAULT_POC_PATH, description='POC figures; "" = none')
    regression_min_ms: float = Field(
        0.0, ge=0, description="smallest p50/p95 change flagged as a regression, ms"
    )
    fallback_ttft_ms: list[float] | None = Field(
        None, description="fallback time-outs T to simulate, ms; None: 100 ms to 5 s"
    )
    hardware_path: str = Field("data/hardware.yaml", description="the hardware options sheet")
    limits_models_path: str = Field("data/limits/models.yaml", description="the model sheet")
    limits_model: str = Field(
        "llama-3.1-8b-instruct",
        description="the model the options are bounded for: a model sheet key or a model folder",
    )
    limits_quantization: str = Field("awq", description="bf16, fp8, int8, awq or gptq")
    limits_efficiency: float = Field(
        0.5, gt=0, le=1, description="the realistic share of the physical limit"
    )
    limits_memory_utilization: float = Field(
        0.9, gt=0, le=1, description="share of memory for weights and KV cache"
    )
    limits_concurrency: int | None = Field(
        None, gt=0, description="the options' concurrency; None: the gate concurrency"
    )
    limits_prompts: str = Field(
        "data/prompts/interactive_v1.jsonl", description="the prompt set the options serve"
    )

    @classmethod
    def accepted_names(cls) -> list[str]:
        """The notebook's parameter names: this model's own fields and its sections' fields."""
        return sorted([n for n in cls.model_fields if n not in _SECTIONS] + list(_FLAT))

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]) -> ReportParams:
        """Validate the notebook's parameter variables (``accepted_names``); a misspelt name
        papermill injected is refused, not silently left unread."""
        check_injected_parameters(namespace, also_known=cls.accepted_names())
        picked = {k: namespace[k] for k in cls.accepted_names() if k in namespace}
        return validate_params(cls, picked, what="report parameters")

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        """``{"p95_ms": 2000}`` becomes ``{"gates": {"p95_ms": 2000}}``; other keys stay."""
        if not isinstance(data, Mapping):
            return data
        out = {k: v for k, v in data.items() if k not in _FLAT}
        for name, section in _FLAT.items():
            if name not in data:
                continue
            given = out.get(section, {})
            if isinstance(given, BaseModel):
                given = given.model_dump()
            if not isinstance(given, Mapping):
                continue  # the section's own error says what is wrong with it
            if name in given:
                raise ValueError(f"{name} is given twice, flat and in {section}: give it once")
            out[section] = {**given, name: data[name]}
        return out
