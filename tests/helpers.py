"""Helpers shared by test modules: paths, fixture runs, calibration settings, rows and figures.

Test modules import shared helpers from here and never from each other; fixtures live in the
conftest.py files.
"""

from __future__ import annotations

import json
import math
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from servegate.analysis.capacity import CapacityParams
from servegate.calibration.script import CalibrationConfig
from servegate.measure.prompts import Message, Prompt
from servegate.quality.checks import DEFAULT_CHECKS, load_checks
from servegate.quality.score import score

if TYPE_CHECKING:
    from servegate.server.launch import ServerConfig

__all__ = [
    "C4",
    "C16",
    "CALIBRATION_MODEL",
    "CHAT",
    "FIXTURES",
    "FIXTURE_RUNS",
    "HOSTED_RUN",
    "PLOT_CALL",
    "PRICING",
    "REPO",
    "SKIPPED_RUN",
    "TEST_PROMPTS",
    "TIMED",
    "TWO_LEVELS",
    "VLLM_RUN",
    "WRONG_ANSWER",
    "CalibrationSweep",
    "axes_titled",
    "capacity_params",
    "clone_run",
    "copy_fixtures",
    "edit_json",
    "figure_texts",
    "is_message_figure",
    "level_rows",
    "make_calibration_sweep",
    "make_killed_run",
    "make_quality_sweep",
    "read_requests",
    "scripted_answers",
    "server_config",
    "threshold_values",
]

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
PRICING = REPO / "data" / "pricing.yaml"

# --- the fixture runs --------------------------------------------------------------------------

FIXTURE_RUNS = FIXTURES / "runs"
VLLM_RUN = "20261126T231345Z_try_vllm"
HOSTED_RUN = "20261126T232125Z_hosted-fixture_openai"
SKIPPED_RUN = "20261126T232143Z_hosted-skip_openai"


def copy_fixtures(dest: Path) -> Path:
    """The three fixture runs copied under ``dest`` (the fixtures themselves stay untouched)."""
    dest.mkdir(parents=True, exist_ok=True)
    for run in (VLLM_RUN, HOSTED_RUN, SKIPPED_RUN):
        shutil.copytree(FIXTURE_RUNS / run, dest / run)
    return dest


def clone_run(src: str, dest_root: Path, new_id: str) -> Path:
    """A copy of fixture run ``src`` under a new run id (in run.json and every CSV row)."""
    folder = dest_root / new_id
    shutil.copytree(FIXTURE_RUNS / src, folder)
    for name in ("run.json", "requests.csv"):
        path = folder / name
        path.write_text(path.read_text().replace(src, new_id))
    return folder


def edit_json(folder: Path, **fields: object) -> dict:
    """Set ``fields`` at the top level of the run.json in ``folder``; return the new record."""
    record = json.loads((folder / "run.json").read_text())
    record.update(fields)
    (folder / "run.json").write_text(json.dumps(record))
    return record


def make_killed_run(dest_root: Path, new_id: str = "20261126T235900Z_killed_vllm") -> Path:
    """The vLLM fixture as if SIGKILLed 10 requests into level c8, mid-way through a row.

    run.json still says "running" and holds only the c1 summary (the last one written before
    the kill); requests.csv holds c1, 10 rows of c8, and a torn 11th row.
    """
    folder = clone_run(VLLM_RUN, dest_root, new_id)
    record = json.loads((folder / "run.json").read_text())
    record.update(state="running", levels=record["levels"][:1], n_request_rows=6)
    record["created_at"] = "2026-11-26T23:59:00+00:00"
    for key in ("finished_at_unix", "server"):
        record.pop(key, None)
    (folder / "run.json").write_text(json.dumps(record))
    lines = (folder / "requests.csv").read_text().splitlines(keepends=True)
    kept = [*lines[: 1 + 6 + 10], lines[17][:40]]  # header, c1, 10 rows of c8, a torn row
    (folder / "requests.csv").write_text("".join(kept))
    return folder


