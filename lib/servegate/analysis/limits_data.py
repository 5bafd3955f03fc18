"""The sheets the physical limits are computed from: hardware, models, published measurements.

- ``data/hardware.yaml``: each hardware option's memory, bandwidth and dense tensor throughput
  from its datasheet (``HardwareOption``), read by ``read_hardware``;
- ``data/limits/models.yaml``: each model's shape (``ModelShape``), read by ``read_models``, or
  a model folder's ``config.json`` (``model_from_config``);
- ``data/limits/published.yaml``: published measurements the bounds must never be below
  (``PublishedMeasurement``), read by ``read_published``.

Every figure must be positive and every entry needs ``source`` and ``as_of``. A bad entry is one
``LimitsError`` naming the file, the entry and the field; ``read_hardware(strict=False)`` keeps
the good options and says which were left out and why, so a report still renders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from servegate.analysis.cost import as_of_date
from servegate.analysis.limits import ModelShape
from servegate.core.errors import LimitsError
from servegate.core.paths import resolve_path

__all__ = [
    "DEFAULT_HARDWARE_PATH",
    "DEFAULT_MODELS_PATH",
    "DEFAULT_PUBLISHED_PATH",
    "HardwareOption",
    "PublishedMeasurement",
    "model_from_config",
    "read_hardware",
    "read_models",
    "read_published",
]

DEFAULT_HARDWARE_PATH = "data/hardware.yaml"
DEFAULT_MODELS_PATH = "data/limits/models.yaml"
DEFAULT_PUBLISHED_PATH = "data/limits/published.yaml"


class _Sourced(BaseModel):
    """Where a figure was read, and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, description="the datasheet or page: a URL or a document")
    as_of: str = Field(description="when it was read: YYYY-MM or YYYY-MM-DD")
    note: str = ""

    _as_of = field_validator("as_of", mode="before")(as_of_date)


class HardwareOption(_Sourced):
    """One hardware option of ``data/hardware.yaml``: datasheet ceilings, and how it is rented."""

    name: str = Field(min_length=1)
    kind: Literal["cpu", "gpu"]
    memory_gib: float = Field(gt=0, allow_inf_nan=False)
    memory_bandwidth_gbps: float = Field(gt=0, allow_inf_nan=False)
    bf16_tflops: float = Field(gt=0, allow_inf_nan=False)
    int8_tops: float | None = Field(None, gt=0, allow_inf_nan=False)
    fp8_tflops: float | None = Field(None, gt=0, allow_inf_nan=False)
    priced_as: str | None = Field(None, description="a data/pricing.yaml machine, or null")
    match: str | None = Field(None, description="a pattern of the GPU's name as NVML reports it")


class _ModelEntry(_Sourced):
    """One model of ``data/limits/models.yaml``: the shape fields of ``ModelShape``."""

    layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    attention_heads: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    tied_embeddings: bool
    published_parameters: float | None = Field(None, gt=0, description="the model card's count")


class PublishedMeasurement(_Sourced):
    """A measurement someone published: hardware, model, load, and the figures they reported."""

    hardware: str = Field(description="a data/hardware.yaml key")
    model: str = Field(description="a data/limits/models.yaml key")
    quantization: str
    engine: str
    concurrency: int = Field(gt=0)
    input_tokens: int = Field(gt=0)
    output_tokens: int = Field(gt=0)
    output_tok_per_s: float | None = Field(None, gt=0, allow_inf_nan=False)
    ttft_p50_ms: float | None = Field(None, gt=0, allow_inf_nan=False)


def _problems(exc: ValidationError, prefix: str) -> str:
    out = []
    for err in exc.errors():
        where = ".".join([prefix, *(str(p) for p in err["loc"])])
        if err["type"] == "missing":
            out.append(f"{where} is missing")
        elif err["type"] == "extra_forbidden":
            out.append(f"{where} is not a known field")
        elif err["type"] in ("greater_than", "finite_number"):
            out.append(f"{where} must be a positive number, got {err.get('input')!r}")
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            out.append(f"{where}: {msg}, got {err.get('input')!r:.60}")
    return "; ".join(out)


