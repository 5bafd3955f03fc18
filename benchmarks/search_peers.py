"""Run the capacity searches of two peer tools, GuideLLM and NVIDIA AIPerf, from Python.

Each tool runs as a subprocess of its own throwaway virtual environment (``ensure_venv``:
``~/.cache/servegate-bench/venvs/<tool>-<version>``, made once with pip from PyPI, then reused),
against an OpenAI-compatible streaming chat endpoint, and searches for the highest closed-loop
concurrency whose end-to-end latency meets ``p95 <= p95_ms`` and ``p50 <= p50_ms``. What each
search found is read from the tool's own output files, never from its console:

- GuideLLM 0.8.1, ``--profile kind=goodput``: doubles concurrency from ``initial_streams`` until
  a level misses its objectives, then bisects until the bracket is within ``tolerance`` (10 %).
  A level passes when its SLO attainment (the share of requests meeting every per-request
  objective) is >= ``target_attainment`` (0.95), so ``e2el_ms=p95_ms`` with the default target
  *is* "p95 <= p95_ms". One attainment target per run: the p50 objective cannot be expressed
  alongside it and is dropped (the result's note says so). A 95 % Wilson interval flags probes
  too short to decide. The goodput profile has no per-probe length of its own (synthetic data
  never runs out, so a probe without a constraint never ends); ``probe_seconds`` is GuideLLM's
  ``max_duration`` constraint, 30 s by default, the shortest its docs show.
  Source: guidellm/benchmark/profiles/goodput.py, schemas/benchmark/profiles/goodput.py.
- AIPerf 0.13.0, ``--search-planner monotonic_sla`` over ``phases.profiling.concurrency``: the
  ``max-concurrency-under-sla`` recipe's ``monotonic`` style (doubling from the low bound until
  a level fails, then bisection until the bracket is within 5 %, at most 20 iterations), with
  our own SLA filters (``request_latency:p95:le``, ``request_latency:p50:le``), since the
  recipe's ``--e2e-sla-ms`` means p99. Every level is run until two trials agree (its
  ``monotonic_stability_trials`` default of 2), each trial a separate ``aiperf`` benchmark.
  AIPerf's default probe is 10 requests whatever the concurrency (so a level above 10 never
  reaches its concurrency); ``request_count`` defaults here to 300, the "coarse" request count
  AIPerf's own SLA planners use (``SLA_PRECISION_REQUESTS``). Pass ``request_count=None`` for
  the tool's default. Source: aiperf/orchestrator/search_planner/monotonic.py,
  aiperf/search_recipes/_max_concurrency_under_sla.py, aiperf/config/flags/_converter_profiling.py.

Neither tool needs the internet: both get a local tokenizer folder (``data/models/...``, from
``make model``), and GuideLLM runs with Hugging Face set offline (AIPerf cannot: see
``run_aiperf``). GuideLLM needs torch; ``ensure_venv`` installs ``torch==2.13.0`` first so that pip
does not pull a CUDA build with ~3 GB of NVIDIA wheels (on a machine without a local CPU wheel,
set ``PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu``).

Usage: python benchmarks/search_peers.py [--slots 3 12 40] [--tools guidellm aiperf]
       [--workdir DIR] [--guidellm-probe-seconds 30] [--aiperf-request-count 300 | 0]
It starts one knee calibration server per tool and K (``--slots K``: the right answer is K),
and prints, per run, the highest passing concurrency each tool reported, the requests it
counted and the requests the server saw (and how many of those met the knee), and the wall
time. A tool that fails levels no request of which met the knee was measuring its own client:
on a 2-core machine both tools' clients saturate near 60-90 requests/s, below what K=40 needs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from servegate.calibration.script import CalibrationConfig

REPO = Path(__file__).resolve().parents[1]
TOKENIZER = REPO / "data/models/smollm2-135m-instruct"
CACHE = Path(os.environ.get("SERVEGATE_BENCH_CACHE", "~/.cache/servegate-bench")).expanduser()

#: The versions this module was written against; their flags and output files differ by version.
VERSIONS = {"guidellm": "0.8.1", "aiperf": "0.13.0"}
# Installed before the tool itself: GuideLLM requires torch (its data loader), and an unpinned
# torch resolves to a CUDA build. 2.13.0 is the CPU wheel this machine's pip finds locally.
_PREINSTALL = {"guidellm": ["torch==2.13.0"]}

PROMPT_TOKENS = 16
# A cap, not a target: the calibration server answers 4-12 tokens, so max_tokens=16 never binds
# and each tool sees the same scripted answers.
OUTPUT_TOKENS = 16


@dataclass
class PeerResult:
    """What one peer tool's search reported, as its own output files say."""

    tool: str
    version: str
    highest_passing: int | None  # the tool's answer; None: no level passed (or no answer)
    requests_sent: int | None  # as counted by the tool (completed + errored + cancelled)
    wall_s: float
    settings: str  # the flags that shaped the search, defaults named
    note: str  # stop reason, the probes (concurrency:P/F), anything the tool flagged


