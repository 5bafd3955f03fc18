"""Snapshots of a server's Prometheus ``/metrics``, parsed with prometheus_client's text parser."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["KEY_VLLM_METRICS", "MetricsSnapshot", "parse_metrics"]

#: The vLLM series worth keeping in a run's story (gauges and counters; histograms keep
#: their ``_sum`` and ``_count``). Others stay available through ``MetricsSnapshot.samples``.
KEY_VLLM_METRICS = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:num_preemptions_total",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:request_success_total",
    "vllm:time_to_first_token_seconds_sum",
    "vllm:time_to_first_token_seconds_count",
    "vllm:e2e_request_latency_seconds_sum",
    "vllm:e2e_request_latency_seconds_count",
)

# Labels that identify the server rather than the measurement; summed over when reading.
_IDENTITY_LABELS = frozenset({"model_name", "engine"})


def _key(name: str, labels: Mapping[str, str]) -> str:
    kept = {k: v for k, v in labels.items() if k not in _IDENTITY_LABELS}
    if not kept:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(kept.items()))
    return f"{name}{{{inner}}}"


@dataclass(frozen=True)
class MetricsSnapshot:
    """One scrape of ``/metrics``.

    ``samples`` maps a sample name plus its non-identity labels (Prometheus text form, e.g.
    ``vllm:time_to_first_token_seconds_bucket{le="0.1"}``) to its value, summed over
    ``model_name`` and ``engine`` so that one number per series remains.
    """

    taken_at: float
    samples: dict[str, float] = field(default_factory=dict)

    def get(self, name: str, default: float | None = None) -> float | None:
        """Total of every label set of sample ``name``; ``default`` when the server has none."""
        values = [v for k, v in self.samples.items() if k == name or k.startswith(name + "{")]
        return sum(values) if values else default

    def key_values(self) -> dict[str, float | None]:
        """The series of ``KEY_VLLM_METRICS``, for a run's record."""
        return {name: self.get(name) for name in KEY_VLLM_METRICS}

    def delta(self, earlier: MetricsSnapshot, name: str) -> float | None:
        """Change of a counter between ``earlier`` and this snapshot."""
        now, then = self.get(name), earlier.get(name)
        return None if now is None or then is None else now - then


def parse_metrics(text: str, *, taken_at: float | None = None) -> MetricsSnapshot:
    """Parse Prometheus exposition text into a ``MetricsSnapshot``.

    :param text: the body of ``GET /metrics``.
    :param taken_at: Unix time of the scrape; now when omitted.
    :raises ValueError: when the text is not Prometheus exposition format.
    """
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = _key(sample.name, sample.labels)
            samples[key] = samples.get(key, 0.0) + float(sample.value)
    return MetricsSnapshot(taken_at=time.time() if taken_at is None else taken_at, samples=samples)
