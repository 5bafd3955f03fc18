"""The ``servegate`` subcommands: each turns its parsed flags into one library call and prints
what came of it (results on stdout, progress and notices on stderr)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # imported where used: `servegate --help` stays fast
    from servegate.core.params_file import LayeredParams
    from servegate.server.lifecycle import ServerConfig

__all__ = [
    "DEFAULT_HOSTED",
    "DEFAULT_MANIFEST",
    "DEFAULT_PARAMS",
    "cmd_aggregate",
    "cmd_alerts",
    "cmd_bench",
    "cmd_calibrate",
    "cmd_env",
    "cmd_import",
    "cmd_init",
    "cmd_model",
    "cmd_regressions",
    "cmd_report",
    "cmd_search",
    "cmd_selftest",
    "cmd_smoke",
    "cmd_sweep",
    "cmd_verify",
]

DEFAULT_MANIFEST = Path("data/models/smollm2-135m-instruct.json")
DEFAULT_PARAMS = Path("params/cpu_default.yaml")
DEFAULT_HOSTED = Path("params/hosted_openai.yaml")
#: ``import --from``: servegate.runs.importer.TOOLS, written out so --help need not import it.
IMPORT_TOOLS = ("vllm-bench", "guidellm", "aiperf", "csv")


def cmd_model(args: argparse.Namespace) -> int:
    from servegate.server.model_artifact import (
        build_model,
        ensure_model,
        load_manifest,
        verify_model_dir,
    )

    if args.action == "verify":
        manifest = load_manifest(args.manifest)
        folder = manifest.output_dir(args.manifest.parent)
        verify_model_dir(folder, manifest)
        print(f"model: {folder} matches {args.manifest} ({len(manifest.outputs)} files)")
    elif args.action == "build" and (args.force or args.update_manifest):
        folder = build_model(args.manifest, update_manifest=args.update_manifest)
        print(f"model: built {folder}")
    else:
        folder, done = ensure_model(args.manifest)
        print(f"model: {folder} {done} against {args.manifest}")
    return 0


def _server_config(params: dict[str, object], overrides: dict[str, object]) -> ServerConfig:
    from servegate.core.paths import resolve_path
    from servegate.server.lifecycle import ServerConfig

    server = params.get("server") or {}
    settings = dict(server) if isinstance(server, dict) else {}
    model_path = params.get("model_path")
    if isinstance(model_path, str) and model_path:  # read under the project root, as bench does
        settings.setdefault("model", str(resolve_path(model_path)))
    settings.setdefault("served_model_name", params.get("model", "smollm2"))
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return ServerConfig.from_params(settings)


def cmd_smoke(args: argparse.Namespace) -> int:
    from servegate.server.lifecycle import VLLMServer

    layered = _layers(args, "smoke")
    config = _server_config(layered.values, {"port": args.port, "log_path": args.log})
    _preflight(args, [("smoke", layered.values)])
    with VLLMServer(config) as server:
        story = server.story()
        reply = server.chat(args.prompt, max_tokens=32)
        metrics = server.metrics_snapshot()
    print(
        f"vLLM ({story['engine']} build) was ready after {story['startup_s']:.1f} s "
        f"on {story['base_url']}"
    )
    print(f"prompt: {args.prompt}\nanswer: {reply.text.strip()}")
    print(
        f"usage: {reply.prompt_tokens} prompt + {reply.completion_tokens} completion tokens "
        f"in {reply.latency_ms:.0f} ms"
    )
    if metrics is not None:
        print(f"/metrics: {metrics.get('vllm:generation_tokens_total')} generation tokens counted")
    print(f"server stopped (exit code {server.exit_code}); log: {story['log_path']}")
    return 0


def _layers(args: argparse.Namespace, name: str) -> LayeredParams:
    """``--params`` layered with ``-p``, printed (unless ``--quiet``) as the run will see them."""
    from servegate.core.params_file import load_layered_params

    layered = load_layered_params(args.params, args.set)
    _show(args, name, layered)
    return layered


def _show(args: argparse.Namespace, name: str, layered: LayeredParams) -> None:
    if args.quiet:
        return
    from servegate.core.params_file import LayeredParams
    from servegate.server.endpoint import redact_url

    values = dict(layered.values)
    if isinstance(values.get("base_url"), str) and values["base_url"]:
        values["base_url"] = redact_url(values["base_url"])  # as run.json records it
    flag = "-p base_url="
    layers = tuple(
        flag + redact_url(x.removeprefix(flag)) if x.startswith(flag) else x for x in layered.layers
    )
    block = LayeredParams(layers, values).to_yaml()
    print(f"{name}: effective parameters\n  " + block.replace("\n", "\n  "), flush=True)


def _check_benchmarks(args: argparse.Namespace, runs: list[tuple[str, LayeredParams]]) -> None:
    """Validate each benchmark's parameters (a typo first), then preflight them all."""
    from servegate.core.config import validate_params
    from servegate.jobs.bench import BenchmarkParams

    for name, layered in runs:
        validate_params(BenchmarkParams, layered.values, what=f"{name} parameters")
    _preflight(args, [(name, layered.values) for name, layered in runs])


