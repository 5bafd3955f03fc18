"""One benchmark run end to end: validate, pick the target, warm up, run the levels, record.

``run_benchmark(params)`` is what ``notebooks/01_benchmark.ipynb`` and ``make bench`` call. It
validates everything before a server starts or a file is written, launches or attaches to vLLM
(or points at a hosted API), runs each load level with ``servegate.measure.loadgen``, snapshots
``/metrics`` around each level, and leaves a run folder (``servegate.runs.writer``) whose
``run.json`` says how the run ended: complete, interrupted, server_crashed, failed or skipped.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Required, TypedDict

from servegate.core.config import validate_params
from servegate.core.environment import collect_environment
from servegate.core.errors import ConfigError, ServerCrashError, ServerError
from servegate.core.fsutil import json_safe, sha256_file
from servegate.core.names import SERVER_LOG, RunState
from servegate.core.paths import resolve_path
from servegate.core.progress import Reporter, plural, reporter
from servegate.jobs.bench_params import BenchmarkParams
from servegate.jobs.level_plan import LevelPlan, LevelRun, ListedLevels
from servegate.jobs.level_watch import watched
from servegate.jobs.quality_pass import load_quality_set, quality_pass
from servegate.measure.eventloop import run_async
from servegate.measure.loadgen import ChatTarget, LevelSpec, LoadGenerator
from servegate.measure.prompts import PromptSet, load_prompts
from servegate.measure.tokens import TokenCounter
from servegate.quality.checks import QualitySet
from servegate.records.level import LevelSamples, LevelSummary, summarize_level
from servegate.records.run import RunRecord
from servegate.runs.startup import usual_startup
from servegate.runs.writer import RunWriter, new_run_id
from servegate.server.endpoint import Endpoint, attach, redact_url
from servegate.server.lifecycle import ServerConfig, ServerStory, VLLMServer, handle_termination
from servegate.server.metrics import GaugeSampler, MetricsSnapshot, level_metrics

__all__ = ["BenchmarkParams", "LevelPlan", "LevelRun", "RunResult", "run_benchmark"]

log = logging.getLogger(__name__)

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class RunResult:
    """Where a run landed and how it ended."""

    run_id: str
    run_dir: Path
    state: RunState
    record: RunRecord


class _Ending(TypedDict, total=False):
    """run.json's fields that say how a run ended, beside its state."""

    error: str
    error_kind: str
    log_tail: str
    interrupted_by: str
    server: ServerStory


class _ModelManifest(TypedDict, total=False):
    """run.json's ``manifest.model`` as a benchmark writes it (read as ``ModelInfo``)."""

    name: Required[str]
    path: str
    weights: dict[str, str]  # file name -> sha256
    sha256: str | None


@contextlib.contextmanager
def _target(
    params: BenchmarkParams, writer: RunWriter, progress: Reporter
) -> Iterator[tuple[Endpoint, VLLMServer | None]]:
    if params.backend == "openai":
        key = os.environ.get("OPENAI_API_KEY")
        url = params.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_BASE_URL
        progress.stage(f"hosted API {redact_url(url)}, model {params.model}")
        yield attach(url, params.model, api_key=key), None
    elif params.base_url:
        progress.stage(f"attaching to {redact_url(params.base_url)}, model {params.model}")
        yield attach(params.base_url, params.model, api_key=os.environ.get("VLLM_API_KEY")), None
    else:
        model = str(resolve_path(params.model_path))
        settings = {"model": model, "served_model_name": params.model, **params.server}
        settings.setdefault("log_path", str(writer.dir / SERVER_LOG))
        config = ServerConfig.from_params(settings)
        usual_s, usual_note = usual_startup(writer.dir.parent, params.model)
        with VLLMServer(
            config, progress=progress, usual_startup_s=usual_s, usual_note=usual_note
        ) as server:
            yield server, server


