"""Why a vLLM server failed: classify its log and exit code, and say what to do about it."""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["OOM_ADVICE", "StartFailure", "classify_start_failure", "read_tail"]

OOM_ADVICE = (
    "lower max_model_len or max_num_seqs, give the KV cache less memory "
    "(kv_cache_space_gib on CPU, gpu_memory_utilization on GPU) or use a quantized model; "
    "see docs/runbook.md, section 'Out of memory'"
)

# Log lines by which vLLM (CPU and CUDA builds) and the kernel report a lack of memory.
_OOM_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"out of memory",
        r"OutOfMemoryError",
        r"Cannot allocate memory",
        r"std::bad_alloc",
        r"\bMemoryError\b",
        r"No available memory for the cache blocks",
        r"KV cache .*(too small|insufficient|not enough)",
        r"larger than the maximum number of tokens that can be stored in KV cache",
        r"(not|in)sufficient (memory|KV cache)",
        r"exceeds the available (memory|KV cache)",
        r"available KV cache memory",
        r"less than requested memory for kv",
    )
]
_ERROR_LINE = re.compile(r"(Error|Exception|error:|Traceback|FATAL|CRITICAL)")


@dataclass(frozen=True)
class StartFailure:
    """Why a server did not come up: ``kind`` (oom, start_failed) and the log line that shows it."""

    kind: Literal["oom", "start_failed"]
    evidence: str


def classify_start_failure(log_text: str, returncode: int | None) -> StartFailure:
    """Classify a server that exited during start-up from its log and exit code.

    Memory patterns win over everything else, then the kernel's OOM killer (SIGKILL), then
    the last error-looking line of the log.
    """
    lines = log_text.splitlines()
    for line in lines:
        if any(p.search(line) for p in _OOM_PATTERNS):
            return StartFailure("oom", line.strip())
    if returncode == -signal.SIGKILL:
        return StartFailure(
            "oom", "killed by SIGKILL, which is how the kernel's OOM killer ends a process"
        )
    errors = [line.strip() for line in lines if _ERROR_LINE.search(line)]
    if errors:
        return StartFailure("start_failed", errors[-1])
    tail = [line.strip() for line in lines if line.strip()]
    return StartFailure("start_failed", tail[-1] if tail else f"exit code {returncode}, empty log")


def read_tail(path: Path, max_lines: int = 40) -> str:
    """The last ``max_lines`` lines of a log file; "" when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-max_lines:])
    except OSError:
        return ""
