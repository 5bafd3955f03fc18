"""Write notebooks/0*.ipynb from the cell sources below (run after editing them).

The notebooks stay thin: a parameters cell of literal defaults, then one library call per
cell. Keeping their source here makes review and diffs readable; the .ipynb files are what
users open in JupyterLab and what papermill runs. ``--check`` writes nothing and exits 1,
naming each notebook that differs from what this script would write.
"""

# ruff: noqa: E501 -- cell sources are notebook code, kept as users see them in JupyterLab
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = Path(__file__).resolve().parents[1] / "notebooks"
SETUP = "from IPython.display import HTML, display\nimport pandas as pd\n"


def params_cell(text: str):
    return new_code_cell(text.strip(), metadata={"tags": ["parameters"]})


def code(text: str, *tags: str):
    return new_code_cell(text.strip(), metadata={"tags": list(tags)} if tags else {})


def md(text: str):
    return new_markdown_cell(text.strip())


BENCHMARK = [
    md("""
# 01 · Benchmark one target

Runs the prompt set against one target — a local vLLM server (launched here, or attached by
`base_url`) or a hosted OpenAI-compatible API — at each load level, and writes a run folder
under `results_dir`: `requests.csv` (every request, failures included), `run.json`
(parameters, manifest, per-level summaries with 95% intervals, the server's story) and the
server log. Credentials come from the environment (`OPENAI_API_KEY`), never from here.
"""),
    params_cell("""
backend = "vllm"  # "vllm" | "openai"
base_url = ""  # "": launch vLLM here, or OpenAI's default for openai; else http://HOST:PORT/v1
model = "smollm2"  # model name as the server serves it
model_path = "data/models/smollm2-135m-instruct"  # folder vLLM loads when launched here
server = {  # vLLM launch settings: dtype, max_model_len, kv_cache_space_gib, max_num_seqs, ...
    "dtype": "float32",  # the bf16 weights widen to it exactly: the reference numerics
    "max_model_len": 2048,
    "kv_cache_space_gib": 2,  # GiB of RAM for the KV cache (CPU build)
    "startup_timeout_s": 600,
    "warmup_requests": 2,
    "env": {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"},  # give the CPU engine every core
}
prompts = "data/prompts/interactive_v1.jsonl"  # prompt set, JSONL
n_prompts = 250  # prompts per load level; None: all
concurrency = [1, 8, 32]  # closed-loop levels; 1 is the single-request baseline
baseline_prompts = 16  # prompts at concurrency 1
request_rate = None  # None: closed loop; or requests/s for a Poisson open loop
max_tokens = 32  # caps each prompt's own max_tokens; None: each prompt's own
temperature = 0.0
timeout_s = 120.0  # per request; a slower request is a `timeout` row, never dropped
results_dir = "eval/results"  # relative paths are under the project root, from any folder
run_label = "cpu-default"  # letters, digits, '.', '_', '-'
seed = 42
warmup_requests = 4  # sent before measuring, never recorded
gate_concurrency = 8  # the level the report's latency gates judge
quality_prompts = "data/quality/checks_v1.jsonl"  # checkable items sent after the levels; None: no quality pass
quality_max_tokens = 96  # answer cap of the quality pass
quality_concurrency = 16  # quality requests in flight
machine = None  # data/pricing.yaml machine key for cost; None: by hardware
hourly_usd = None  # machine price in USD/h; beats `machine`
"""),
    code(
        """
%matplotlib inline
from servegate import plots, read_run
from servegate.jobs.bench import BenchmarkParams, run_benchmark
from servegate.report import view as report_view
from servegate.report import view_ops as report_view_ops
from servegate.report import view_quality as report_view_quality
from servegate.report.ops import since_previous
"""
        + SETUP
    ),
    code("""
params = BenchmarkParams.from_namespace(globals())
result = run_benchmark(params)
frames = read_run(result.run_dir)  # typed frames: .requests, .levels; .run: run.json and all
run = frames.run
"""),
    md("## Summary per load level"),
    code("""
display(HTML(report_view.run_summary_html(frames.levels)))
if run.state == "skipped":
    print(f"Skipped: {run.record.skipped_reason}")
"""),
    md("## Latency distributions"),
    code("""
plots.latency_distributions(frames.requests, p50_ms=1000, p95_ms=3000)
"""),
    md("""
## Answer quality

Every checkable item of `quality_prompts` sent once, at temperature 0, each answer scored by its
check. The answers are in the run folder's `quality.csv`; the report judges them against the
hosted model's answers to the same items.
"""),
    code("""
display(HTML(report_view_quality.run_quality_html(run)))
"""),
    md("## Server metrics around each level (vLLM only)"),
    code("""
display(HTML(report_view_ops.server_metrics_html(run.levels)))
"""),
    md("""
## Since the previous comparable run

This run against the newest earlier run of the same backend, model, hardware, prompt set and
answer cap in `results_dir`: the change in p50/p95 per level with a 95% interval. Changed
settings (e.g. `server`, `concurrency`) are listed. Change a parameter above, run all, read here.
"""),
    code("""
display(HTML(report_view_ops.comparison_html(since_previous(run, results_dir))))
"""),
]