def run_benchmark(
    params: BenchmarkParams | Mapping[str, object],
    *,
    progress: Reporter | bool = True,
    plan: LevelPlan | None = None,
    tags: Mapping[str, object] | None = None,
) -> RunResult:
    """Run a benchmark and leave its run folder; returns where it is and how it ended.

    :param progress: where to say what is happening (``servegate.core.progress``); True: the
        mode that suits where this runs (widget bars in Jupyter, lines in a log), False: quiet.
    :param plan: which levels to measure; None: the params' listed levels.
    :param tags: extra run.json fields, written when the run starts (a sweep's id and setting).
    :raises ConfigError: for bad parameters or prompts, before anything is written.
    """
    say = progress if not isinstance(progress, bool) else reporter(None if progress else "off")
    if not isinstance(params, BenchmarkParams):
        params = validate_params(BenchmarkParams, params, what="benchmark parameters")
    prompt_set = load_prompts(params.prompts)  # a relative path is under the project root
    prompts = prompt_set.prompts  # read once: the levels use these, run.json their hash
    _check_prompt_counts(params, len(prompts))
    checks = load_quality_set(params)  # a bad checks file stops the run before any request
    if params.backend == "openai" and not os.environ.get("OPENAI_API_KEY"):
        skipped = _skipped(params, "OPENAI_API_KEY is not set in the environment")
        say.stage(f"{params.backend} run skipped: OPENAI_API_KEY is not set in the environment")
        say.stage(f"run folder {skipped.run_dir} (skipped)")
        return skipped

    plan = plan or ListedLevels(params)
    writer = _start_run(params, prompt_set, checks)
    if tags:
        writer.update(**tags)
    say.stage(f"{params.backend} run {writer.run_id}: {plan.describe(prompts)}")
    gate = params.gate_concurrency
    if gate is not None and params.request_rate is None and gate not in params.concurrency:
        # Said now, not first seen as an INCONCLUSIVE "no requests at c8" report.
        say.stage(
            f"notice: gate_concurrency {gate} is not a measured level ({params.concurrency}): "
            f"the report's latency gates will find no requests; set gate_concurrency to one "
            f"of the levels, or null for the highest"
        )
    state: RunState = "failed"
    extra: _Ending = {}
    server: VLLMServer | None = None
    try:
        with handle_termination(), _target(params, writer, say) as (endpoint, server):
            target = _chat_target(params, endpoint, writer)
            if server is None and params.warmup_requests:
                say.stage(f"warm-up: {plural(params.warmup_requests, 'request')}, not measured")
                endpoint.warmup(params.warmup_requests)
            levels = plan.levels(prompts)
            state, extra = _run_levels(params, writer, endpoint, server, target, levels, say)
            if state == "complete":
                quality_pass(params, writer, server, target, checks, say)
                if server is not None:
                    try:
                        server.check()
                    except ServerCrashError as exc:
                        state, extra = (
                            "server_crashed",
                            {"error": str(exc), "log_tail": exc.log_tail},
                        )
    except KeyboardInterrupt as exc:
        state, extra = "interrupted", {"interrupted_by": str(exc) or "KeyboardInterrupt"}
        raise
    except ServerError as exc:
        state, extra = (
            "failed",
            {"error": str(exc), "error_kind": exc.kind, "log_tail": exc.log_tail},
        )
        raise
    except Exception as exc:
        state, extra = "failed", {"error": f"{type(exc).__name__}: {exc}"}
        raise
    finally:
        if server is not None:
            extra["server"] = server.story()
        writer.close(state, **plan.run_fields(), **extra)
        say.stage(f"run folder {writer.dir} ({state})")
    return _result(writer, state)


def _check_prompt_counts(params: BenchmarkParams, available: int) -> None:
    """``ConfigError`` when a level asks for more prompts than the file holds."""
    for name in ("n_prompts", "baseline_prompts"):
        wanted = getattr(params, name)
        if wanted is not None and wanted > available:
            raise ConfigError(
                f"`{name}` is {wanted} but {params.prompts} holds {available} prompts; "
                f"use at most {available}"
            )


def _public_params(params: BenchmarkParams) -> dict[str, object]:  # JSON boundary: as recorded
    """The parameters as run.json keeps them: the base URL redacted."""
    public = params.model_dump(mode="json")
    public["base_url"] = redact_url(params.base_url) if params.base_url else ""
    return public


def _start_run(
    params: BenchmarkParams, prompt_set: PromptSet, checks: QualitySet | None
) -> RunWriter:
    """A new run folder whose run.json holds the parameters and the manifest: the machine's
    environment, the prompt set's and the checks file's hashes and the model's identity."""
    writer = _new_writer(params)
    quality_set = None
    if checks is not None:
        quality_set = {
            "path": params.quality_prompts,
            "sha256": checks.sha256,
            "n_prompts": len(checks),
        }
    writer.update(
        params=_public_params(params),
        manifest={
            **collect_environment(),
            "prompt_set": {
                "path": params.prompts,
                "sha256": prompt_set.sha256,
                "n_prompts": len(prompt_set.prompts),
            },
            "quality_set": quality_set,
            "model": _model_manifest(params),
        },
    )
    return writer


