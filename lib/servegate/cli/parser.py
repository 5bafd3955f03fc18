"""The ``servegate`` argument parser: every flag with its help text and default."""

from __future__ import annotations

import argparse
import importlib.metadata
from pathlib import Path
from typing import TYPE_CHECKING

from servegate.cli import commands
from servegate.cli.commands import (
    DEFAULT_HOSTED,
    DEFAULT_MANIFEST,
    DEFAULT_PARAMS,
)
from servegate.cli.commands import (
    IMPORT_TOOLS as TOOLS,
)

if TYPE_CHECKING:
    from typing import TypeAlias

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["build_parser", "version"]

_QUIET_HELP = "print only results and errors: no effective parameters, no progress"
_DESCRIPTION = (
    "servegate: benchmark a local vLLM server and a hosted API, keep the history, "
    "and render a GO / PAUSE / INCONCLUSIVE report."
)


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
    model.set_defaults(func=commands.cmd_model)

    smoke = _subcommand(sub, "smoke", "start vLLM, answer one prompt, read /metrics, stop")
    _add_params(smoke, what="vLLM launch")
    smoke.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    smoke.add_argument(
        "--log", type=Path, default=None, help="server log file (default: logs/vllm-PORT.log)"
    )
    smoke.add_argument(
        "--prompt", default="What is the capital of France?", help="the prompt to answer"
    )
    smoke.set_defaults(func=commands.cmd_smoke)

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
    cal.add_argument(
        "--slots",
        type=int,
        default=None,
        help="a capacity knee: requests beyond this many in flight wait --knee-delay-ms more",
    )
    cal.add_argument(
        "--knee-delay-ms", type=float, default=1000.0, help="the wait beyond --slots, ms"
    )
    cal.add_argument("--truth", type=Path, default=None, help="append the truth log (JSONL) here")
    cal.set_defaults(func=commands.cmd_calibrate)


def _add_runs_and_report(sub: Subparsers) -> None:
    """``bench``, ``aggregate``, ``import``, ``report`` and ``alerts``: runs, the history, the
    report and its monitoring rules."""
    bench = _subcommand(sub, "bench", "run notebooks/01_benchmark.ipynb with layered parameters")
    _add_params(bench, what="benchmark")
    bench.set_defaults(func=commands.cmd_bench)

    search = _subcommand(
        sub,
        "search",
        "find the highest concurrency that passes the latency limits (notebooks/05_search.ipynb)",
    )
    _add_params(search, what="benchmark + `search` block")
    search.set_defaults(func=commands.cmd_search)

    sweep = _subcommand(
        sub,
        "sweep",
        "start vLLM once per server setting of a sweep file, search each, name the winner "
        "(notebooks/06_sweep.ipynb); a second run resumes",
    )
    sweep.add_argument("sweep", type=Path, help="the sweep file, e.g. params/sweeps/cpu_flags.yaml")
    sweep.add_argument(
        "-p",
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one benchmark parameter over the sweep's (results_dir=..., "
        "server.max_model_len=1024); VALUE is YAML; repeatable",
    )
    sweep.add_argument(
        "--no-run", action="store_true", help="run nothing: show the table of what is recorded"
    )
    sweep.set_defaults(func=commands.cmd_sweep)

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
    aggregate.set_defaults(func=commands.cmd_aggregate)

    imp = _subcommand(
        sub,
        "import",
        "turn another tool's per-request results (vllm bench serve, GuideLLM, AIPerf, a CSV) "
        "into a run folder",
    )
    imp.add_argument("file", type=Path, help="the tool's saved results, one entry per request")
    imp.add_argument(
        "--from",
        dest="tool",
        choices=TOOLS,
        default="csv",
        help="the tool that wrote FILE: vllm-bench (--save-result --save-detailed JSON), "
        "guidellm (benchmarks.json), aiperf (profile_export.jsonl), csv (default)",
    )
    imp.add_argument("--results-dir", default="eval/results", help="where the run folder goes")
    imp.add_argument("--model", default="", help="model the source measured (default: the file's)")
    imp.add_argument(
        "--backend",
        default=None,
        help="not vllm/openai (measured runs'); default the tool's name, 'imported' for a CSV",
    )
    imp.add_argument("--label", default="imported", help="run label, part of the run id")
    imp.add_argument("--run-date", default=None, help="when the source ran, ISO 8601 (UTC)")
    imp.add_argument(
        "--ttft-comparable",
        action="store_true",
        help="the tool's TTFT starts and stops where servegate's does (first content token): "
        "let a TTFT gate read it (recorded in run.json; default: never)",
    )
    imp.add_argument(
        "--tool-version", default=None, help="the tool's version when the file does not say it"
    )
    csv = imp.add_argument_group("--from csv")
    csv.add_argument("--latency-column", default=None, help="end-to-end latency column (required)")
    # No default unit: guessing s vs ms would be off by 1000x without a word.
    csv.add_argument("--unit", default=None, help="the latency column's unit: s or ms (required)")
    csv.add_argument("--id-column", default=None, help="prompt ids (default: row number)")
    for role in ("status", "error"):
        csv.add_argument(
            f"--{role}-column",
            default=None,
            help=f"which rows failed (default: a column named {role!r} if any; '' for none)",
        )
    imp.set_defaults(func=commands.cmd_import)

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
        help="skip the benchmarks: rebuild the history and re-render from the saved runs; -p "
        "then sets only the report's own parameters (local_run=RUN_ID, p95_ms=2500, ...), "
        "as it does beside the benchmarks' in a full run",
    )
    report.set_defaults(func=commands.cmd_report)

    alerts = _subcommand(
        sub,
        "alerts",
        "write Prometheus alert rules and a scrape job from a decision report "
        "(each report writes them too: reports/latest_alerts.yml, latest_scrape.yml)",
    )
    alerts.add_argument(
        "--decision", type=Path, default=Path("reports/latest.json"), help="the decision JSON"
    )
    alerts.add_argument(
        "--results-dir", default="eval/results", help="where its local run folder is"
    )
    alerts.add_argument(
        "--out", default="reports/prometheus", help="folder for alerts.yml and scrape.yml"
    )
    alerts.add_argument("--job", default="vllm", help="the scrape job's name the rules select")
    alerts.add_argument(
        "--target", default="localhost:8000", help="the vLLM server's host:port to scrape"
    )
    alerts.set_defaults(func=commands.cmd_alerts)


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
    selftest.set_defaults(func=commands.cmd_selftest)

    init = _subcommand(
        sub,
        "init",
        "make a folder a servegate project: its notebooks, params and data (an existing file "
        "is kept), and the folders runs write to",
    )
    init.add_argument("dir", type=Path, nargs="?", default=Path("."), help="the project folder")
    init.set_defaults(func=commands.cmd_init)

    env = _subcommand(sub, "env", "print the hardware and runtime manifest as JSON")
    env.set_defaults(func=commands.cmd_env)

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
    verify.set_defaults(func=commands.cmd_verify)

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
    regressions.set_defaults(func=commands.cmd_regressions)


def build_parser() -> argparse.ArgumentParser:
    """The ``servegate`` parser: global flags, then the subcommands in ``--help`` order."""
    parser = argparse.ArgumentParser(
        prog="servegate", description=_DESCRIPTION, formatter_class=_HelpFormatter
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