def knee_server(slots: int) -> CalibrationConfig:
    """The knee server of the search benchmarks: answers in about 60-120 ms while at most
    ``slots`` requests are in flight, 500 ms more for each request beyond them."""
    return CalibrationConfig(
        seed=1,
        ttft_ms={"kind": "lognormal", "median": 40, "sigma": 0.3},
        itl_ms=5,
        output_tokens_min=4,
        output_tokens_max=12,
        slots=slots,
        knee_delay_ms=500,
    )


def ensure_venv(tool: str, version: str) -> Path:
    """The throwaway venv holding ``tool==version`` (made with pip if absent); its root path.

    :raises subprocess.CalledProcessError: pip failed (its output went to ``install.log``).
    """
    venv = CACHE / "venvs" / f"{tool}-{version}"
    python = venv / "bin" / "python"
    if (venv / "bin" / tool).exists() and _installed_version(python, tool) == version:
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    # --clear: a half-made venv from an interrupted install must not be reused.
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    log = venv / "install.log"
    started = time.monotonic()
    with open(log, "w", encoding="utf-8") as fh:
        for packages in (_PREINSTALL.get(tool, []), [f"{tool}=={version}"]):
            if packages:
                cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
                subprocess.run([*cmd, *packages], check=True, stdout=fh, stderr=subprocess.STDOUT)
        fh.write(f"installed in {time.monotonic() - started:.0f} s\n")
    return venv


def _installed_version(python: Path, dist: str) -> str | None:
    if not python.exists():
        return None
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def _tool_env(*, hf_offline: bool) -> dict[str, str]:
    """The tools' environment: no colours in their logs; Hugging Face offline if asked."""
    env = dict(os.environ)
    env.update(NO_COLOR="1", TERM="dumb")
    if hf_offline:
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def _check_tokenizer(tokenizer: Path) -> None:
    """Fail before a tool starts: given a missing folder, both tools try the Hugging Face Hub."""
    if not (tokenizer / "tokenizer.json").exists():
        raise FileNotFoundError(
            f"no tokenizer at {tokenizer}; run `make model` (it fetches {TOKENIZER.name}) "
            "or pass a local tokenizer folder"
        )


