"""Snapshots of a server's Prometheus ``/metrics``, parsed with prometheus_client's text parser."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "KEY_VLLM_METRICS",
    "LEVEL_COUNTERS",
    "SATURATION_GAUGES",
    "GaugeSampler",
    "GaugeStats",
    "LevelMetrics",
    "MetricsSnapshot",
    "level_metrics",
    "parse_metrics",
]

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


#: Gauges that show a server filling up: what monitoring alerts on (docs/runbook.md).
SATURATION_GAUGES = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
)


class GaugeStats(TypedDict):
    """What ``GaugeSampler.result`` returns: the scrape interval, how many scrapes answered,
    and each gauge's peak and mean (None where a gauge was never seen)."""

    interval_s: float
    samples: int
    peak: dict[str, float | None]
    mean: dict[str, float | None]


class GaugeSampler:
    """Scrape gauges every ``interval_s`` in a background thread and keep their peak and mean.

    A snapshot before and after a level shows counters, not how full the server got while the
    level ran: the gauges are back to 0 by the end. A scrape every 2 s costs the client a few
    ms of CPU and the server one small request, the load a Prometheus scraper would add.
    Use as a context manager around the measured work, then read ``result()``.
    """

    def __init__(
        self,
        scrape: Callable[[], MetricsSnapshot | None],
        names: tuple[str, ...] = SATURATION_GAUGES,
        interval_s: float = 2.0,
    ) -> None:
        self._scrape = scrape
        self._names = names
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._values: dict[str, list[float]] = {name: [] for name in names}
        self._samples = 0
        self._thread = threading.Thread(target=self._run, name="servegate-gauges", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            snap = self._scrape()
            if snap is None:
                continue
            self._samples += 1
            for name in self._names:
                value = snap.get(name)
                if value is not None:
                    self._values[name].append(value)

    def __enter__(self) -> GaugeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def result(self) -> GaugeStats:
        """Each gauge's peak and mean over the scrapes; None where a gauge was never seen."""
        return {
            "interval_s": self._interval_s,
            "samples": self._samples,
            "peak": {n: max(v) if v else None for n, v in self._values.items()},
            "mean": {n: sum(v) / len(v) if v else None for n, v in self._values.items()},
        }


#: The counters whose change over a level a run records (``LevelMetrics.delta``).
LEVEL_COUNTERS = (
    "vllm:num_preemptions_total",
    "vllm:generation_tokens_total",
    "vllm:prompt_tokens_total",
    "vllm:request_success_total",
)


class LevelMetrics(TypedDict):
    """A level's ``metrics`` in run.json: ``KEY_VLLM_METRICS`` before and after it, the change
    of ``LEVEL_COUNTERS``, and the gauges sampled while it ran (``during``, when sampled)."""

    before: dict[str, float | None]
    after: dict[str, float | None]
    delta: dict[str, float | None]
    during: NotRequired[GaugeStats]


def level_metrics(
    before: MetricsSnapshot | None, after: MetricsSnapshot | None
) -> LevelMetrics | None:
    """The metrics story of a level from the snapshots around it; None without both."""
    if before is None or after is None:
        return None
    return {
        "before": before.key_values(),
        "after": after.key_values(),
        "delta": {name: after.delta(before, name) for name in LEVEL_COUNTERS},
    }
