"""The ``servegate`` command: each subcommand parses its flags and makes one library call."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from servegate.core.errors import ServegateError

if TYPE_CHECKING:  # imported where used: `servegate --help` stays fast
    from servegate.server.lifecycle import ServerConfig

__all__ = ["main"]

DEFAULT_MANIFEST = Path("data/models/smollm2-135m-instruct.json")
DEFAULT_PARAMS = Path("params/cpu_default.yaml")


def _cmd_model(args: argparse.Namespace) -> int:
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


def _server_config(params_path: Path, overrides: dict[str, object]) -> ServerConfig:
    from servegate.core.params_file import load_params_file
    from servegate.server.lifecycle import ServerConfig

    params = load_params_file(params_path)
    settings = dict(params.get("server") or {})
    settings.setdefault("model", params.get("model_path"))
    settings.setdefault("served_model_name", params.get("model", "smollm2"))
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return ServerConfig.from_params(settings)


def _cmd_smoke(args: argparse.Namespace) -> int:
    from servegate.server.lifecycle import VLLMServer

    config = _server_config(args.params, {"port": args.port, "log_path": args.log})
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


def _cmd_bench(args: argparse.Namespace) -> int:
    from servegate.jobs.pipeline import execute_benchmark

    run_dir = execute_benchmark(args.params)
    print(f"bench: run folder {run_dir}")
    return 0


def _cmd_aggregate(args: argparse.Namespace) -> int:
    from servegate.history.aggregate import rebuild_history

    result = rebuild_history(
        args.results_dir, args.history, poc_summaries=args.poc_summaries or None
    )
    for folder, reason in result.skipped:
        print(f"aggregate: warning: skipped {folder}: {reason}", file=sys.stderr)
    print(f"aggregate: {len(result.rows)} rows -> {result.path}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from servegate.runs.importer import import_latency_csv

    result = import_latency_csv(
        args.csv,
        latency_column=args.latency_column,
        unit=args.unit,
        results_dir=args.results_dir,
        model=args.model,
        backend=args.backend,
        label=args.label,
        id_column=args.id_column,
        status_column=args.status_column,
        error_column=args.error_column,
        run_date=args.run_date,
    )
    used = ", ".join(f"{role} {name!r}" for role, name in result.columns.items())
    print(f"import: {result.n_rows} rows, {result.n_errors} failed ({used}) -> {result.run_dir}")
    print("import: run `servegate aggregate` to add it to the history")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from servegate.jobs.pipeline import run_report_pipeline

    result = run_report_pipeline([] if args.no_bench else args.params)
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


def _cmd_selftest(args: argparse.Namespace) -> int:
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


def _cmd_env(args: argparse.Namespace) -> int:
    from servegate.core.environment import collect_environment

    print(json.dumps(collect_environment(), indent=2))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from servegate.runs.verify import latest_run_dir, verify_run

    run_dir = args.run or latest_run_dir(args.results_dir)
    result = verify_run(run_dir)
    print(result.text())
    return 0 if result.ok else 1


def _cmd_regressions(args: argparse.Namespace) -> int:
    from servegate.report.decision import load_decision

    decision = load_decision(args.decision)
    print(f"decision: {decision.decision} ({args.decision})")
    flagged = 0
    for name, comp in decision.comparison.items():
        flagged += len(comp.regressions)
        what = ", ".join(comp.regressions) or "no statistically clear regression"
        print(f"{name}: {comp.message}: {what}")
    return 1 if flagged else 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
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


def _add_model_and_server(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``model``, ``smoke`` and ``calibrate``: the model folder, vLLM and the calibration server."""
    model = sub.add_parser("model", help="build or verify the embedded model folder")
    model.add_argument("action", choices=["ensure", "build", "verify"], nargs="?", default="ensure")
    model.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    model.add_argument("--force", action="store_true", help="rebuild even if the folder verifies")
    model.add_argument(
        "--update-manifest",
        action="store_true",
        help="accept the bytes this build produces and rewrite the manifest (maintainers)",
    )
    model.set_defaults(func=_cmd_model)

    smoke = sub.add_parser("smoke", help="start vLLM, answer one prompt, read /metrics, stop")
    smoke.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    smoke.add_argument("--port", type=int, default=None)
    smoke.add_argument("--log", type=Path, default=None, help="server log file")
    smoke.add_argument("--prompt", default="What is the capital of France?")
    smoke.set_defaults(func=_cmd_smoke)

    cal = sub.add_parser(
        "calibrate",
        help="run the scripted calibration server in the foreground (to check a client's timings)",
    )
    cal.add_argument("--port", type=int, default=8100)
    cal.add_argument("--host", default="127.0.0.1")
    cal.add_argument("--seed", type=int, default=1)
    cal.add_argument("--ttft-ms", type=float, default=200.0, help="time to first token, ms")
    cal.add_argument("--itl-ms", type=float, default=40.0, help="gap between tokens, ms")
    cal.add_argument("--tokens", default="32:128", help="output tokens, MIN:MAX (uniform)")
    for flag in ("429", "500", "stall", "cut", "empty"):
        cal.add_argument(f"--p-{flag}", type=float, default=0.0, help=f"{flag} fault rate")
    cal.add_argument(
        "--burst",
        action="append",
        default=[],
        metavar="FAULT:START:COUNT",
        help="requests START..START+COUNT-1 all get FAULT (e.g. http_429:100:50); repeatable",
    )
    cal.add_argument("--truth", type=Path, default=None, help="append the truth log (JSONL) here")
    cal.set_defaults(func=_cmd_calibrate)