def _preflight(args: argparse.Namespace, runs: list[tuple[str, dict[str, object]]]) -> None:
    """Stop (ConfigError) on everything this machine lacks for ``runs``; print the notices."""
    from servegate.jobs.preflight import check_runs

    for notice in check_runs(runs):
        print(f"servegate: notice: {notice}", file=sys.stderr, flush=True)


def _run_state(run_dir: Path) -> tuple[str, str]:
    """A run folder's state and, when it did not complete, why (from its run.json)."""
    try:
        record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return "unknown", f"run.json unreadable: {exc}"
    state = str(record.get("state", "unknown"))
    why = record.get("skipped_reason") or record.get("error") or record.get("interrupted_by")
    return state, str(why or "")


def _progress_stream(args: argparse.Namespace) -> TextIO | None:
    """Where live progress goes: stderr (stdout keeps the results), nowhere with ``-q``."""
    return None if getattr(args, "quiet", False) else sys.stderr


def cmd_bench(args: argparse.Namespace) -> int:
    layered = _layers(args, "bench")
    _check_benchmarks(args, [("bench", layered)])
    from servegate.jobs.pipeline import execute_benchmark

    run_dir = execute_benchmark(layered, progress_to=_progress_stream(args))
    state, why = _run_state(run_dir)
    print(f"bench: run folder {run_dir}")
    print(f"bench: {state}" + (f": {why}" if why and state != "complete" else ""))
    return 0 if state in ("complete", "skipped") else 1


def cmd_search(args: argparse.Namespace) -> int:
    layered = _layers(args, "search")
    from servegate.core.config import validate_params
    from servegate.jobs.search import SearchRunParams

    validate_params(SearchRunParams, layered.values, what="search parameters")
    _preflight(args, [("search", layered.values)])
    from servegate.jobs.pipeline import execute_search

    run_dir = execute_search(layered, progress_to=_progress_stream(args))
    state, why = _run_state(run_dir)
    print(f"search: run folder {run_dir}")
    print(f"search: {state}" + (f": {why}" if why and state != "complete" else ""))
    answer = _search_answer(run_dir)
    if answer:
        print(f"search: {answer}")
    return 0 if state == "complete" else 1


def _search_answer(run_dir: Path) -> str:
    """The search's answer in one line, from run.json's ``search`` block."""
    try:
        found = json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("search")
    except (OSError, ValueError):
        return ""
    if not isinstance(found, dict):
        return ""
    best, worst = found.get("max_passing_concurrency"), found.get("min_failing_concurrency")
    cap = found.get("capacity") or {}
    rps = (cap.get("req_per_s") or {}).get("value")
    head = f"highest passing concurrency {best}" if best else "no level passed"
    tail = f", lowest failing {worst}" if worst else ", no level failed"
    rate = f"; capacity {rps:.2f} req/s within the limits" if isinstance(rps, float) else ""
    unsettled = found.get("inconclusive") or []
    note = f"; inconclusive (treated as not passing): {unsettled}" if unsettled else ""
    return f"{head}{tail}{rate}{note}; {found.get('requests_sent')} requests"