def read_requests(*folders: Path) -> pd.DataFrame:
    """The requests.csv rows of run folders, read by pandas alone (no servegate typing)."""
    return pd.concat([pd.read_csv(f / "requests.csv") for f in folders], ignore_index=True)


# --- the calibration server --------------------------------------------------------------------

CALIBRATION_MODEL = "calibration"
CHAT = {
    "model": CALIBRATION_MODEL,
    "messages": [{"role": "user", "content": "say three words please"}],
}
#: Calibration settings with short, known timings and no faults.
TIMED = CalibrationConfig(
    seed=11,
    ttft_ms={"kind": "uniform", "low": 10, "high": 20},
    itl_ms={"kind": "uniform", "low": 2, "high": 6},
    output_tokens_min=5,
    output_tokens_max=10,
)
#: Prompts for the load generator, of varied length.
TEST_PROMPTS = [
    Prompt(
        id=f"p{i:03d}",
        category="test",
        messages=[Message(role="user", content=f"question number {i} " * (1 + i % 5))],
        max_tokens=64,
    )
    for i in range(200)
]

#: A wrong answer to every item of the checks file (``scripted_answers`` checks it fails each).
WRONG_ANSWER = "I am not sure, sorry."


def scripted_answers(share: float) -> tuple[dict[str, str], dict[str, float]]:
    """Calibration ``answers`` for the default checks file, by last user message: the first
    round(share x n) items of each category answered with their reference answer, the rest
    ``WRONG_ANSWER``; and the share of each category answered right."""
    checks = load_checks(DEFAULT_CHECKS)
    by_category: dict[str, list] = defaultdict(list)
    for item in checks.items:
        by_category[item.category].append(item)
    answers: dict[str, str] = {}
    shares: dict[str, float] = {}
    for category, items in by_category.items():
        right = round(share * len(items))
        shares[category] = right / len(items)
        for i, item in enumerate(items):
            if i >= right:
                assert not score(WRONG_ANSWER, item.check).passed, item.id  # really wrong
            last_user = [m.content for m in item.messages if m.role == "user"][-1]
            answers[last_user] = item.answer if i < right else WRONG_ANSWER
    assert len(answers) == len(checks.items), "two items share a last user message"
    return answers, shares


# --- a sweep's run folders (analysis and plot tests) ---------------------------------------------


@dataclass(frozen=True)
class CalibrationSweep:
    """Run folders of one sweep measured by real capacity searches against calibration servers:
    ``base`` (a knee at 3 requests), ``more-slots`` (at 6) and ``slow`` (500 ms to the first
    token: nothing passes), plus one run of ``another-sweep`` in the same folder. Below its knee
    a server takes ~15 ms a request; a request beyond it waits 600 ms more. The limits (p95
    400 ms, p50 200 ms) are wide of both, so a busy machine (a client late by tens of ms) does
    not move a capacity."""

    results: Path
    sweep_id: str = "calsweep-0001"
    p95_ms: float = 400.0
    p50_ms: float = 200.0


def make_calibration_sweep(results: Path) -> CalibrationSweep:
    """The run folders of ``CalibrationSweep`` under ``results`` (about 25 s)."""
    found = CalibrationSweep(results)
    knee = {"knee_delay_ms": 600}
    _sweep_search(found, found.sweep_id, "base", {}, slots=3, **knee)
    _sweep_search(found, found.sweep_id, "more-slots", {"max_num_seqs": 6}, slots=6, **knee)
    _sweep_search(found, found.sweep_id, "slow", {"enforce_eager": True}, ttft_ms=500, **knee)
    _sweep_search(found, "another-sweep", "base", {}, top=1, **knee)
    return found


