"""The ``servegate`` command: each subcommand parses its flags and makes one library call."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from servegate.core.errors import ServegateError

if TYPE_CHECKING:  # imported where used: `servegate --help` stays fast
    from typing import TypeAlias

    from servegate.core.params_file import LayeredParams
    from servegate.server.lifecycle import ServerConfig

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["build_parser", "main", "version"]

DEFAULT_MANIFEST = Path("data/models/smollm2-135m-instruct.json")
DEFAULT_PARAMS = Path("params/cpu_default.yaml")
DEFAULT_HOSTED = Path("params/hosted_openai.yaml")
_QUIET_HELP = "print only results and errors: no effective parameters, no progress"


def version() -> str:
    """The installed distribution's version, else the package's ``__version__``."""
    try:
        return importlib.metadata.version("servegate")
    except importlib.metadata.PackageNotFoundError:
        from servegate import __version__

        return __version__


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's help ends with its default, unless it has none (None, off, empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        default = action.default
        if default is None or default is False or default == [] or default == "":
            return action.help
        if isinstance(default, list):  # as typed on a command line, not as a Python list
            return f"{action.help} (default: {' '.join(str(d) for d in default)})"
        return super()._get_help_string(action)


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


def _server_config(params: dict[str, object], overrides: dict[str, object]) -> ServerConfig:
    from servegate.server.lifecycle import ServerConfig

    server = params.get("server") or {}
    settings = dict(server) if isinstance(server, dict) else {}
    settings.setdefault("model", params.get("model_path"))
    settings.setdefault("served_model_name", params.get("model", "smollm2"))
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return ServerConfig.from_params(settings)


def _cmd_smoke(args: argparse.Namespace) -> int:
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


def _cmd_bench(args: argparse.Namespace) -> int:
    layered = _layers(args, "bench")
    _check_benchmarks(args, [("bench", layered)])
    from servegate.jobs.pipeline import execute_benchmark

    run_dir = execute_benchmark(layered, progress_to=_progress_stream(args))
    state, why = _run_state(run_dir)
    print(f"bench: run folder {run_dir}")
    print(f"bench: {state}" + (f": {why}" if why and state != "complete" else ""))
    return 0 if state in ("complete", "skipped") else 1


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
    from servegate.jobs.pipeline import report_runs, run_report_pipeline

    hosted = None if args.no_hosted else args.hosted
    bench = None if args.no_bench else args.params
    runs = report_runs(bench, hosted, args.set)
    for name, layered in runs:
        _show(args, f"report: {name} run", layered)
    _check_benchmarks(args, [(f"{name} run", layered) for name, layered in runs])
    local = runs[0][1].values if runs else {}
    result = run_report_pipeline(
        bench,
        hosted=hosted,
        overrides=args.set,
        results_dir=str(local.get("results_dir") or "eval/results"),
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


def _subcommand(sub: Subparsers, name: str, help: str) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` shows each flag's default; ``-q`` works after it too."""
    parser = sub.add_parser(name, help=help, description=help, formatter_class=_HelpFormatter)
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=_QUIET_HELP
    )
    return parser


def _add_params(parser: argparse.ArgumentParser, *, what: str) -> None:
    """``--params FILE [FILE ...]`` and ``-p KEY=VALUE``: one run's parameters, in layers."""
    parser.add_argument(
        "--params",
        type=Path,
        nargs="+",
        default=[DEFAULT_PARAMS],
        metavar="FILE",
        help=f"{what} parameter files, layered: a later file wins, nested mappings merge key by "
        "key, a file may `extends: BASE.yaml`; found from the working directory, else the "
        "project root",
    )
    parser.add_argument(
        "-p",
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter after the files; VALUE is YAML (20, [1,8], null), a dotted "
        "KEY reaches into a mapping (server.max_num_seqs=16); repeatable",
    )


def _add_model_and_server(sub: Subparsers) -> None:
    """``model``, ``smoke`` and ``calibrate``: the model folder, vLLM and the calibration server."""
    model = _subcommand(sub, "model", "build or verify the embedded model folder")
    model.add_argument(
        "action",
        choices=["ensure", "build", "verify"],
        nargs="?",
        default="ensure",
        help="ensure: build unless it verifies; build: (re)build; verify: check only",
    )
    model.add_argument(
        "--manifest", type=Path, default=DEFAULT_MANIFEST, help="the model's manifest (JSON)"
    )
    model.add_argument("--force", action="store_true", help="rebuild even if the folder verifies")
    model.add_argument(
        "--update-manifest",
        action="store_true",
        help="accept the bytes this build produces and rewrite the manifest (maintainers)",
    )
    model.set_defaults(func=_cmd_model)

    smoke = _subcommand(sub, "smoke", "start vLLM, answer one prompt, read /metrics, stop")
    _add_params(smoke, what="vLLM launch")
    smoke.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    smoke.add_argument(
        "--log", type=Path, default=None, help="server log file (default: logs/vllm-PORT.log)"
    )
    smoke.add_argument(
        "--prompt", default="What is the capital of France?", help="the prompt to answer"
    )
    smoke.set_defaults(func=_cmd_smoke)

    cal = _subcommand(
        sub,
        "calibrate",
        "run the scripted calibration server in the foreground (to check a client's timings)",
    )
    cal.add_argument("--port", type=int, default=8100, help="port to listen on")
    cal.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    cal.add_argument("--seed", type=int, default=1, help="seed of the scripted timings and faults")
    cal.add_argument("--ttft-ms", type=float, default=200.0, help="time to first token, ms")
    cal.add_argument("--itl-ms", type=float, default=40.0, help="gap between tokens, ms")
    cal.add_argument("--tokens", default="32:128", help="output tokens, MIN:MAX (uniform)")
    for flag in ("429", "500", "stall", "cut", "empty"):
        cal.add_argument(
            f"--p-{flag}", type=float, default=0.0, help=f"share of requests with a {flag} fault"
        )
    cal.add_argument(
        "--burst",
        action="append",
        default=[],
        metavar="FAULT:START:COUNT",
        help="requests START..START+COUNT-1 all get FAULT (e.g. http_429:100:50); repeatable",
    )
    cal.add_argument("--truth", type=Path, default=None, help="append the truth log (JSONL) here")
    cal.set_defaults(func=_cmd_calibrate)


