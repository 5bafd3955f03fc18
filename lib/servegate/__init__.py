"""servegate: evidence for the decision to self-host an LLM with vLLM or keep a hosted API.

The saved data as typed pandas frames, for a notebook or a script::

    from servegate import read_history, read_run
    history = read_history()  # eval/reports/aggregate_history.csv
    run = read_run("eval/results/<run_id>")  # run.requests, run.levels

They are imported on first use (``__getattr__``, PEP 562), so ``import servegate`` stays cheap
(no pandas). This facade is the one place a lower module names higher layers, and only lazily
(tests/unit/test_architecture.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from servegate.core.errors import ServegateError

if TYPE_CHECKING:
    from servegate.history.read import read_history
    from servegate.runs.typed import RunFrames, read_run

__all__ = ["RunFrames", "ServegateError", "__version__", "read_history", "read_run"]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy: the readers (and pandas) load only when they are asked for.
    if name == "read_history":
        from servegate.history.read import read_history

        return read_history
    if name in ("read_run", "RunFrames"):
        from servegate.runs import typed

        return getattr(typed, name)
    raise AttributeError(f"module 'servegate' has no attribute {name!r}")