AGGREGATE = [
    md("""
# 02 · Aggregate the history

Rebuilds `history_path` from every run folder under `results_dir`: one row per run and load
level, the same file whenever it is rebuilt from the same folders, written atomically under a
lock. A broken run folder is skipped and named below, never silently.
"""),
    params_cell("""
results_dir = "eval/results"  # where the run folders are
history_path = "eval/reports/aggregate_history.csv"  # the history written here
poc_summaries = "data/history/poc_summaries.yaml"  # POC figures, summary-only rows; empty: none
"""),
    code(
        """
%matplotlib inline
from servegate.history.aggregate import rebuild_history
from servegate import plots, read_history
from servegate.core.nbparams import check_injected_parameters
check_injected_parameters(globals())  # a misspelt -p name is an error, not ignored
"""
        + SETUP
    ),
    code("""
rebuilt = rebuild_history(results_dir, history_path, poc_summaries=poc_summaries or None)
history = read_history(rebuilt.path)  # typed: Int64 counts, float64 figures, UTC dates
print(f"{len(history)} rows from {history['run_id'].nunique()} runs -> {rebuilt.path}")
"""),
    code("""
for folder, reason in rebuilt.skipped:
    print(f"WARNING: skipped run folder {folder}: {reason}")
"""),
    md("## Trend per backend and model"),
    code("""
plots.history_trend(history, p95_ms=3000, p50_ms=1000)
"""),
    code("""
history.tail(20)
"""),
]