def make_quality_sweep(results: Path) -> CalibrationSweep:
    """One sweep's run folders whose settings differ in their answers (about 25 s):

    - ``base``: a knee at 2 requests, 4-6 tokens an answer; 80% of the checks file right;
    - ``fast-wrong``: no knee up to c4, 10-14 tokens an answer: the highest capacity and
      output tok/s; 10% right (as vLLM's CPU build answers in bfloat16);
    - ``same-answers``: a knee at 3, 7-9 tokens an answer (faster than the base, slower than
      fast-wrong); the base's answers exactly.

    A request takes about 10-20 ms below a knee and 300 ms more beyond it; the limits (p95
    400 ms, p50 200 ms) are wide of both, so a busy machine does not move a capacity. The
    tokens an answer keep the settings' order of output tok/s on a machine so busy that the
    client, not the knee, sets the requests/s.
    """
    found = CalibrationSweep(results, "qualsweep-0001", p95_ms=400.0, p50_ms=200.0)
    good, _ = scripted_answers(0.8)
    bad, _ = scripted_answers(0.1)
    # c1 is below every knee: skipped, to save seconds. A scripted answer ends with its request
    # ("stop"), its last token carrying the rest of its words, so few tokens never cut one.
    run = {"quality_concurrency": 2, "search": {"min_concurrency": 2}}
    common = {"top": 4, "ttft_ms": 5, "knee_delay_ms": 300, "run": run}
    _sweep_search(
        found,
        found.sweep_id,
        "base",
        {},
        slots=2,
        output_tokens_min=4,
        output_tokens_max=6,
        answers=good,
        **common,
    )
    _sweep_search(
        found,
        found.sweep_id,
        "fast-wrong",
        {"dtype": "bfloat16"},
        output_tokens_min=10,
        output_tokens_max=14,
        answers=bad,
        **common,
    )
    _sweep_search(
        found,
        found.sweep_id,
        "same-answers",
        {"max_num_seqs": 3},
        slots=3,
        output_tokens_min=7,
        output_tokens_max=9,
        answers=good,
        **common,
    )
    return found


def _sweep_search(
    sweep: CalibrationSweep,
    sweep_id: str,
    name: str,
    server: dict[str, Any],
    *,
    top: int = 8,
    run: dict[str, Any] | None = None,
    **config: Any,
) -> None:
    # Imported here: the search imports the server modules (half a second), unused elsewhere.
    from servegate.calibration.server import CalibrationServer
    from servegate.jobs.search import run_search

    settings = {
        "seed": 5,
        "ttft_ms": {"kind": "lognormal", "median": 8, "sigma": 0.3},
        "itl_ms": 1,
        "output_tokens_min": 4,
        "output_tokens_max": 8,
        "knee_delay_ms": 150,
        **config,
    }
    run = dict(run or {})
    search = {"p95_ms": sweep.p95_ms, "p50_ms": sweep.p50_ms, "max_requests": 120}
    search |= {"max_concurrency": top, **run.pop("search", {})}
    with CalibrationServer(CalibrationConfig.model_validate(settings)) as srv:
        run_search(
            {
                "base_url": srv.base_url,
                "model": CALIBRATION_MODEL,
                "results_dir": str(sweep.results),
                "max_tokens": 16,
                "run_label": f"cal-{name}",
                "warmup_requests": 0,
                "search": search,
                **run,
            },
            progress=False,
            tags={"sweep_id": sweep_id, "setting": {"name": name, "server": server}},
        )


# --- requests.csv rows made by hand ------------------------------------------------------------


def level_rows(
    level: str,
    e2e_ms: list[float],
    *,
    spacing_s: float,
    status: list[str] | None = None,
    input_tokens: int = 400,
    output_tokens: int = 100,
    run_id: str = "run-a",
) -> pd.DataFrame:
    """Rows of one closed-loop level: request i is due at i x spacing and ends one spacing later,
    so the makespan is n x spacing and the level runs n / (n x spacing) = 1 / spacing req/s."""
    n = len(e2e_ms)
    due = np.arange(n) * spacing_s
    return pd.DataFrame(
        {
            "run_id": run_id,
            "level": level,
            "concurrency": int(level[1:]),
            "request_rate": math.nan,
            "prompt_id": [f"p{i}" for i in range(n)],
            "status": status or ["ok"] * n,
            "ttft_ms": [e / 4 for e in e2e_ms],
            "e2e_ms": e2e_ms,
            "due_s": due,
            "end_s": due + spacing_s,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
        }
    )


