"""The main job as steps: run the notebooks with papermill, then render the report.

``make bench``, ``make aggregate`` and ``make report`` call these; each step validates its
parameters before anything runs, keeps the executed notebook as evidence (inside the run
folder for a benchmark, even when it failed), and publishes ``reports/latest.*`` only after
every step succeeded, so a failed run never leaves an output that looks done.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any

import papermill
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import default

from servegate.core.config import validate_params
from servegate.core.errors import ConfigError, NotebookError, ServegateError
from servegate.core.params_file import LayeredParams, load_layered_params, parse_override
from servegate.core.paths import project_root, project_template, resolve_path
from servegate.core.progress import relay
from servegate.jobs.bench import BenchmarkParams
from servegate.jobs.search import SearchRunParams
from servegate.report.decision import DecisionReport, load_decision
from servegate.report.render import PdfResult, html_to_pdf, render_html

__all__ = [
    "ParamsSource",
    "PipelineResult",
    "as_layered",
    "execute_benchmark",
    "execute_notebook",
    "execute_search",
    "notebook_path",
    "report_runs",
    "run_report_pipeline",
    "split_report_overrides",
]

log = logging.getLogger(__name__)

EXECUTED_NAME = "01_benchmark.ipynb"
REPORT_NOTEBOOK = "03_decision_report.ipynb"
_BENCH_KEYS = frozenset(BenchmarkParams.model_fields)
SEARCH_NOTEBOOK = "05_search.ipynb"
#: A benchmark's parameters: a params file, several (layered, later wins), or already layered.
ParamsSource = str | Path | Sequence[str | Path] | LayeredParams


class _IPCKernelManager(AsyncKernelManager):
    """Talk to the notebook's kernel over Unix sockets in Jupyter's runtime folder (owner-only
    files, removed at shutdown) instead of localhost TCP ports that any local user can reach;
    the kernel warns about plain TCP on every start otherwise."""

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        # The kernel's own stdout/stderr (not its cells', which ipykernel sends to the notebook)
        # carries start-up notices and zmq's shutdown races after a failed cell: noise in the
        # user's terminal and cron mail. It goes to a log in Jupyter's runtime folder, which is
        # the user's own (a shared /tmp name would fail for the second user on a machine).
        runtime = Path(jupyter_runtime_dir())
        runtime.mkdir(parents=True, exist_ok=True)
        with open(runtime / "servegate-kernels.log", "ab") as kernel_log:
            kw.setdefault("stdout", kernel_log)
            kw.setdefault("stderr", kernel_log)
            await super()._async_launch_kernel(kernel_cmd, **kw)


@contextlib.contextmanager
def _stopped_cell(name: str, output: Path) -> Iterator[None]:
    """A cell's error as one ``NotebookError`` line instead of papermill's traceback dump."""
    try:
        yield
    except papermill.PapermillExecutionError as exc:
        raise NotebookError(
            f"{name} stopped at cell {exc.exec_count}: {exc.ename}: {exc.evalue} "
            f"(the executed notebook with the whole traceback: {output})",
            ename=exc.ename,
            evalue=exc.evalue,
        ) from exc


def notebook_path(name: str) -> Path:
    """``notebooks/<name>`` of the project when it has one (a checkout, or a copy made by
    ``servegate init`` and perhaps edited), else servegate's own (installed from a wheel)."""
    own = project_root() / "notebooks" / name
    return own if own.is_file() else project_template() / "notebooks" / name


