"""One client run for harness_fidelity.py, in its own process: servegate's or vLLM's benchmark.

Writes per-request TTFT and end-to-end latency (ms), the failure count, the wall-clock window
of the measured requests, and the CPU seconds this process spent while streaming them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def run_servegate(args: argparse.Namespace) -> dict:
    from servegate.measure.eventloop import run_async
    from servegate.measure.loadgen import ChatTarget, LevelSpec, LoadGenerator
    from servegate.measure.prompts import Message, Prompt

    prompts = [
        Prompt(
            id=f"f{i}",
            category="fidelity",
            messages=[Message(role="user", content=f"Tell me about item {i}.")],
            max_tokens=128,
        )
        for i in range(args.n)
    ]
    target = ChatTarget(base_url=f"{args.base_url}/v1", model="calibration", backend="vllm")
    gen = LoadGenerator(target, run_id="fidelity", timeout_s=120, progress=False)
    spec = LevelSpec(prompts=prompts, concurrency=args.streams)
    # The same path as a real run: a private (uv)loop in a worker thread. The CPU figure
    # includes the connection warm-up (one tiny request per stream), so it is conservative.
    cpu0 = time.process_time()
    result = run_async(lambda abort: gen.run_level(spec, abort))
    cpu1 = time.process_time()
    ok = [r for r in result.records if r.status == "ok"]
    return {
        "ttft_ms": [r.ttft_ms for r in ok],
        "e2e_ms": [r.e2e_ms for r in ok],
        "failed": len(result.records) - len(ok),
        "cpu_s": cpu1 - cpu0,
        "measure_start_unix": result.started_unix,
        "measure_end_unix": result.started_unix + result.duration_s,
    }


def run_vllm_bench(args: argparse.Namespace) -> dict:
    from vllm.benchmarks import serve
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser()
    serve.add_cli_args(parser)
    bench_args = parser.parse_args(
        [
            "--backend",
            "openai-chat",
            "--base-url",
            args.base_url,
            "--endpoint",
            "/v1/chat/completions",
            "--model",
            "calibration",
            "--tokenizer",
            args.tokenizer,
            "--dataset-name",
            "random",
            "--random-input-len",
            "16",
            "--random-output-len",
            "128",
            "--num-prompts",
            str(args.n),
            "--max-concurrency",
            str(args.streams),
            "--request-rate",
            "inf",
            "--num-warmups",
            "0",
            "--ready-check-timeout-sec",
            "0",
            "--disable-tqdm",
            "--save-detailed",
            "--seed",
            "1",
        ]
    )
    # CPU is counted from the first request to the last answer, leaving out the dataset build.
    original = serve.ASYNC_REQUEST_FUNCS["openai-chat"]
    marks: dict[str, float] = {}

    async def timed(*a, **kw):
        marks.setdefault("cpu0", time.process_time())
        marks.setdefault("start", time.time())
        out = await original(*a, **kw)
        marks["cpu1"] = time.process_time()
        marks["end"] = time.time()
        return out

    serve.ASYNC_REQUEST_FUNCS["openai-chat"] = timed
    result = serve.main(bench_args)
    ok = [i for i, e in enumerate(result["errors"]) if not e]
    return {
        "ttft_ms": [result["ttfts"][i] * 1000 for i in ok],
        "e2e_ms": [result["latencies"][i] * 1000 for i in ok],
        "failed": len(result["errors"]) - len(ok),
        "cpu_s": marks["cpu1"] - marks["cpu0"],
        "measure_start_unix": marks["start"] - 0.001,
        "measure_end_unix": marks["end"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["servegate", "vllm-bench"])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    data = run_servegate(args) if args.kind == "servegate" else run_vllm_bench(args)
    args.out.write_text(json.dumps(data))


if __name__ == "__main__":
    main()
