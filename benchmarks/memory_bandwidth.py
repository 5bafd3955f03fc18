"""This machine's memory bandwidth and matrix-multiply rate: the CPU entry of data/hardware.yaml.

A CPU has no datasheet bandwidth that a 2-core virtual machine reaches, so servegate measures it:

- **bandwidth**: ``numpy.copyto`` between two arrays of ``--mib`` MiB each (far larger than the
  L3 cache, so every byte comes from DRAM), on 1 thread and on every usable core at once (one
  array pair per thread; numpy releases the GIL while it copies). A copy moves each byte twice
  (read, then write), so GB/s = 2 * bytes / seconds. Best of ``--repeats``: a busy neighbour
  only ever makes a pass slower, and the bound must not be below what vLLM can reach.
- **compute**: a square fp32 matmul in torch (``--n``), all usable threads, best of
  ``--repeats``, as TFLOP/s = 2 n^3 / seconds. Only prefill and large batches use it. fp32,
  not bf16: a CPU without AVX-512 BF16 (this one has AVX2) has no bf16 multiply, so bf16
  weights are multiplied in fp32, and torch's own bf16 fallback is some 30 times slower than
  that; the fp32 rate is what such a CPU can reach.

Reproduce: ``.venv/bin/python benchmarks/memory_bandwidth.py`` (seconds; run it when the
machine is quiet). It prints one markdown row for benchmarks/RESULTS.md and the figures for
data/hardware.yaml's ``cpu-this-machine`` entry.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import numpy as np


def _copy_gbps(mib: int, threads: int, repeats: int) -> float:
    n = mib * 2**20 // 8
    pairs = [(np.ones(n), np.zeros(n)) for _ in range(threads)]
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(lambda p: np.copyto(p[1], p[0]), pairs))
            best = min(best, time.perf_counter() - start)
    return 2 * threads * n * 8 / best / 1e9


def _matmul_tflops(n: int, dtype_name: str, repeats: int) -> float:
    import torch  # only here: the bandwidth needs numpy alone

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up: thread pool and kernels
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="MiB per array (>> L3 cache)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--n", type=int, default=2048, help="matmul size")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    one = _copy_gbps(args.mib, 1, args.repeats)
    every = _copy_gbps(args.mib, cores, args.repeats)
    fp32 = _matmul_tflops(args.n, "float32", args.repeats)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        "| measured | cpu | cores | copy GB/s, 1 thread | copy GB/s, all cores | "
        "fp32 matmul TFLOP/s |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {when} | {platform.processor() or platform.machine()} | {cores} | {one:.1f} | "
        f"{every:.1f} | {fp32:.3f} |"
    )
    print(f"\nhardware.yaml: memory_bandwidth_gbps: {max(one, every):.1f}  bf16_tflops: {fp32:.3f}")


if __name__ == "__main__":
    main()
