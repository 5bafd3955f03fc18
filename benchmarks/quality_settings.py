"""Answer quality of the embedded default and two other server settings, through the product.

Runs ordinary benchmark runs of the embedded SmolLM2 model on vLLM's CPU build with
``params/cpu_default.yaml``'s settings: the default (float32), bfloat16, and float32 served
with a chat template written for ShareGPT-style roles (``human``/``gpt``) that silently drops
every ``user`` turn (the misconfiguration tests/integration/test_vllm_quality.py uses). Each
run has a tiny latency level (4 prompts at concurrency 2, so every request's status is seen)
and the full quality pass (``data/quality/checks_v1.jsonl``, 144 items, at the defaults
``quality_concurrency`` and ``quality_max_tokens``). Prints each run's accuracy with its 95%
Wilson interval, overall and per category, each setting against the default paired by item
(Newcombe's interval) with the quality gate's verdict, the latency requests' statuses, and the
quality pass's wall time: what the pass adds to ``make report``.

Usage: python benchmarks/quality_settings.py [--results DIR] [--out FILE]
Run it on an idle machine: each setting takes 2-5 minutes (vLLM's start and the pass).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from servegate.analysis.quality import judge_quality
from servegate.core.environment import cpu_model
from servegate.jobs.bench import run_benchmark
from servegate.records.quality import QualityAccuracy
from servegate.runs.quality_csv import read_quality
from servegate.runs.reader import RunData, load_run

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "params/cpu_default.yaml"


#: The chat template of the ShareGPT-style misconfiguration: a "user" turn matches no branch.
SHAREGPT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}<|im_start|>system\n{{ m['content'] }}<|im_end|>\n"
    "{% elif m['role'] == 'human' %}<|im_start|>user\n{{ m['content'] }}<|im_end|>\n"
    "{% elif m['role'] == 'gpt' %}<|im_start|>assistant\n{{ m['content'] }}<|im_end|>\n"
    "{% endif %}{% endfor %}<|im_start|>assistant\n"
)


def _settings(results: Path) -> dict[str, dict[str, Any]]:
    template = results / "sharegpt.jinja"
    template.write_text(SHAREGPT_TEMPLATE, encoding="utf-8")
    return {
        "float32": {},
        "bfloat16": {"dtype": "bfloat16"},
        "sharegpt-template": {"extra_args": ["--chat-template", str(template)]},
    }


def _params(results: Path, name: str, server: dict[str, Any]) -> dict[str, Any]:
    params = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    params["server"] = {**params["server"], **server}
    return {
        **params,
        "n_prompts": 4,
        "concurrency": [2],
        "baseline_prompts": None,
        "gate_concurrency": None,
        "results_dir": str(results),
        "run_label": f"quality-{name}",
        "warmup_requests": 0,
    }


def _share(acc: QualityAccuracy) -> str:
    def pct(v: float | None) -> str:
        return "?" if v is None else f"{v:.1%}"

    return f"{pct(acc.accuracy)} [{pct(acc.ci_low)}, {pct(acc.ci_high)}] ({acc.n_passed}/{acc.n})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=None, help="run folders here (temp)")
    parser.add_argument("--out", type=Path, default=None, help="append the table to this file")
    args = parser.parse_args()
    results = args.results or Path(tempfile.mkdtemp(prefix="quality-settings-"))
    results.mkdir(parents=True, exist_ok=True)
    runs: dict[str, RunData] = {}
    for name, server in _settings(results).items():
        result = run_benchmark(_params(results, name, server), progress=True)
        runs[name] = load_run(result.run_dir)
    quality = {name: run.record.quality for name, run in runs.items()}
    if any(q is None for q in quality.values()):
        raise SystemExit(f"a run made no quality pass: {quality}")
    names = list(runs)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"### {stamp}, {cpu_model()}, Python {platform.python_version()}",
        "",
        "| | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    first = quality[names[0]]
    assert first is not None
    for category in ["all", *first.by_category]:
        cells = []
        for name in names:
            q = quality[name]
            assert q is not None
            cells.append(_share(q if category == "all" else q.by_category[category]))
        lines.append(f"| {category} | " + " | ".join(cells) + " |")
    statuses = [
        ", ".join(f"{k} {int(v)}" for k, v in runs[n].requests["status"].value_counts().items())
        for n in names
    ]
    lines.append("| latency requests by status | " + " | ".join(statuses) + " |")
    walls = [f"{q.wall_s:.0f} s" if q and q.wall_s else "?" for q in quality.values()]
    lines.append("| quality pass wall time | " + " | ".join(walls) + " |")
    rows = {name: read_quality(run.run_dir, run.record) for name, run in runs.items()}
    reference = rows[names[0]]
    assert reference is not None
    lines.append("")
    for name in names[1:]:
        mine = rows[name]
        assert mine is not None
        judged = judge_quality(mine, reference, margin=0.05, floor=0.8, sides=(name, names[0]))
        est = judged.estimate
        same = int((mine["answer"] == reference["answer"]).sum())
        lines.append(
            f"- {name} minus {names[0]}, paired by item: {est.value:+.1%} "
            f"[{est.ci_low:+.1%}, {est.ci_high:+.1%}] (Newcombe 95%), {same} of "
            f"{est.n} answers identical; the quality gate with {names[0]} as the reference "
            f"(margin 5 points): **{judged.verdict}**; {judged.note}."
        )
    lines += [f"- Run folders: {results}", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
