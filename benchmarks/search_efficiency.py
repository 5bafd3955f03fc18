"""How exact and how economical is servegate's capacity search? Against known knees, side by side
with GuideLLM's and AIPerf's searches on the same server.

The server is servegate's calibration server scripted with a capacity knee: at most K requests
in flight are answered in about 60-120 ms (TTFT lognormal around 40 ms, 4-12 tokens 5 ms
apart); a request that arrives while K others are in flight waits 500 ms more. With the limits
p95 <= 300 ms and p50 <= 150 ms (end to end), the right answer is exactly K.

For each K (3, 12, 40 by default) and each tool, on a fresh server: the highest passing
concurrency the tool reports, the requests it sent (measured ones, and every request the
server saw, warm-ups included, from the server's truth log) and its wall time. servegate's
row also gives the requests of a fixed grid of the same levels at ``max_requests`` each, the
bar it must halve. The peers run from throwaway virtual environments
(``benchmarks/search_peers.py``); ``--no-peers`` runs servegate alone.

    .venv/bin/python benchmarks/search_efficiency.py            # K = 3, 12, 40; all tools
    .venv/bin/python benchmarks/search_efficiency.py --knees 12 --no-peers

Prints a Markdown table (recorded in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from search_peers import knee_server  # the one knee server both benchmarks use

from servegate.calibration.server import CalibrationServer
from servegate.jobs.search import run_search

P95_MS, P50_MS = 300.0, 150.0
MAX_CONCURRENCY = 256


@dataclass(frozen=True)
class Row:
    tool: str
    knee: int
    highest_passing: int | None
    measured: int | None  # requests the tool counts as its measurement
    seen: int  # every request the server answered, warm-ups included
    wall_s: float
    note: str = ""


def run_servegate(knee: int, workdir: Path) -> tuple[Row, int]:
    """servegate's search on a fresh knee server; also the fixed grid's request count."""
    truth = workdir / f"truth-servegate-{knee}.jsonl"
    with CalibrationServer(knee_server(knee), truth_path=truth) as server:
        started = time.perf_counter()
        result = run_search(
            {
                "base_url": server.base_url,
                "model": "calibration",
                "max_tokens": 16,
                "results_dir": str(workdir / "results"),
                "run_label": f"knee{knee}",
                "search": {"p95_ms": P95_MS, "p50_ms": P50_MS, "max_concurrency": MAX_CONCURRENCY},
            },
            progress=False,
        )
        wall = time.perf_counter() - started
        seen = len(server.truth())
    found = result.search
    assert found is not None
    grid = len(found.levels) * found.limits.max_requests
    row = Row(
        "servegate",
        knee,
        found.max_passing_concurrency,
        found.requests_sent,
        seen,
        wall,
        f"{len(found.levels)} levels; looks at {found.limits.looks}",
    )
    return row, grid


def run_peer(tool: str, knee: int, workdir: Path) -> Row:
    import search_peers  # benchmarks/search_peers.py: the peers' own runners (lazily: their venvs)

    runner = {"guidellm": search_peers.run_guidellm, "aiperf": search_peers.run_aiperf}[tool]
    truth = workdir / f"truth-{tool}-{knee}.jsonl"
    with CalibrationServer(knee_server(knee), truth_path=truth) as server:
        started = time.perf_counter()
        peer = runner(
            server.base_url,
            "calibration",
            p95_ms=P95_MS,
            p50_ms=P50_MS,
            max_concurrency=MAX_CONCURRENCY,
            workdir=workdir / f"{tool}-{knee}",
        )
        wall = time.perf_counter() - started
        seen = len(server.truth())
    return Row(tool, knee, peer.highest_passing, peer.requests_sent, seen, wall, peer.note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knees", type=int, nargs="+", default=[3, 12, 40])
    parser.add_argument("--no-peers", action="store_true", help="servegate only")
    parser.add_argument("--tools", nargs="+", default=["guidellm", "aiperf"])
    args = parser.parse_args(argv)
    rows: list[Row] = []
    grids: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="servegate-search-bench-") as tmp:
        workdir = Path(tmp)
        for knee in args.knees:
            row, grids[knee] = run_servegate(knee, workdir)
            rows.append(row)
            print(f"servegate K={knee}: {row}", file=sys.stderr, flush=True)
            for tool in [] if args.no_peers else args.tools:
                try:
                    rows.append(run_peer(tool, knee, workdir))
                except Exception as exc:  # a peer that breaks is a row that says so
                    rows.append(Row(tool, knee, None, None, 0, 0.0, f"failed: {exc}"[:200]))
                print(f"{tool} K={knee}: {rows[-1]}", file=sys.stderr, flush=True)
    print(
        "| K | tool | highest passing | exact | requests measured | requests seen by the "
        "server | fixed grid | wall s | note |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        grid = str(grids[r.knee]) if r.tool == "servegate" else ""
        exact = "yes" if r.highest_passing == r.knee else "no"
        print(
            f"| {r.knee} | {r.tool} | {r.highest_passing} | {exact} | {r.measured} | {r.seen} | "
            f"{grid} | {r.wall_s:.1f} | {r.note} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