def cmd_sweep(args: argparse.Namespace) -> int:
    from servegate.analysis.sweep_summary import row_line
    from servegate.core.params_file import load_layered_params
    from servegate.jobs.pipeline import execute_notebook
    from servegate.jobs.sweep import plan_table
    from servegate.jobs.sweep_file import load_sweep
    from servegate.runs.sweep import is_finished

    overrides = load_layered_params([], args.set).values
    plan = load_sweep(args.sweep, overrides)  # every setting checked: one line, nothing started
    if not args.quiet:
        print(f"sweep: {plan.sweep_id} ({plan.mode}), run folders in {plan.results_dir}")
        for setting in plan.settings:
            print(f"  {setting.name}: {setting.describe()}", flush=True)
    if not args.no_run:
        checks = [(f"setting {s.name!r}", plan.params_for(s).model_dump()) for s in plan.settings]
        _preflight(args, checks)
    notebook = plan.results_dir / f"sweep_{plan.sweep_id}.ipynb"
    parameters = {"sweep": str(plan.path), "overrides": overrides, "run": not args.no_run}
    execute_notebook("06_sweep.ipynb", notebook, parameters, progress_to=_progress_stream(args))
    table = plan_table(plan)
    for row in table.rows:
        print(f"sweep: {row_line(row, row.name == table.winner)}")
    print(f"sweep: {table.verdict}")
    print(f"sweep: notebook {notebook}")
    return 0 if all(r.run is not None and is_finished(r.run) for r in table.rows) else 1