def _root(base_url: str) -> str:
    """``http://host:port`` from an OpenAI base URL: both tools add the ``/v1/...`` route."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def _run(cmd: list[str], workdir: Path, timeout_s: float, *, hf_offline: bool = True) -> float:
    """Run a tool to completion, its console in ``workdir/console.log``; its wall seconds.

    :raises RuntimeError: the tool failed (the log's tail attached).
    """
    log = workdir / "console.log"
    started = time.monotonic()
    with open(log, "w", encoding="utf-8") as fh:
        code = subprocess.run(
            cmd,
            cwd=workdir,
            env=_tool_env(hf_offline=hf_offline),
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout_s,
        ).returncode
    wall = time.monotonic() - started
    if code != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:])
        raise RuntimeError(f"{cmd[0]} exited with {code} after {wall:.0f} s; {log} ends:\n{tail}")
    return wall


def run_guidellm(
    base_url: str,
    model: str,
    *,
    p95_ms: float,
    p50_ms: float,
    max_concurrency: int,
    workdir: Path,
    min_concurrency: int = 1,
    probe_seconds: float = 30.0,
    tokenizer: Path = TOKENIZER,
    timeout_s: float = 3600.0,
) -> PeerResult:
    """GuideLLM's goodput search; ``highest_passing`` is its ``best_passing_streams``."""
    _check_tokenizer(tokenizer)
    version = VERSIONS["guidellm"]
    exe = ensure_venv("guidellm", version) / "bin" / "guidellm"
    workdir.mkdir(parents=True, exist_ok=True)
    report = workdir / "benchmarks.json"
    profile = f"kind=goodput,initial_streams={min_concurrency},max_streams={max_concurrency}"
    data = f"kind=synthetic_text,prompt_tokens={PROMPT_TOKENS},output_tokens={OUTPUT_TOKENS}"
    # Only the p95 bound fits: attainment >= 0.95 of requests with e2e <= p95_ms.
    metrics = json.dumps({"kind": "generative", "slo": {"e2el_ms": p95_ms}})
    duration = f"kind=max_duration,seconds={probe_seconds:g}"
    cmd = [
        str(exe), "run",
        "--backend", f"kind=openai_http,target={_root(base_url)},model={model}",
        "--profile", profile,
        "--data", data,
        "--tokenizer", f"kind=huggingface_auto,model={tokenizer}",
        "--metrics", metrics,
        "--constraint", duration,
        "--output", f"kind=json,path={report}",
        "--disable-console-interactive",
    ]  # fmt: skip
    wall = _run(cmd, workdir, timeout_s)
    doc = json.loads(report.read_text())
    search = next(c for c in doc["conclusions"] if "best_passing_streams" in c)
    sent = sum(b["scheduler_metrics"]["requests_made"]["total"] for b in doc["benchmarks"])
    probes = " ".join(
        f"{p['streams']}:{'P' if p['passed'] else 'F'}{'' if p['resolved'] else '?'}"
        for p in search["probes"]
    )
    unresolved = [p["streams"] for p in search["probes"] if not p["resolved"]]
    note = f"stop={search['stop_reason']}; probes {probes}"
    if unresolved:
        note += f"; unresolved (Wilson interval straddles 0.95) at {unresolved}"
    note += f"; p50 <= {p50_ms:g} ms not expressible (one attainment target per run)"
    settings = (
        f"--profile {profile} (defaults: target_attainment=0.95, tolerance=0.1, "
        f"max_probes=15, confidence=0.95) --metrics slo.e2el_ms={p95_ms:g} "
        f"--constraint {duration} --data {data}"
    )
    return PeerResult(
        "guidellm", version, search["best_passing_streams"], sent, wall, settings, note
    )


def run_aiperf(
    base_url: str,
    model: str,
    *,
    p95_ms: float,
    p50_ms: float,
    max_concurrency: int,
    workdir: Path,
    min_concurrency: int = 1,
    request_count: int | None = 300,
    max_iterations: int = 20,
    tokenizer: Path = TOKENIZER,
    timeout_s: float = 3600.0,
) -> PeerResult:
    """AIPerf's monotonic SLA search; ``highest_passing`` is its ``feasible_max``.

    ``request_count``: requests per trial (None: AIPerf's default, 10 at every concurrency).
    ``max_iterations``: trials in all, 20 as in the recipe's monotonic style.
    """
    _check_tokenizer(tokenizer)
    version = VERSIONS["aiperf"]
    exe = ensure_venv("aiperf", version) / "bin" / "aiperf"
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "artifacts"
    space = f"phases.profiling.concurrency:{min_concurrency},{max_concurrency}:int"
    slas = [f"request_latency:p95:le:{p95_ms:g}", f"request_latency:p50:le:{p50_ms:g}"]
    search = [
        "--search-space", space,
        "--search-planner", "monotonic_sla",
        # Required with --search-space; the planner records but never uses the objective.
        "--search-metric", "output_token_throughput",
        "--search-direction", "maximize",
        "--search-max-iterations", str(max_iterations),
        *(arg for sla in slas for arg in ("--search-sla", sla)),
    ]  # fmt: skip
    length = [] if request_count is None else ["--request-count", str(request_count)]
    cmd = [
        str(exe), "profile",
        "--model", model,
        "--url", _root(base_url),
        "--endpoint-type", "chat",
        "--streaming",
        "--tokenizer", str(tokenizer),  # `builtin` (tiktoken) would download its vocabulary
        "--isl", str(PROMPT_TOKENS),
        "--osl", str(OUTPUT_TOKENS),
        *length,
        *search,
        "--artifact-dir", str(out),
        "--ui", "none",
    ]  # fmt: skip
    # Not offline: AIPerf 0.13.0 under HF_HUB_OFFLINE looks a local tokenizer folder up as a
    # Hub repo id and fails (common/tokenizer.py, _resolve_local_snapshot). A folder needs no Hub.
    wall = _run(cmd, workdir, timeout_s, hf_offline=False)
    history = json.loads((out / "search_history.json").read_text())
    feasible = (history.get("boundary_summary") or {}).get("feasible_max")
    sent = 0
    for export in out.glob("search_iter_*/profile_runs/*/profile_export_aiperf.json"):
        # completed_request_count: successes + errors (request_count is successes only).
        sent += int(json.loads(export.read_text())["completed_request_count"]["avg"])
    probes = " ".join(
        f"{it['variation_values']['phases.profiling.concurrency']}:{'P' if it['feasible'] else 'F'}"
        for it in history["iterations"]
    )
    note = f"stop={history['convergence_reason']}; trials {probes}"
    settings = (
        f"--search-space {space} --search-planner monotonic_sla --search-max-iterations "
        f"{max_iterations} --search-sla {' --search-sla '.join(slas)} "
        f"--request-count {request_count if request_count is not None else '(default: 10)'} "
        f"--isl {PROMPT_TOKENS} --osl {OUTPUT_TOKENS} (defaults: stability trials 2, "
        "precision 5%)"
    )
    highest = feasible["value"] if feasible else None
    return PeerResult("aiperf", version, highest, sent, wall, settings, note)


def main() -> None:
    from servegate.calibration.server import CalibrationServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, nargs="+", default=[3, 12, 40], help="knees K")
    parser.add_argument("--tools", nargs="+", default=["guidellm", "aiperf"], choices=VERSIONS)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary dir")
    parser.add_argument("--p95-ms", type=float, default=300.0)
    parser.add_argument("--p50-ms", type=float, default=150.0)
    parser.add_argument("--max-concurrency", type=int, default=256)
    parser.add_argument("--tokenizer", type=Path, default=TOKENIZER, help="a local folder")
    parser.add_argument("--guidellm-probe-seconds", type=float, default=30.0)
    parser.add_argument(
        "--aiperf-request-count", type=int, default=300, help="per trial; 0: AIPerf's default"
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="servegate-peers-"))
    tool_args: dict[str, dict] = {
        "guidellm": {"probe_seconds": args.guidellm_probe_seconds, "tokenizer": args.tokenizer},
        "aiperf": {"request_count": args.aiperf_request_count or None, "tokenizer": args.tokenizer},
    }
    rows: list[dict] = []
    for slots in args.slots:
        for tool in args.tools:
            run_dir = workdir / f"{tool}-k{slots}"
            run_dir.mkdir(parents=True, exist_ok=True)
            config = knee_server(slots)
            # A fresh server per run: its truth log counts this run's requests alone.
            with CalibrationServer(config, truth_path=run_dir / "truth.jsonl") as server:
                result = (run_guidellm if tool == "guidellm" else run_aiperf)(
                    server.base_url,
                    config.model,
                    p95_ms=args.p95_ms,
                    p50_ms=args.p50_ms,
                    max_concurrency=args.max_concurrency,
                    workdir=run_dir,
                    **tool_args[tool],
                )
                time.sleep(0.5)  # let the last truth rows land
                truth = server.truth()
            knee = sum(1 for row in truth if row["knee_delay_ms"] > 0)
            rows.append(
                {"slots": slots, **asdict(result), "server_requests": len(truth), "knee_hits": knee}
            )
            print(json.dumps(rows[-1]), flush=True)
    (workdir / "results.json").write_text(json.dumps(rows, indent=1))
    print(f"\nresults and each tool's files: {workdir}\n")
    print(
        "| K | tool | highest passing | requests (tool) | requests (server) "
        "| of which met the knee | wall s | note |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['slots']} | {r['tool']} {r['version']} | {r['highest_passing']} "
            f"| {r['requests_sent']} | {r['server_requests']} | {r['knee_hits']} "
            f"| {r['wall_s']:.0f} | {r['note']} |"
        )


if __name__ == "__main__":
    main()
