"""How long vLLM usually takes to start on this machine, from the run folders already here.

A start bar that counts down the 600 s time-out reads as "9 minutes left" for a start that
usually takes 2; the median of the last few recorded starts of the same model is what a person
wants to compare the elapsed time with.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from servegate.core.names import RUN_JSON
from servegate.core.progress import format_duration

__all__ = ["usual_startup"]

#: The newest starts considered: the machine, model and vLLM version change over months.
RECENT = 5


def usual_startup(results_dir: str | Path, model: str) -> tuple[float | None, str]:
    """The median start time (s) of the newest recorded starts of ``model`` and a note saying
    so, e.g. ``(96.0, "usually ~1 min 36 s here, median of 5 earlier starts")``; ``(None,
    "no earlier start recorded here")`` when there is none.

    Reads only run.json files and skips anything it cannot read: this is a hint for a progress
    line, never a reason to stop a run.
    """
    folder = Path(results_dir)
    starts: list[tuple[float, float]] = []  # (ready_at, startup_s)
    for path in folder.glob(f"*/{RUN_JSON}") if folder.is_dir() else ():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            server = record.get("server") or {}
            name = (record.get("params") or {}).get("model")
            startup, ready = server.get("startup_s"), server.get("ready_at")
        except (OSError, ValueError, AttributeError):
            continue
        if name == model and isinstance(startup, int | float) and isinstance(ready, int | float):
            starts.append((float(ready), float(startup)))
    recent = [s for _, s in sorted(starts)[-RECENT:]]
    if not recent:
        return None, "no earlier start recorded here"
    usual = statistics.median(recent)
    count = "1 earlier start" if len(recent) == 1 else f"median of {len(recent)} earlier starts"
    return usual, f"usually ~{format_duration(usual)} here, {count}"