REPORT = [
    md("""
# Self-hosted LLM decision report
"""),
    params_cell(
        """
results_dir = "eval/results"
history_path = "eval/reports/aggregate_history.csv"
local_run = ""  # run id; empty: the latest local vLLM run
hosted_run = ""  # run id; empty: the latest comparable hosted run
report_dir = "reports"
report_label = ""  # names the report files; empty: the local run label
p95_ms = 3000.0  # gate: p95 latency at the gate level, ms
p50_ms = 1000.0  # gate: p50 latency at the gate level, ms
min_batching_gain = 2.0  # gate: best level's output tok/s / concurrency 1's
min_prompts = 500  # gate: measured prompts a run needs for stability and for any GO
gate_latency_metric = "e2e"  # "e2e" | "ttft"
gate_concurrency = None  # the level the latency gates judge; None: the run's own
quality_margin = 0.05  # gate: how far local accuracy may be below hosted's, paired by item
quality_floor = 0.8  # gate: the accuracy local must reach when no hosted answers compare
pricing_path = "data/pricing.yaml"
hourly_usd = None  # self-hosted machine price in USD/h; None: from the price sheet
poc_summaries = "data/history/poc_summaries.yaml"  # POC figures beside the gates; empty: none
regression_min_ms = 0.0  # smallest p50/p95 change flagged as a regression, ms
peak_rps = 5.0  # capacity plan: forecast peak traffic, requests per second
peak_to_average = 2.0  # capacity plan: peak over average traffic
annual_growth = 0.5  # capacity plan: yearly traffic growth, 0.5 is +50%
headroom = 0.2  # capacity plan: spare share of each replica at peak
fallback_ttft_ms = None  # fallback time-outs T to simulate in ms; None: 100 ms to 5 s
hardware_path = "data/hardware.yaml"  # the hardware options "What the hardware allows" bounds
limits_models_path = "data/limits/models.yaml"  # model shapes (layers, heads, ...)
limits_model = "llama-3.1-8b-instruct"  # the options' model: a model sheet key or a model folder
limits_quantization = "awq"  # bf16 | fp16 | fp8 | int8 | awq | gptq
limits_efficiency = 0.5  # the realistic share of the physical limit
limits_memory_utilization = 0.9  # share of memory for weights and KV cache (vLLM's)
limits_concurrency = None  # the options' concurrency; None: the gate concurrency
limits_prompts = "data/prompts/interactive_v1.jsonl"  # the prompt set the options serve
""",
    ),
    code(
        """
%matplotlib inline
import warnings
warnings.filterwarnings("ignore")
from servegate.report.build import build_report
from servegate.report.params import ReportParams
from servegate import plots
from servegate.plots import ops as plots_ops
from servegate.report import view as report_view
from servegate.report import view_ops as report_view_ops
from servegate.report import view_quality as report_view_quality
from servegate.report import view_limits as report_view_limits
from servegate.plots.limits import limits_figure
"""
        + SETUP,
        "remove-cell",
    ),
    code("""
report = build_report(ReportParams.from_namespace(globals()))
decision = report.decision_report
display(HTML(report_view.decision_html(decision)))
display(HTML(report_view.gates_html(decision.gates, decision.poc_baseline, metric=gate_latency_metric)))
"""),
    md("## Caveats"),
    code("""
display(HTML(report_view.caveats_html(decision.caveats)))
"""),
    md("""
## Answer quality

Both backends answered the same checkable items (short facts, arithmetic, instructions, output
formats, extraction, other languages), each scored by a declarative check. The gate asks whether
local is no worse than hosted by more than the margin, on the items both answered.
"""),
    code("""
display(HTML(report_view_quality.quality_html(decision.quality)))
plots.quality_by_category(report.quality_frame(), floor=report.quality_floor(), notes=report.notes())
"""),
    md("## Latency distributions per backend"),
    code("""
gate_c = decision.gate_concurrency
metric = f"{gate_latency_metric}_ms"
plots.latency_distributions(report.requests(), p50_ms=p50_ms, p95_ms=p95_ms, metric=metric, concurrency=gate_c, notes=report.notes())
"""),
    md("## Throughput and p95 against concurrency"),
    code("""
plots.throughput_vs_concurrency(report.levels(), p95_ms=p95_ms, gain=report.gain(), min_gain=min_batching_gain, latency=gate_latency_metric)
"""),
    md("## Time to first token against end-to-end latency"),
    code("""
plots.ttft_vs_e2e(report.requests(), concurrency=gate_c, notes=report.notes())
"""),
    md("## Errors, time-outs and OOMs"),
    code("""
plots.errors_breakdown(report.levels(), notes=report.notes())
"""),
    md("## What the local server reported"),
    code("""
display(HTML(report_view_ops.server_metrics_html(report.local.levels if report.local else [])))
"""),
    md("## Cost per 1M output tokens"),
    code("""
display(HTML(report_view.cost_html(decision.cost)))
plots.cost_per_1m_tokens(report.cost_frame())
"""),
    md("""
## What the hardware allows

An estimate from first principles, never a measurement, and never a gate: decoding reads every
weight once per step (and each running sequence's KV cache), so memory bandwidth bounds how
fast tokens can come; prefill is bound by compute. First the measured run against the bound on
its own hardware, then each hardware option of `data/hardware.yaml` for `limits_model` in
`limits_quantization` (`notebooks/04_capacity_plan.ipynb` re-runs it for any model).
"""),
    code("""
display(HTML(report_view_limits.limits_html(decision.feasibility)))
if decision.feasibility is not None:
    f = decision.feasibility
    display(limits_figure(report_view_limits.limits_frame(f), p50_ms=f.p50_ms, p95_ms=f.p95_ms, realistic=f.realistic_efficiency, what=f"{f.model} in {f.quantization} at concurrency {f.concurrency}."))
"""),
    md("## Trend from the history, at the gate load level"),
    code("""
history, why_empty = report.history()
plots.history_trend(history, p95_ms=p95_ms, p50_ms=p50_ms, latency=gate_latency_metric, concurrency=gate_c, notes=[why_empty] if why_empty else [])
"""),
    md("""
## Since the previous comparable run

Each run against the newest earlier run of the same backend, model (weights hash), hardware
class, prompt set and answer cap; runs that differ are not compared, and the reason is shown.
A change is a regression when its whole 95% interval is above zero.
"""),
    code("""
display(HTML(report_view_ops.comparison_html(decision.comparison, gate_level=f"c{gate_c}")))
"""),
    md("""
## Capacity plan

Replicas needed for the forecast traffic (peak, growth, headroom are parameters), sized by each
replica's measured goodput: requests per second that finished within the p95 limit. The plot
shows where self-hosting becomes cheaper than the hosted API for the same traffic.
`notebooks/04_capacity_plan.ipynb` explores other forecasts.
"""),
    code("""
display(HTML(report_view_ops.capacity_html(decision.capacity)))
if report.capacity.plan is not None:
    display(plots_ops.capacity_cost_figure(report.capacity.plan))
"""),
    md("""
## Local first, hosted fallback

Replayed from the recorded requests, no extra traffic: each request goes to local vLLM; if no
first token arrives within T ms, or it fails, it is sent to the hosted API (its recorded answer
to the same prompt). Does a local-first setup meet the gates when local alone does not?
"""),
    code("""
display(HTML(report_view_ops.fallback_html(decision.fallback)))
if report.fallback.simulated:
    display(plots_ops.fallback_figure(report.fallback))
"""),
    md("## Run manifest"),
    code("""
display(HTML("<h4>Local run</h4>" + report_view.manifest_html(report.local)))
display(HTML("<h4>Hosted run</h4>" + report_view.manifest_html(report.hosted)))
"""),
]