def _add_runs_and_report(sub: Subparsers) -> None:
    """``bench``, ``aggregate``, ``import`` and ``report``: runs, the history and the report."""
    bench = _subcommand(sub, "bench", "run notebooks/01_benchmark.ipynb with layered parameters")
    _add_params(bench, what="benchmark")
    bench.set_defaults(func=_cmd_bench)

    aggregate = _subcommand(sub, "aggregate", "rebuild the history from the run folders")
    aggregate.add_argument("--results-dir", default="eval/results", help="the run folders' folder")
    aggregate.add_argument(
        "--history", default="eval/reports/aggregate_history.csv", help="the history CSV written"
    )
    aggregate.add_argument(
        "--poc-summaries",
        default="data/history/poc_summaries.yaml",
        help="proof-of-concept summaries added as summary-only rows ('' for none)",
    )
    aggregate.set_defaults(func=_cmd_aggregate)

    imp = _subcommand(
        sub, "import", "turn another tool's per-request latency CSV into a run folder"
    )
    imp.add_argument("csv", type=Path, help="the CSV, one row per request")
    imp.add_argument("--latency-column", required=True, help="end-to-end latency column")
    # No default unit: guessing s vs ms would be off by 1000x without a word.
    imp.add_argument("--unit", required=True, help="the latency column's unit: s or ms")
    imp.add_argument("--results-dir", default="eval/results", help="where the run folder goes")
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

    report = _subcommand(
        sub, "report", "local and hosted benchmarks, history, decision report (HTML, PDF)"
    )
    _add_params(report, what="the local benchmark's")
    hosted = report.add_mutually_exclusive_group()
    hosted.add_argument(
        "--hosted",
        type=Path,
        default=DEFAULT_HOSTED,
        metavar="FILE",
        help="the hosted benchmark: the --params layers, then this file, then -p, so its "
        "workload is the local run's",
    )
    hosted.add_argument("--no-hosted", action="store_true", help="benchmark the local side only")
    report.add_argument(
        "--no-bench",
        action="store_true",
        help="skip the benchmarks: rebuild the history and re-render from the saved runs",
    )
    report.set_defaults(func=_cmd_report)


def _add_checks(sub: Subparsers) -> None:
    """``selftest``, ``env``, ``verify``, ``regressions``: checks of the tool, machine and runs."""
    selftest = _subcommand(
        sub, "selftest", "measure the load generator against the calibration server's truth"
    )
    selftest.add_argument("--streams", type=int, default=64, help="concurrent streams")
    selftest.add_argument("--requests", type=int, default=256, help="requests in all")
    selftest.add_argument(
        "--tolerance-ms", type=float, default=2.0, help="largest client - server error to pass, ms"
    )
    selftest.set_defaults(func=_cmd_selftest)

    env = _subcommand(sub, "env", "print the hardware and runtime manifest as JSON")
    env.set_defaults(func=_cmd_env)

    verify = _subcommand(
        sub,
        "verify",
        "re-check a run's manifest (model and prompt hashes, versions, hardware) against "
        "this machine; exit 1 when anything differs",
    )
    verify.add_argument(
        "run", type=Path, nargs="?", default=None, help="run folder (default: newest vLLM run)"
    )
    verify.add_argument(
        "--results-dir",
        type=Path,
        default=Path("eval/results"),
        help="where to look for the newest run",
    )
    verify.set_defaults(func=_cmd_verify)

    regressions = _subcommand(
        sub,
        "regressions",
        "print the report's comparison with the previous comparable run; "
        "exit 1 when a regression is statistically clear (for schedulers)",
    )
    regressions.add_argument(
        "decision",
        type=Path,
        nargs="?",
        default=Path("reports/latest.json"),
        help="the decision JSON a report wrote",
    )
    regressions.set_defaults(func=_cmd_regressions)


def build_parser() -> argparse.ArgumentParser:
    """The ``servegate`` parser: global flags, then the subcommands in ``--help`` order."""
    parser = argparse.ArgumentParser(
        prog="servegate", description=__doc__, formatter_class=_HelpFormatter
    )
    parser.add_argument(
        "--version", action="version", version=f"servegate {version()}", help="print the version"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help=_QUIET_HELP,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