def _chat_target(params: BenchmarkParams, endpoint: Endpoint, writer: RunWriter) -> ChatTarget:
    """Where the load generator sends requests, recorded (URL redacted) in run.json."""
    target = ChatTarget(
        base_url=endpoint.base_url,
        model=endpoint.model,
        backend=params.backend,
        api_key=endpoint.api_key,
    )
    writer.update(target={"base_url": redact_url(endpoint.base_url), "model": endpoint.model})
    return target


def _run_levels(
    params: BenchmarkParams,
    writer: RunWriter,
    endpoint: Endpoint,
    server: VLLMServer | None,
    target: ChatTarget,
    plan: Generator[LevelSpec, LevelRun, None],
    progress: Reporter,
) -> tuple[RunState, _Ending]:
    model_dir = resolve_path(params.model_path)
    gen = LoadGenerator(
        target,
        run_id=writer.run_id,
        timeout_s=params.timeout_s,
        temperature=params.temperature,
        max_tokens_cap=params.max_tokens,
        seed=params.seed,
        on_record=writer.append,
        progress=progress,
        token_counter=TokenCounter(model_dir) if model_dir.is_dir() else None,
    )
    levels_out: list[LevelSummary] = []
    spec = next(plan, None)
    while spec is not None:
        snaps: dict[str, MetricsSnapshot] = {}

        def snapshot(snaps: dict[str, MetricsSnapshot] = snaps) -> None:
            # After the connection warm-up, so the counters' deltas cover the measured requests.
            if params.backend == "vllm" and (snap := endpoint.metrics_snapshot()) is not None:
                snaps["before"] = snap

        sampler = GaugeSampler(endpoint.metrics_snapshot) if params.backend == "vllm" else None
        with sampler or contextlib.nullcontext():
            result = run_async(partial(watched, gen, spec, server, on_start=snapshot))
        before = snaps.get("before")
        after = endpoint.metrics_snapshot() if params.backend == "vllm" else None
        metrics = level_metrics(before, after)
        if metrics is not None and sampler is not None:
            metrics["during"] = sampler.result()
        summary = summarize_level(
            LevelSamples.from_records(result.records),
            level=spec.label,
            concurrency=spec.concurrency,
            request_rate=spec.request_rate,
            timeout_s=params.timeout_s,
            n_prompts=len(result.records) if result.stopped_early else len(spec.prompts),
            started_at_unix=result.started_unix,
            wall_s=result.duration_s,
            aborted=result.aborted,
        )
        summary = summary.model_copy(update={"metrics": metrics})
        levels_out.append(summary)
        writer.update(levels=levels_out)
        if server is not None:
            try:
                server.check()
            except ServerCrashError as exc:
                return "server_crashed", {"error": str(exc), "log_tail": exc.log_tail}
        spec = _send(plan, LevelRun(result, summary))
    return "complete", {}


def _send(plan: Generator[LevelSpec, LevelRun, None], done: LevelRun) -> LevelSpec | None:
    """The plan's next level, given what the last one gave; None when it has no more."""
    try:
        return plan.send(done)
    except StopIteration:
        return None


def _model_manifest(params: BenchmarkParams) -> _ModelManifest:
    """Model identity: name, and for a local folder its manifest or weight hashes."""
    info: _ModelManifest = {"name": params.model}
    if params.backend != "vllm" or params.base_url:
        return info
    folder = resolve_path(params.model_path)
    info["path"] = params.model_path  # as given: `make verify` resolves it in its own checkout
    weights = sorted(folder.glob("*.safetensors"))
    if weights:
        info["weights"] = {p.name: sha256_file(p) for p in weights}
        info["sha256"] = info["weights"][weights[0].name] if len(weights) == 1 else None
    return info


def _new_writer(params: BenchmarkParams) -> RunWriter:
    """A new run folder under ``results_dir``, which is under the project root when relative."""
    return RunWriter(resolve_path(params.results_dir), new_run_id(params.run_label, params.backend))


def _skipped(params: BenchmarkParams, reason: str) -> RunResult:
    writer = _new_writer(params)
    writer.close("skipped", params=_public_params(params), skipped_reason=reason, levels=[])
    log.warning("%s benchmark skipped: %s", params.backend, reason)
    return _result(writer, "skipped")


def _result(writer: RunWriter, state: RunState) -> RunResult:
    """The finished run, its run.json read back as the ``RunRecord`` every reader sees."""
    return RunResult(
        writer.run_id, writer.dir, state, RunRecord.model_validate(json_safe(writer.record))
    )