CAPACITY = [
    md("""
# 04 · Capacity plan and fallback

From a recorded local run: how many vLLM replicas a traffic forecast needs, what they cost a
month against the hosted API for the same traffic, and where self-hosting becomes the cheaper
option. Then the graceful-degradation policy "local first, hosted after T ms without a first
token", replayed from the recorded requests of both backends. No new traffic is sent; change
the parameters and re-run. The decision report shows the same sections for its defaults.
"""),
    params_cell("""
results_dir = "eval/results"
local_run = ""  # run id; empty: the latest local vLLM run
hosted_run = ""  # run id; empty: the latest comparable hosted run
pricing_path = "data/pricing.yaml"
hosted_model = ""  # price the hosted side as this model; empty: the hosted run's, else DEFAULT_HOSTED_MODEL
hourly_usd = None  # one replica's machine price in USD/h; None: from the price sheet
peak_rps = 5.0  # forecast peak traffic, requests per second
peak_to_average = 2.0  # peak over average traffic
annual_growth = 0.5  # yearly traffic growth, 0.5 is +50%
horizon_years = 1.0  # years ahead to plan for
headroom = 0.2  # spare share of each replica at peak
p50_ms = 1000.0  # gate: p50 latency, ms
p95_ms = 3000.0  # gate: p95 latency, ms; also the goodput limit
gate_latency_metric = "e2e"  # "e2e" | "ttft"
gate_concurrency = None  # local level for the fallback replay; None: the run's gate level
fallback_ttft_ms = None  # time-outs T to replay in ms; None: 100 ms to 5 s
limits_model = "llama-3.1-8b-instruct"  # "What the hardware allows": a model sheet key or a model folder
limits_quantization = "awq"  # bf16 | fp16 | fp8 | int8 | awq | gptq
limits_efficiency = 0.5  # the realistic share of the physical limit
limits_concurrency = 16  # requests in flight the bounds assume
limits_prompts = "data/prompts/interactive_v1.jsonl"  # its lengths: each answer at its max_tokens cap
hardware_path = "data/hardware.yaml"
"""),
    code(
        """
%matplotlib inline
import warnings
warnings.filterwarnings("ignore")
from servegate.analysis.cost import load_pricing
from servegate.analysis.capacity import capacity_levels_frame
from servegate.report.build import select_runs
from servegate.runs.reader import list_runs
from servegate.analysis.searched import searched_capacity
from servegate.report.ops import capacity_entry, capacity_section, fallback_entry, fallback_section, hosted_model_for
from servegate.plots import ops as plots_ops
from servegate.report import view_ops as report_view_ops
from servegate.report.limits import feasibility_section
from servegate.report.view_limits import limits_frame, limits_html
from servegate.plots.limits import limits_figure
from servegate.core.nbparams import check_injected_parameters
check_injected_parameters(globals())  # a misspelt -p name is an error, not ignored
"""
        + SETUP,
        "remove-cell",
    ),
    code("""
local, hosted, broken = select_runs(results_dir, local_run, hosted_run)
pricing = load_pricing(pricing_path)
searched = searched_capacity(local, list_runs(results_dir)[0], p95_ms=p95_ms, p50_ms=p50_ms, metric=gate_latency_metric)
print(f"local run:  {local.run_id if local else 'none found'}")
print(f"hosted run: {hosted.run_id + ' (' + hosted.state + ')' if hosted else 'none found'}")
print(f"one replica: {searched[0].describe() if searched[0] else 'best listed level (' + searched[1] + ')'}")
"""),
    md("## Replicas and monthly cost"),
    code("""
model_name = hosted_model or hosted_model_for(hosted)
section = capacity_section(local, pricing, hosted_model=model_name, hourly_usd=hourly_usd, searched=searched, peak_rps=peak_rps, peak_to_average=peak_to_average, annual_growth=annual_growth, horizon_years=horizon_years, headroom=headroom, p50_ms=p50_ms, p95_ms=p95_ms, latency_metric=gate_latency_metric)
display(HTML(report_view_ops.capacity_html(capacity_entry(section))))
"""),
    md("## Goodput per load level"),
    code("""
capacity_levels_frame(section.plan) if section.plan is not None else None
"""),
    md("## Where self-hosting becomes cheaper"),
    code("""
if section.plan is not None:
    display(plots_ops.capacity_cost_figure(section.plan))
"""),
    md("## Local first, hosted fallback"),
    code("""
local_usd = section.plan.self_hosted_usd_per_1m_output_tokens if section.plan is not None else None
fallback = fallback_section(local, hosted, pricing, local_usd_per_1m=local_usd, level=gate_concurrency, timeouts_ms=fallback_ttft_ms, p50_ms=p50_ms, p95_ms=p95_ms)
display(HTML(report_view_ops.fallback_html(fallback_entry(fallback))))
if fallback.simulated:
    display(plots_ops.fallback_figure(fallback))
"""),
    md("""
## What the hardware allows, for another model or quantization

Lower bounds from the datasheets (`hardware_path`), never measurements: change `limits_model`
(a key of `data/limits/models.yaml`, or a model folder with a `config.json`),
`limits_quantization` or `limits_concurrency` and re-run this cell.
"""),
    code("""
f = feasibility_section(local, pricing, hardware_path=hardware_path, models_path="data/limits/models.yaml", model=limits_model, quant=limits_quantization, prompts_path=limits_prompts, concurrency=limits_concurrency, metric=gate_latency_metric, p50_ms=p50_ms, p95_ms=p95_ms, realistic=limits_efficiency, memory_utilization=0.9)
display(HTML(limits_html(f)))
display(limits_figure(limits_frame(f), p50_ms=p50_ms, p95_ms=p95_ms, realistic=limits_efficiency, what=f"{f.model} in {f.quantization} at concurrency {f.concurrency}."))
"""),
]