def _section(path: str | Path, key: str, what: str) -> tuple[Path, dict[str, Any]]:
    resolved = resolve_path(path)
    try:
        data = yaml.safe_load(resolved.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LimitsError(
            f"{what} {resolved} cannot be read ({exc}); restore it from git, or add it to a "
            "project with `servegate init`"
        ) from None
    except yaml.YAMLError as exc:
        raise LimitsError(f"{what} {resolved} is not valid YAML: {exc}") from None
    entries = data.get(key) if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise LimitsError(f"{what} {resolved} must hold a mapping {key}: with at least one entry")
    return resolved, entries


def read_hardware(
    path: str | Path = DEFAULT_HARDWARE_PATH, *, strict: bool = True
) -> tuple[dict[str, HardwareOption], dict[str, str]]:
    """The hardware options of ``data/hardware.yaml``, validated one by one.

    :param strict: raise on a bad entry (naming every one); else leave it out and say why.
    :returns: (the valid options by key, in file order; the left-out keys with the reason).
    :raises LimitsError: the file is missing or not a mapping of ``options``; with ``strict``,
        an entry with a missing, non-positive or unknown field (named: entry and field).
    """
    resolved, entries = _section(path, "options", "hardware sheet")
    good: dict[str, HardwareOption] = {}
    left_out: dict[str, str] = {}
    for key, entry in entries.items():
        try:
            good[str(key)] = HardwareOption.model_validate(entry)
        except ValidationError as exc:
            left_out[str(key)] = f"{resolved}: {_problems(exc, f'options.{key}')}"
    if strict and left_out:
        raise LimitsError(f"invalid hardware entries: {'; '.join(left_out.values())}; fix them")
    return good, left_out


def read_models(path: str | Path = DEFAULT_MODELS_PATH) -> dict[str, ModelShape]:
    """The model shapes of ``data/limits/models.yaml`` by key.

    :raises LimitsError: the file is unreadable, or an entry has a missing or non-positive field.
    """
    resolved, entries = _section(path, "models", "model sheet")
    out = {}
    for key, entry in entries.items():
        try:
            model = _ModelEntry.model_validate(entry)
        except ValidationError as exc:
            raise LimitsError(
                f"invalid model entry: {resolved}: {_problems(exc, f'models.{key}')}"
            ) from None
        fields = model.model_dump(exclude={"source", "as_of", "note", "published_parameters"})
        out[str(key)] = ModelShape(name=str(key), **fields)
    return out


#: config.json keys (Llama/Mistral/Qwen style) -> ModelShape fields.
_CONFIG_KEYS = {
    "layers": "num_hidden_layers",
    "hidden_size": "hidden_size",
    "intermediate_size": "intermediate_size",
    "attention_heads": "num_attention_heads",
    "vocab_size": "vocab_size",
}


def model_from_config(folder: str | Path, name: str = "") -> ModelShape:
    """A model's shape from its Hugging Face folder's ``config.json`` (or that file's path).

    ``num_key_value_heads`` defaults to the attention heads and ``head_dim`` to
    ``hidden_size / num_attention_heads``, as transformers does.

    :raises LimitsError: no config.json, or a field missing or not a positive integer.
    """
    path = resolve_path(folder)
    path = path / "config.json" if path.is_dir() else path
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LimitsError(f"cannot read the model config {path} ({exc})") from None
    if isinstance(config.get("text_config"), Mapping):  # multimodal wrappers nest the LM's
        config = {**config, **config["text_config"]}
    fields: dict[str, Any] = {k: config.get(v) for k, v in _CONFIG_KEYS.items()}
    fields["kv_heads"] = config.get("num_key_value_heads", fields["attention_heads"])
    heads, hidden = fields["attention_heads"], fields["hidden_size"]
    default_head = hidden // heads if isinstance(hidden, int) and isinstance(heads, int) else None
    fields["head_dim"] = config.get("head_dim") or default_head
    bad = [k for k, v in fields.items() if isinstance(v, bool) or not isinstance(v, int) or v <= 0]
    if bad:
        raise LimitsError(
            f"model config {path}: {', '.join(bad)} missing or not a positive integer; "
            "servegate reads decoder-only (Llama-style) configs"
        )
    tied = bool(config.get("tie_word_embeddings", False))
    return ModelShape(name=name or path.parent.name, tied_embeddings=tied, **fields)


def read_published(path: str | Path = DEFAULT_PUBLISHED_PATH) -> list[PublishedMeasurement]:
    """The published measurements of ``data/limits/published.yaml``, in file order.

    :raises LimitsError: the file is unreadable, or an entry is invalid (named).
    """
    resolved, entries = _section(path, "measurements", "published measurements")
    out = []
    for key, entry in entries.items():
        try:
            out.append(PublishedMeasurement.model_validate(entry))
        except ValidationError as exc:
            raise LimitsError(
                f"invalid measurement: {resolved}: {_problems(exc, f'measurements.{key}')}"
            ) from None
    return out
