"""Start-failure classification: a vLLM log and exit code to a kind, with the evidence."""

from __future__ import annotations

import signal

import pytest

from servegate.server.failures import classify_start_failure


@pytest.mark.parametrize(
    ("log", "code", "kind", "evidence"),
    [
        (
            "INFO loading\nValueError: To serve at least one request with the models's max seq len "
            "(8192), (0.19 GiB KV cache is needed, which is larger than the available KV cache "
            "memory (0.01 GiB).\n",
            1,
            "oom",
            "larger than the available KV cache memory",
        ),
        (
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n",
            1,
            "oom",
            "CUDA out of memory",
        ),
        (
            "RuntimeError: [enforce fail] Cannot allocate memory\n",
            1,
            "oom",
            "Cannot allocate memory",
        ),
        (
            "(Worker pid=1) ERROR ValueError: Available memory on node 0 (8.23/10.84 GiB) on kv "
            "cache allocation is less than requested memory for kv (96.0 GiB). Decrease "
            "--kv-cache-memory-bytes, VLLM_CPU_KVCACHE_SPACE\n",
            1,
            "oom",
            "less than requested memory for kv (96.0 GiB)",
        ),
        ("INFO loading weights\n", -signal.SIGKILL, "oom", "OOM killer"),
        (
            "usage: api_server.py [-h]\napi_server.py: error: unrecognized arguments: --nope\n",
            2,
            "start_failed",
            "unrecognized arguments: --nope",
        ),
        ("", 1, "start_failed", "exit code 1, empty log"),
    ],
)
def test_start_failures_are_classified_with_evidence(
    log: str, code: int, kind: str, evidence: str
) -> None:
    failure = classify_start_failure(log, code)
    assert failure.kind == kind
    assert evidence in failure.evidence