def cmd_aggregate(args: argparse.Namespace) -> int:
    from servegate.history.aggregate import rebuild_history

    result = rebuild_history(
        args.results_dir, args.history, poc_summaries=args.poc_summaries or None
    )
    for folder, reason in result.skipped:
        print(f"aggregate: warning: skipped {folder}: {reason}", file=sys.stderr)
    print(f"aggregate: {len(result.rows)} rows -> {result.path}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from servegate.core.errors import ImportFileError
    from servegate.runs.importer import import_latency_csv, import_tool_file

    csv_flags = ("latency_column", "unit", "id_column", "status_column", "error_column")
    if args.tool == "csv":
        for flag in ("latency_column", "unit"):
            if getattr(args, flag) is None:
                raise ImportFileError(
                    f"{args.file}: a CSV import needs --{flag.replace('_', '-')}; pass it, or "
                    "--from vllm-bench|guidellm|aiperf for those tools' files",
                    path=str(args.file),
                )
        result = import_latency_csv(
            args.file,
            latency_column=args.latency_column,
            unit=args.unit,
            results_dir=args.results_dir,
            model=args.model,
            backend=args.backend or "imported",
            label=args.label,
            id_column=args.id_column,
            status_column=args.status_column,
            error_column=args.error_column,
            run_date=args.run_date,
        )
        used = ", ".join(f"{role} {name!r}" for role, name in result.columns.items())
    else:
        given = [f"--{f.replace('_', '-')}" for f in csv_flags if getattr(args, f) is not None]
        if given:
            raise ImportFileError(
                f"{args.file}: {', '.join(given)} apply to --from csv only; drop them "
                f"(--from {args.tool} reads the tool's own fields)",
                path=str(args.file),
            )
        result = import_tool_file(
            args.tool,
            args.file,
            results_dir=args.results_dir,
            model=args.model,
            backend=args.backend,
            label=args.label,
            ttft_comparable=args.ttft_comparable,
            tool_version=args.tool_version,
            run_date=args.run_date,
        )
        src = result.source
        version = src.tool_version if src and src.tool_version else "version unknown"
        ttft = "comparable" if args.ttft_comparable else "not comparable, kept out of gates"
        used = f"{args.tool} {version}; TTFT {ttft}"
    print(f"import: {result.n_rows} rows, {result.n_errors} failed ({used}) -> {result.run_dir}")
    print("import: run `servegate aggregate` to add it to the history")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from servegate.jobs.pipeline import report_runs, run_report_pipeline, split_report_overrides

    hosted = None if args.no_hosted else args.hosted
    bench = None if args.no_bench else args.params
    report_params, bench_overrides = split_report_overrides(args.set, benchmarks=bench is not None)
    runs = report_runs(bench, hosted, bench_overrides)
    for name, layered in runs:
        _show(args, f"report: {name} run", layered)
    _check_benchmarks(args, [(f"{name} run", layered) for name, layered in runs])
    local = runs[0][1].values if runs else {}
    result = run_report_pipeline(
        bench,
        hosted=hosted,
        overrides=bench_overrides,
        results_dir=str(local.get("results_dir") or "eval/results"),
        report_params=report_params,
        progress_to=_progress_stream(args),
    )
    for run_dir in result.runs:
        state, why = _run_state(run_dir)
        print(f"report: run {run_dir.name}: {state}" + (f": {why}" if why else ""))
    decision = result.decision
    gates = ", ".join(f"{g.name} {g.verdict}" for g in (decision.gates if decision else []))
    print(f"report: decision {decision.decision if decision else None} ({gates})")
    print(f"report: HTML {result.html}")
    if result.pdf is not None and result.pdf.path is not None:
        print(f"report: PDF  {result.pdf.path}")
    elif result.pdf is not None:
        print(f"report: PDF skipped: {result.pdf.skipped_reason}")
    for path in result.latest:
        print(f"report: {path}")
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    from servegate.report.alerts import alerts_from_decision

    levels, paths = alerts_from_decision(
        args.decision, args.out, results_dir=args.results_dir, job=args.job, target=args.target
    )
    source = f"run {levels.run_id}, level {levels.level}" if levels.run_id else "the gates alone"
    print(f"alerts: thresholds from {source} ({args.decision})")
    for note in levels.notes:
        print(f"alerts: {note}")
    for path in paths:
        print(f"alerts: {path}")
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    from servegate.jobs.selftest import run_selftest

    result = run_selftest(
        streams=args.streams, n_requests=args.requests, tolerance_ms=args.tolerance_ms
    )
    print(
        f"selftest: {result.n_requests} requests at {result.streams} streams against the "
        f"calibration server, {result.n_failed} failed"
    )
    for name, err in result.errors_ms.items():
        print(f"  {name:8s} client - server truth: {err:+7.2f} ms")
    print(f"  client CPU: {result.client_cpu_s_per_1k_tokens:.3f} s per 1,000 streamed tokens")
    verdict = "PASS" if result.passed else "FAIL"
    print(f"selftest: {verdict} (tolerance {result.tolerance_ms:g} ms)")
    return 0 if result.passed else 1


def cmd_init(args: argparse.Namespace) -> int:
    from servegate.jobs.project import init_project

    result = init_project(args.dir)
    kept = f"; kept {len(result.kept)} existing files as they were" if result.kept else ""
    print(
        f"init: {result.root} is a servegate project: copied {len(result.copied)} files, made "
        f"{len(result.folders)} folders{kept}. Next: cd {result.root} && servegate report"
    )
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from servegate.core.environment import collect_environment

    print(json.dumps(collect_environment(), indent=2))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from servegate.runs.verify import latest_run_dir, verify_run

    run_dir = args.run or latest_run_dir(args.results_dir)
    result = verify_run(run_dir)
    print(result.text())
    return 0 if result.ok else 1


def cmd_regressions(args: argparse.Namespace) -> int:
    from servegate.report.decision import load_decision

    decision = load_decision(args.decision)
    print(f"decision: {decision.decision} ({args.decision})")
    flagged = 0
    for name, comp in decision.comparison.items():
        flagged += len(comp.regressions)
        what = ", ".join(comp.regressions) or "no statistically clear regression"
        print(f"{name}: {comp.message}: {what}")
    return 1 if flagged else 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from servegate.calibration.server import calibration_config_from_flags, serve

    config = calibration_config_from_flags(
        seed=args.seed,
        ttft_ms=args.ttft_ms,
        itl_ms=args.itl_ms,
        tokens=args.tokens,
        p_http_429=args.p_429,
        p_http_500=args.p_500,
        p_stall=args.p_stall,
        p_cut=args.p_cut,
        p_empty=args.p_empty,
        bursts=args.burst,
        slots=args.slots,
        knee_delay_ms=args.knee_delay_ms,
    )
    serve(
        config,
        args.host,
        args.port,
        args.truth,
        on_ready=lambda url: print(
            f"calibration server on {url} (model {config.model!r}); Ctrl-C stops it", flush=True
        ),
    )
    return 0