SEARCH = [
    md("""
# 05 · Capacity search: how much load one replica carries within the latency limits

Measures closed-loop concurrency levels one after another, doubling from `min_concurrency`
until a level fails, then bisecting to one step, and writes one run folder (every level's
requests in `requests.csv`, its summary in `run.json`, the answer in `run.json`'s `search`).
A level runs only as long as its verdict needs: it stops as soon as the p50 and p95
intervals settle PASS (both under their limits) or FAIL (either wholly over), or at
`max_requests`, INCONCLUSIVE. The target settings are `01_benchmark`'s.
"""),
    params_cell("""
backend = "vllm"  # "vllm" | "openai"
base_url = ""  # "": launch vLLM here; else http://HOST:PORT/v1 of a running server
model = "smollm2"  # model name as the server serves it
model_path = "data/models/smollm2-135m-instruct"  # folder vLLM loads when launched here
server = {  # vLLM launch settings: dtype, max_model_len, kv_cache_space_gib, max_num_seqs, ...
    "dtype": "float32",  # the bf16 weights widen to it exactly: the reference numerics
    "max_model_len": 2048,
    "kv_cache_space_gib": 2,  # GiB of RAM for the KV cache (CPU build)
    "startup_timeout_s": 600,
    "warmup_requests": 2,
    "env": {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"},  # give the CPU engine every core
}
prompts = "data/prompts/interactive_v1.jsonl"  # prompt set, JSONL; each level cycles through it
n_prompts = None  # the first n prompts of the set only; None: all
max_tokens = 32  # caps each prompt's own max_tokens; None: each prompt's own
temperature = 0.0
timeout_s = 120.0  # per request; a slower request is a `timeout` row, a miss
results_dir = "eval/results"  # relative paths are under the project root, from any folder
run_label = "search"  # letters, digits, '.', '_', '-'
seed = 42
warmup_requests = 4  # sent before measuring, never recorded
machine = None  # data/pricing.yaml machine key for cost; None: by hardware
hourly_usd = None  # machine price in USD/h; beats `machine`
search = {  # the search; the limits default to the report's gates
    "min_concurrency": 1,
    "max_concurrency": 256,
    "p95_ms": 3000,
    "p50_ms": 1000,
    "gate_latency_metric": "e2e",  # "e2e" | "ttft"
    "confidence": 0.95,  # of each level's verdict, over all its looks
    "min_requests": 20,  # a level's first look
    "max_requests": 300,  # a level's budget; unsettled by then: INCONCLUSIVE
}
"""),
    code(
        """
%matplotlib inline
from servegate.jobs.search import SearchRunParams, run_search
from servegate import plots, read_run
from servegate.report.view_search import search_html
"""
        + SETUP
    ),
    code("""
params = SearchRunParams.from_namespace(globals())
result = run_search(params)
frames = read_run(result.run.run_dir)  # typed frames: .requests, .levels; .run: run.json and all
run = frames.run
"""),
    md("## The answer, and every level the search measured"),
    code("""
display(HTML(search_html(run.record.search)))
"""),
    md("## Latency at each level against the limits"),
    code("""
plots.search_path(run.record.search)
"""),
    md("## Latency distributions per level"),
    code("""
plots.latency_distributions(frames.requests, p50_ms=params.search.p50_ms, p95_ms=params.search.p95_ms)
"""),
]

