"""What vLLM's memory flags trade on the embedded default: start, memory, throughput, latency.

For each setting below, starts the real vLLM CPU server with the embedded SmolLM2 model, sends
the same closed-loop load (the first ``--prompts`` prompts of the interactive set, answers capped
at 32 tokens, ``--concurrency`` streams), polls ``/metrics`` once a second for the peaks of KV
cache use, running and waiting requests, samples the resident memory of the server's process
tree, and stops it. A setting that fails to start is a result too (its error is printed).

Usage: python benchmarks/memory_flags.py [--only NAME ...] [--prompts 64] [--concurrency 16]
       [--out FILE]
The runbook's OOM section (docs/runbook.md) quotes what this printed; run it on an idle machine:
every setting takes 1.5-2 minutes (most of it vLLM's start).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from servegate.core.environment import cpu_model
from servegate.core.errors import ServerError
from servegate.measure.eventloop import run_async
from servegate.measure.loadgen import ChatTarget, LevelSpec, LoadGenerator
from servegate.measure.prompts import load_prompts
from servegate.server.lifecycle import ServerConfig, VLLMServer

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "data/models/smollm2-135m-instruct"
PROMPTS = REPO / "data/prompts/interactive_v1.jsonl"
BASE = {
    "model": str(MODEL),
    "served_model_name": "smollm2",
    "dtype": "float32",
    "max_model_len": 2048,
    "kv_cache_space_gib": 2,
    "env": {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"},
    "warmup_requests": 2,
    "progress": False,
    "startup_timeout_s": 600,
}
#: name -> the settings that differ from BASE (the embedded default's params/cpu_default.yaml).
SETTINGS: dict[str, dict[str, Any]] = {
    "default (kv 2 GiB)": {},
    # VLLM_CPU_KVCACHE_SPACE takes whole GiB ("0.1" fails vLLM's start); less goes by bytes.
    "kv 128 MiB": {
        "kv_cache_space_gib": None,
        "extra_args": ["--kv-cache-memory-bytes", "134217728"],
    },
    "max_num_seqs 4": {"max_num_seqs": 4},
    "max_model_len 512": {"max_model_len": 512},
    "kv_cache_dtype fp8": {"extra_args": ["--kv-cache-dtype", "fp8"]},
    "enforce_eager": {"enforce_eager": True},
}
GAUGES = ("vllm:kv_cache_usage_perc", "vllm:num_requests_running", "vllm:num_requests_waiting")


class Sampler(threading.Thread):
    """Peaks of the server's gauges (from /metrics) and of its process tree's memory."""

    def __init__(self, server: VLLMServer) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.stop = threading.Event()
        self.peaks: dict[str, float] = dict.fromkeys((*GAUGES, "rss_gib"), 0.0)

    def rss_gib(self) -> float:
        assert self.server.process is not None
        root = psutil.Process(self.server.process.pid)
        total = 0
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a child may exit between list and read
                total += proc.memory_info().rss
        return total / (1 << 30)

    def run(self) -> None:
        while not self.stop.wait(1.0):
            snap = self.server.metrics_snapshot()
            for name in GAUGES:
                value = snap.get(name) if snap is not None else None
                if value is not None:
                    self.peaks[name] = max(self.peaks[name], value)
            self.peaks["rss_gib"] = max(self.peaks["rss_gib"], self.rss_gib())


def kv_tokens(log_path: Path) -> int | None:
    for line in log_path.read_text(errors="replace").splitlines():
        if "KV cache size:" in line:
            text = line.split("KV cache size:")[1].split("tokens")[0]
            return int(text.replace(",", "").strip())
    return None


def measure(name: str, overrides: dict[str, Any], n: int, concurrency: int, logs: Path) -> dict:
    settings = {**BASE, **overrides, "log_path": str(logs / f"{name.replace(' ', '_')}.log")}
    config = ServerConfig.from_params(settings)
    result: dict[str, Any] = {"setting": name, "overrides": overrides}
    server = VLLMServer(config)
    try:
        server.start()
    except ServerError as exc:
        server.stop()
        result["error"] = str(exc).splitlines()[0][:300]
        result["error_kind"] = exc.kind
        return result
    try:
        result["startup_s"] = server.story()["startup_s"]
        result["kv_cache_tokens"] = kv_tokens(Path(config.log_path))
        before = server.metrics_snapshot()
        sampler = Sampler(server)
        sampler.start()
        target = ChatTarget(base_url=server.base_url, model="smollm2", backend="vllm")
        gen = LoadGenerator(target, run_id=name, max_tokens_cap=32, timeout_s=300, progress=False)
        spec = LevelSpec(prompts=load_prompts(PROMPTS).take(n), concurrency=concurrency)
        level = run_async(lambda abort: gen.run_level(spec, abort))
        sampler.stop.set()
        sampler.join()
        after = server.metrics_snapshot()
        ok = [r for r in level.records if r.status == "ok"]
        e2e = np.array([r.e2e_ms for r in ok])
        tokens = sum(r.output_tokens or 0 for r in ok)
        result.update(
            n=len(level.records),
            n_ok=len(ok),
            errors=sorted({r.error[:120] for r in level.records if r.status != "ok"})[:3],
            output_tok_per_s=tokens / level.duration_s,
            e2e_p50_ms=float(np.percentile(e2e, 50)) if len(e2e) else None,
            e2e_p95_ms=float(np.percentile(e2e, 95)) if len(e2e) else None,
            preemptions=after.delta(before, "vllm:num_preemptions_total")
            if after and before
            else None,
            peak_kv_cache_usage=sampler.peaks["vllm:kv_cache_usage_perc"],
            peak_running=sampler.peaks["vllm:num_requests_running"],
            peak_waiting=sampler.peaks["vllm:num_requests_waiting"],
            peak_rss_gib=sampler.peaks["rss_gib"],
        )
    finally:
        server.stop()
    return result


def line(r: dict) -> str:
    if "error" in r:
        return f"| {r['setting']} | did not start ({r['error_kind']}): {r['error'][:160]} |"

    def ms(v: float | None) -> str:
        return "—" if v is None else f"{v / 1000:.2f} s"

    return (
        f"| {r['setting']} | {r['startup_s']:.0f} s | {r['kv_cache_tokens']:,} | "
        f"{r['peak_rss_gib']:.2f} GiB | {r['n_ok']}/{r['n']} | {r['output_tok_per_s']:.1f} | "
        f"{ms(r['e2e_p50_ms'])} / {ms(r['e2e_p95_ms'])} | {r['preemptions']:g} | "
        f"{r['peak_kv_cache_usage']:.0%} | {r['peak_running']:g} / {r['peak_waiting']:g} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, choices=list(SETTINGS))
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args()
    logs = REPO / "logs/memory_flags"
    logs.mkdir(parents=True, exist_ok=True)
    print(
        f"# memory flags, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu_model()}, "
        f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / (1 << 30):.1f} GiB, "
        f"Python {platform.python_version()}; {args.prompts} prompts at concurrency "
        f"{args.concurrency}, answers capped at 32 tokens"
    )
    print(
        "| setting | start | KV cache tokens | peak RSS (server tree) | ok | output tok/s | "
        "e2e p50 / p95 | preemptions | peak KV use | peak running / waiting |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    results = []
    for name in args.only or SETTINGS:
        t0 = time.monotonic()
        r = measure(name, SETTINGS[name], args.prompts, args.concurrency, logs)
        r["wall_s"] = time.monotonic() - t0
        results.append(r)
        print(line(r), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