def _add_runs_and_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``bench``, ``aggregate``, ``import`` and ``report``: runs, the history and the report."""
    bench = sub.add_parser("bench", help="run notebooks/01_benchmark.ipynb with a params file")
    bench.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    bench.set_defaults(func=_cmd_bench)

    aggregate = sub.add_parser("aggregate", help="rebuild the history from the run folders")
    aggregate.add_argument("--results-dir", default="eval/results")
    aggregate.add_argument("--history", default="eval/reports/aggregate_history.csv")
    aggregate.add_argument(
        "--poc-summaries",
        default="data/history/poc_summaries.yaml",
        help="proof-of-concept summaries added as summary-only rows ('' for none)",
    )
    aggregate.set_defaults(func=_cmd_aggregate)

    imp = sub.add_parser(
        "import", help="turn another tool's per-request latency CSV into a run folder"
    )
    imp.add_argument("csv", type=Path, help="the CSV, one row per request")
    imp.add_argument("--latency-column", required=True, help="end-to-end latency column")
    # No default unit: guessing s vs ms would be off by 1000x without a word.
    imp.add_argument("--unit", required=True, help="the latency column's unit: s or ms")
    imp.add_argument("--results-dir", default="eval/results")
    imp.add_argument("--model", default="", help="model the source measured (default unknown)")
    imp.add_argument("--backend", default="imported", help="not vllm/openai (measured runs')")
    imp.add_argument("--label", default="imported", help="run label, part of the run id")
    imp.add_argument("--id-column", default=None, help="prompt ids (default: row number)")
    for role in ("status", "error"):
        imp.add_argument(
            f"--{role}-column",
            default=None,
            help=f"which rows failed (default: a column named {role!r} if any; '' for none)",
        )
    imp.add_argument("--run-date", default=None, help="when the source ran, ISO 8601 (UTC)")
    imp.set_defaults(func=_cmd_import)

    report = sub.add_parser("report", help="benchmarks, history, decision report (HTML, PDF)")
    report.add_argument(
        "--params",
        type=Path,
        nargs="+",
        default=[DEFAULT_PARAMS, Path("params/hosted_openai.yaml")],
        help="one benchmark per params file, in order",
    )
    report.add_argument(
        "--no-bench",
        action="store_true",
        help="skip the benchmarks: rebuild the history and re-render from the saved runs",
    )
    report.set_defaults(func=_cmd_report)


def _add_checks(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``selftest``, ``env``, ``verify``, ``regressions``: checks of the tool, machine and runs."""
    selftest = sub.add_parser(
        "selftest", help="measure the load generator against the calibration server's truth"
    )
    selftest.add_argument("--streams", type=int, default=64)
    selftest.add_argument("--requests", type=int, default=256)
    selftest.add_argument("--tolerance-ms", type=float, default=2.0)
    selftest.set_defaults(func=_cmd_selftest)

    env = sub.add_parser("env", help="print the hardware and runtime manifest as JSON")
    env.set_defaults(func=_cmd_env)

    verify = sub.add_parser(
        "verify",
        help="re-check a run's manifest (model and prompt hashes, versions, hardware) against "
        "this machine; exit 1 when anything differs",
    )
    verify.add_argument(
        "run", type=Path, nargs="?", default=None, help="run folder (default: newest vLLM run)"
    )
    verify.add_argument("--results-dir", type=Path, default=Path("eval/results"))
    verify.set_defaults(func=_cmd_verify)

    regressions = sub.add_parser(
        "regressions",
        help="print the report's comparison with the previous comparable run; "
        "exit 1 when a regression is statistically clear (for schedulers)",
    )
    regressions.add_argument("decision", type=Path, nargs="?", default=Path("reports/latest.json"))
    regressions.set_defaults(func=_cmd_regressions)


def build_parser() -> argparse.ArgumentParser:
    """The ``servegate`` parser: global flags, then the subcommands in ``--help`` order."""
    parser = argparse.ArgumentParser(prog="servegate", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_model_and_server, _add_runs_and_report, _add_checks):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except ServegateError as exc:
        print(f"servegate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("servegate: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