SWEEP = [
    md("""
# 06 · Sweep vLLM server settings

A sweep file (`params/sweeps/*.yaml`) names a base params file and a list or grid of server
settings. For each setting this starts vLLM with the base's settings and the setting's changes,
warms it, runs the capacity search (or the listed levels), stops it, and moves on; each setting
is one run folder tagged with the sweep's id and its setting. A setting whose vLLM does not
start is recorded with its reason and the sweep goes on. Interrupted, it keeps every finished
setting, and running it again resumes; `run = False` only reads what is recorded.

Each setting's run ends with a quality pass, and its answers are judged against the base
setting's: a setting that is faster but answers worse never wins.
"""),
    params_cell("""
sweep = "params/sweeps/cpu_flags.yaml"  # the sweep file: a base params file and the settings
results_dir = None  # where the run folders are; None: the sweep's own (its base params')
overrides = {}  # benchmark parameters over the sweep's, e.g. {"model_path": "/data/models/x"}
run = True  # True: run the settings not finished yet; False: only read what is recorded
pricing_path = "data/pricing.yaml"  # machine prices, for the cost per 1M output tokens
"""),
    code(
        """
%matplotlib inline
from servegate.jobs.sweep import plan_table, run_sweep
from servegate.jobs.sweep_file import load_sweep
from servegate.analysis.sweep_summary import summary_frame
from servegate.plots.sweep import sweep_figure
from servegate.core.nbparams import check_injected_parameters
check_injected_parameters(globals())  # a misspelt -p name is an error, not ignored
"""
        + SETUP,
        "remove-cell",
    ),
    code("""
plan = load_sweep(sweep, {**overrides, **({"results_dir": results_dir} if results_dir else {})})
print(f"sweep {plan.sweep_id} ({plan.mode} mode), run folders in {plan.results_dir}")
for setting in plan.settings:
    print(f"  {setting.name}: {setting.describe()}")
"""),
    code("""
if run:
    run_sweep(plan)
"""),
    md("""
## One row per setting

Verdicts and percentiles at the setting's capacity (at its first level when no level passed);
the capacity is the goodput (requests/s within the limits) at the highest passing concurrency,
and the cost is the machine's hourly price over the output tokens/s there. **accuracy** is the
share of the checks file answered right (Wilson 95% interval); **answers** is the verdict on
them against the base's, paired by item: PASS when the 95% interval of the difference is wholly
above -5 points, FAIL when wholly below, INCONCLUSIVE otherwise (the base is the reference).
The winner passes both the latency gates and the answers. ★ marks the winner.
"""),
    code("""
table = plan_table(plan, pricing_path=pricing_path)
display(summary_frame(table))
"""),
    md("""
## The winner

The cheapest setting whose latency gates and answers pass; a faster setting passed over for its
answers is named with both accuracies. When no setting made a quality pass, the winner is on
latency alone, and this says the answers were not checked.
"""),
    code("""
print(table.verdict)
for note in table.notes:
    print(f"note: {note}")
"""),
    md("""
## Each setting against the base

p50 and p95 at a concurrency both measured, and the capacity, each as the setting's value minus
the base's with a 95% interval. A difference whose interval holds 0 is **noise**: the setting
is not shown to be better or worse, whatever its point value says.
"""),
    code("""
display(table.differences_frame())
"""),
    md("## Capacity against p95 latency"),
    code("""
sweep_figure(table)
"""),
]