def execute_notebook(
    name: str,
    output: Path,
    parameters: Mapping[str, object],  # JSON boundary: papermill's notebook parameters
    *,
    progress_to: IO[str] | None = None,
) -> Path:
    """Execute ``notebooks/<name>`` with papermill into ``output`` (kept even on failure).

    The kernel reports progress in plain lines (``servegate.core.progress.relay``): each line
    appears on ``progress_to`` as it happens (None: shown nowhere), and the executed notebook
    keeps the stage and summary lines only.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    with relay(progress_to), _stopped_cell(name, output):
        papermill.execute_notebook(
            str(notebook_path(name)),
            str(output),
            parameters=dict(parameters),
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            cwd=str(Path.cwd()),
            kernel_manager_class=_IPCKernelManager,
        )
    return output


def execute_benchmark(
    params: ParamsSource, *, progress_to: IO[str] | None = None, **overrides: object
) -> Path:
    """Run notebooks/01_benchmark.ipynb with layered parameters; return the run folder.

    Progress lines (vLLM starting, warm-up, each level's counts) reach ``progress_to`` live.

    :param params: a params file, several (layered, later wins), or ``LayeredParams``.
    :param overrides: top-level values set last (e.g. ``results_dir``).

    The parameters are validated first (a typo fails here, before any server starts). The
    executed notebook is moved into the run folder it created, also when it failed.
    """
    return _execute_run(EXECUTED_NAME, BenchmarkParams, params, progress_to, overrides)


def execute_search(
    params: ParamsSource, *, progress_to: IO[str] | None = None, **overrides: object
) -> Path:
    """Run notebooks/05_search.ipynb (a capacity search) with layered parameters; return the
    run folder, where the executed notebook is kept. As ``execute_benchmark`` otherwise."""
    return _execute_run(SEARCH_NOTEBOOK, SearchRunParams, params, progress_to, overrides)


def _execute_run(
    notebook: str,
    model: type[BenchmarkParams],
    params: ParamsSource,
    progress_to: IO[str] | None,
    overrides: Mapping[str, object],
) -> Path:
    """Validate, run ``notebook``, and keep it in the run folder it made (or beside them)."""
    layered = as_layered(params)
    params_map = {**layered.values, **overrides}
    validated = validate_params(model, params_map, what=f"parameters in {layered.describe()}")
    results = resolve_path(validated.results_dir)  # where the notebook's library writes it
    results.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in results.iterdir()}
    tmp = Path(tempfile.mkdtemp(prefix="servegate-nb-")) / notebook
    kept = tmp
    try:
        execute_notebook(notebook, tmp, params_map, progress_to=progress_to)
    except NotebookError as exc:
        failure: NotebookError | None = exc
    else:
        failure = None
    finally:
        created = sorted(p for p in results.iterdir() if p.name not in before and p.is_dir())
        if created:
            kept = created[-1] / notebook
            shutil.move(str(tmp), kept)
        elif tmp.exists():
            kept = results / f"failed_{datetime.now(UTC):%Y%m%dT%H%M%SZ}_{notebook}"
            shutil.move(str(tmp), kept)
            log.error("the run created no run folder; its notebook is kept at %s", kept)
    if failure is not None:  # the same one line, naming where the notebook now is
        message = str(failure).replace(str(tmp), str(kept))
        raise NotebookError(message, ename=failure.ename, evalue=failure.evalue) from failure
    if not created:
        raise ServegateError(f"the run with {layered.describe()} created no run folder")
    return created[-1]


def as_layered(params: ParamsSource) -> LayeredParams:
    """``params`` as ``LayeredParams``: one file or several loaded in layers, or kept."""
    if isinstance(params, LayeredParams):
        return params
    return load_layered_params([params] if isinstance(params, str | Path) else params)


def split_report_overrides(
    overrides: Sequence[str], *, benchmarks: bool
) -> tuple[dict[str, object], list[str]]:
    """``servegate report -p KEY=VALUE``: the report notebook's parameters (its parameters
    cell, read by papermill) and the benchmarks' overrides. A key that both know goes to both.

    :param benchmarks: whether the report measures anything (False: ``--no-bench``).
    :raises ConfigError: when a key is for the benchmarks and nothing is measured, rather than
        dropping it silently.
    """
    report_keys = set(papermill.inspect_notebook(str(notebook_path(REPORT_NOTEBOOK))))
    report: dict[str, object] = {}
    bench: list[str] = []
    for text in overrides:
        path, value = parse_override(text)
        if path[0] in report_keys and len(path) == 1:
            report[path[0]] = value
            if not benchmarks or path[0] not in _BENCH_KEYS:
                continue
        if not benchmarks:
            raise ConfigError(
                f"-p {text}: with --no-bench nothing is measured, and {path[0]!r} is not a "
                f"parameter of the report; the report's are: {', '.join(sorted(report_keys))}"
            )
        bench.append(text)
    return report, bench


def report_runs(
    bench_params: str | Path | Sequence[str | Path] | None,
    hosted: str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, object] = (),
) -> list[tuple[str, LayeredParams]]:
    """The report's benchmarks by name: ``local`` is ``bench_params``' layers then
    ``overrides``; ``hosted`` the same layers, then the hosted file, then ``overrides``, so its
    workload (prompts, counts, caps, levels) is the local run's by construction. None or ``[]``
    for ``bench_params`` means no benchmark; None for ``hosted``, no hosted run."""
    if not bench_params:
        return []
    files = [bench_params] if isinstance(bench_params, str | Path) else list(bench_params)
    runs = [("local", load_layered_params(files, overrides))]
    if hosted is not None:
        runs.append(("hosted", load_layered_params([*files, hosted], overrides)))
    return runs


@dataclass
class PipelineResult:
    """What the main job produced."""

    runs: list[Path] = field(default_factory=list)
    history: Path | None = None
    notebook: Path | None = None
    html: Path | None = None
    pdf: PdfResult | None = None
    decision: DecisionReport | None = None
    latest: list[Path] = field(default_factory=list)


def run_report_pipeline(
    bench_params: str | Path | Sequence[str | Path] | None,
    *,
    hosted: str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, object] = (),
    results_dir: str = "eval/results",
    history_path: str = "eval/reports/aggregate_history.csv",
    report_dir: str = "reports",
    report_params: Mapping[str, object] | None = None,
    progress_to: IO[str] | None = None,
) -> PipelineResult:
    """The local and hosted benchmarks (``report_runs``), aggregate, decision report, HTML, PDF.

    ``results_dir`` is where both runs go, whatever their layers say. Each step says what it
    does on ``progress_to`` (None: nothing), the benchmarks' progress included.
    """

    say = partial(_say, progress_to)
    result = PipelineResult()
    for name, layered in report_runs(bench_params, hosted, overrides):
        say(f"{name} run: {layered.describe()}")
        run_dir = execute_benchmark(layered, results_dir=results_dir, progress_to=progress_to)
        result.runs.append(run_dir)
    # The notebooks read relative paths under the project root, as resolve_path does here.
    history = resolve_path(history_path)
    say(f"history: rebuilding {history} from the run folders in {resolve_path(results_dir)}")
    execute_notebook(
        "02_aggregate.ipynb",
        history.parent / "02_aggregate.ipynb",
        {"results_dir": results_dir, "history_path": history_path},
        progress_to=progress_to,
    )
    result.history = history
    out = resolve_path(report_dir)
    work = Path(tempfile.mkdtemp(prefix="servegate-report-"))
    say("report: running the decision notebook (gates, plots, cost, capacity, fallback)")
    nb = execute_notebook(
        "03_decision_report.ipynb",
        work / "03_decision_report.ipynb",
        {
            "results_dir": results_dir,
            "history_path": history_path,
            "report_dir": str(out),
            **(report_params or {}),
        },
        progress_to=progress_to,
    )
    stem = _stem(out)
    result.decision = load_decision(out / f"{stem}.json")
    result.notebook = out / f"{stem}.ipynb"
    shutil.copy(nb, result.notebook)
    say(f"report: rendering {out / stem}.html, then the PDF with Chromium")
    result.html = render_html(nb, out / f"{stem}.html", title="Self-hosted LLM decision report")
    result.pdf = html_to_pdf(result.html, out / f"{stem}.pdf")
    # Only now, with every step done, do the `latest` names move.
    # The alert rules and scrape job build_report wrote beside the JSON move with it.
    prefix = stem.removesuffix("_decision")
    monitoring = [out / f"{prefix}_{kind}.yml" for kind in ("alerts", "scrape")]
    files = [out / f"{stem}.json", result.html, result.pdf.path]
    files += [p for p in monitoring if p.is_file()]
    result.latest = _publish_latest(out, files, stem)
    return result


def _say(stream: IO[str] | None, text: str) -> None:
    """One line of the pipeline's own progress (its steps between the notebooks)."""
    if stream is not None:
        stream.write(text + "\n")
        stream.flush()


def _publish_latest(out: Path, files: Sequence[Path | None], stem: str) -> list[Path]:
    """Copy each dated report file to its ``latest`` name, atomically (a reader never sees a
    half-copied file); a file not produced (the PDF without Chromium) is left out. ``stem`` is
    ``<date>_<label>_decision``; the alert files are ``<date>_<label>_alerts.yml`` and
    ``<date>_<label>_scrape.yml``."""
    published = []
    for src in files:
        if src is not None:
            # <date>_<label>_decision.html -> latest.html; <date>_<label>_alerts.yml ->
            # latest_alerts.yml
            prefix = stem if src.name.startswith(stem) else stem.removesuffix("_decision")
            dst = out / src.name.replace(prefix, "latest", 1)
            tmp = out / f".{dst.name}.tmp"
            shutil.copy(src, tmp)
            tmp.replace(dst)
            published.append(dst)
    return published


def _stem(report_dir: Path) -> str:
    """``<date>_<label>_decision`` of the dated JSON the report notebook just wrote."""
    dated = sorted(report_dir.glob("*_decision.json"), key=lambda p: p.stat().st_mtime)
    return dated[-1].name.removesuffix(".json") if dated else "report_decision"