# c4: 100 requests of 100 ms over 10 s -> 10 req/s, all within the SLO: goodput 10 req/s; p50
# and p95 are 100 ms with a zero-width interval, so both gates PASS.
# c16: 100 requests over 5 s -> 20 req/s; 90 at 2,000 ms and 10 at 5,000 ms: goodput 90 / 5 s =
# 18 req/s, but p50 = 2,000 ms > 1,000 ms (interval [2000, 2000]): the level FAILs the gates.
C4 = level_rows("c4", [100.0] * 100, spacing_s=0.1)
C16 = level_rows("c16", [2000.0] * 90 + [5000.0] * 10, spacing_s=0.05)
TWO_LEVELS = pd.concat([C4, C16], ignore_index=True)


def capacity_params(**over: Any) -> CapacityParams:
    """Capacity parameters for the hand-checked cases: peak 40 req/s, x1.5 growth, 25% headroom."""
    base: dict[str, Any] = {
        "peak_rps": 40.0,
        "growth_factor": 1.5,
        "headroom": 0.25,
        "peak_to_average": 4.0,
        "hourly_usd": 2.0,
        "hosted_input_usd_per_1m": 0.5,
        "hosted_output_usd_per_1m": 1.5,
    }
    return CapacityParams(**(base | over))


# --- figures -----------------------------------------------------------------------------------


def figure_texts(fig: Figure) -> str:
    """Every piece of text in the figure (titles, labels, legend, caption), `\\$` unescaped."""
    fig.draw_without_rendering()
    found = [t.get_text() for t in fig.findobj(Text)]
    return "\n".join(found).replace("\\$", "$")


def axes_titled(fig: Figure, start: str) -> Axes:
    """The one axes of ``fig`` whose title starts with ``start``."""
    matches = [ax for ax in fig.axes if ax.get_title().startswith(start)]
    assert len(matches) == 1, [ax.get_title() for ax in fig.axes]
    return matches[0]


def threshold_values(ax: Axes, axis: str) -> list[float]:
    """Where the threshold lines of ``ax`` cross ``axis`` ("x": vertical lines, "y": horizontal)."""
    lines = [line for line in ax.lines if line.get_gid() == "threshold"]
    data = [line.get_xdata() if axis == "x" else line.get_ydata() for line in lines]
    assert all(d[0] == d[1] for d in data)  # a straight vertical / horizontal line
    return sorted(float(d[0]) for d in data)


def is_message_figure(fig: Figure) -> bool:
    """Whether ``fig`` is a message in words (no axis drawn), as empty input gives."""
    return all(not ax.axison for ax in fig.axes)


# --- the report renderer -----------------------------------------------------------------------

#: The plotting line of the rendered test notebook: code that must never reach the report.
PLOT_CALL = "ax.plot([1, 2, 3], [3, 1, 2])"

# --- the real vLLM server (tests/integration) ---------------------------------------------------


def server_config(model: Path, log_dir: Path, **overrides: object) -> ServerConfig:
    """The test servers' settings: small KV cache, no progress bar, one warm-up request."""
    # Imported here: the server modules take half a second to import, and most tests never
    # start a server.
    from servegate.server.launch import ServerConfig

    settings: dict[str, object] = {
        "model": model,
        "log_path": log_dir / "vllm.log",
        "kv_cache_space_gib": 1,
        "max_model_len": 2048,
        "warmup_requests": 1,
        "progress": False,
    }
    settings.update(overrides)
    return ServerConfig.from_params(settings)