#: Each notebook's file name, cells and title, in the order they are run.
NOTEBOOKS = {
    "01_benchmark.ipynb": (BENCHMARK, "servegate benchmark"),
    "02_aggregate.ipynb": (AGGREGATE, "servegate history"),
    "03_decision_report.ipynb": (REPORT, "Self-hosted LLM decision report"),
    "04_capacity_plan.ipynb": (CAPACITY, "servegate capacity plan"),
    "05_search.ipynb": (SEARCH, "servegate capacity search"),
    "06_sweep.ipynb": (SWEEP, "servegate server-setting sweep"),
}


def notebook_text(name: str) -> str:
    """The nbformat JSON this script writes for notebook ``name``, as nbformat.write writes it."""
    cells, title = NOTEBOOKS[name]
    for index, cell in enumerate(cells):
        cell.id = f"{Path(name).stem[:2]}-{index:02d}"  # stable ids: regenerating changes nothing
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["title"] = title
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def stale_notebooks(out: Path = OUT) -> list[str]:
    """The notebooks in ``out`` that are missing or differ from what this script would write."""
    return [
        name
        for name in NOTEBOOKS
        if not (out / name).is_file()
        or (out / name).read_text(encoding="utf-8") != notebook_text(name)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write notebooks/0*.ipynb from their source here.")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming each notebook that differs from what would be written",
    )
    parser.add_argument(
        "--out", type=Path, default=OUT, help="the notebooks folder (default: notebooks/)"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_notebooks(args.out)
        for name in stale:
            print(
                f"{args.out / name} differs from scripts/make_notebooks.py; "
                "run `python scripts/make_notebooks.py` and commit the notebooks",
                file=sys.stderr,
            )
        return 1 if stale else 0
    args.out.mkdir(exist_ok=True)
    for name in NOTEBOOKS:
        (args.out / name).write_text(notebook_text(name), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
