"""The physical limits of the 24 GB GPU experiment (params/gpu_24gb.yaml) on each 24 GB option.

For the experiment's model and quantization (Llama-3.1-8B-Instruct, AWQ INT4) at its gate
concurrency (16), over the prompt set (data/prompts/interactive_v1.jsonl, each answer at its
max_tokens cap, as the experiment sends it): the lower bounds on end-to-end p50 and p95, whether
p50 <= 1 s and p95 <= 3 s are reachable at the physical limit and at 50% of it, and the
efficiency at which each would pass. Prompt tokens are counted with the embedded model's
tokenizer and chat template when its folder is built (make model), else estimated.

Reproduce: ``.venv/bin/python benchmarks/limits_table.py [--concurrency 16] [--quant awq]``
(seconds; no GPU: these are bounds from the datasheets, not measurements).
"""

from __future__ import annotations

import argparse

from servegate.analysis.cost import load_pricing
from servegate.analysis.limits import quantization
from servegate.analysis.limits_data import read_hardware, read_models
from servegate.report.limits import option_entry, prompt_workload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama-3.1-8b-instruct")
    parser.add_argument("--quant", default="awq")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--options", nargs="+", default=["nvidia-l4", "nvidia-a10g", "nvidia-rtx-4090"]
    )
    args = parser.parse_args()
    options, _ = read_hardware()
    model = read_models()[args.model]
    workload = prompt_workload(
        "data/prompts/interactive_v1.jsonl", tokenizer="data/models/smollm2-135m-instruct"
    )
    print(f"{model.name} in {args.quant} at concurrency {args.concurrency}; {workload.basis}\n")
    print(
        "| option | GB/s | e2e p50 bound | e2e p95 bound | p50 <= 1 s at 100% / 50% | "
        "p95 <= 3 s at 100% / 50% | efficiency needed p50 / p95 | tok/s bound | USD/h |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    pricing = load_pricing()
    yes = {True: "yes", False: "no", None: "-"}
    for key in args.options:
        o = option_entry(
            key,
            options[key],
            model,
            quantization(args.quant),
            workload,
            concurrency=args.concurrency,
            metric="e2e",
            p50_ms=1000.0,
            p95_ms=3000.0,
            realistic=0.5,
            memory_utilization=0.9,
            pricing=pricing,
        )
        if not o.included:
            print(f"| {o.name} | left out: {o.reason} |")
            continue
        tok = next((t.tok_per_s for t in o.throughput if t.concurrency == args.concurrency), None)
        print(
            f"| {o.name} | {o.memory_bandwidth_gbps:g} | {o.e2e_p50_ms / 1000:.2f} s | "
            f"{o.e2e_p95_ms / 1000:.2f} s | {yes[o.p50_reachable]} / "
            f"{yes[o.p50_reachable_realistic]} | {yes[o.p95_reachable]} / "
            f"{yes[o.p95_reachable_realistic]} | {o.p50_efficiency_needed:.0%} / "
            f"{o.p95_efficiency_needed:.0%} | {tok:,.0f} | "
            f"{'-' if o.hourly_usd is None else f'{o.hourly_usd:g}'} |"
        )


if __name__ == "__main__":
    main()
