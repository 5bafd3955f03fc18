"""Bad input, table-driven: each case is one clear error that names the problem and the fix,
raised before any server starts or any file is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from servegate.core.errors import ConfigError, ServegateError
from servegate.jobs.bench import run_benchmark
from servegate.jobs.pipeline import execute_benchmark

GOOD = {
    "backend": "vllm",
    "base_url": "http://127.0.0.1:9/v1",
    "model": "m",
    "prompts": "data/prompts/interactive_v1.jsonl",
    "n_prompts": 4,
    "concurrency": [1, 2],
    "baseline_prompts": 2,
}

CASES = [
    (
        "unknown key",
        {"concurency": [1, 8]},
        r"unknown parameter 'concurency' \(known: .*concurrency",
    ),
    ("wrong type", {"n_prompts": "many"}, r"n_prompts: .*valid integer.*'many'"),
    (
        "zero concurrency",
        {"concurrency": [0, 8]},
        r"`concurrency` must list positive integers, got \[0, 8\]; use e\.g\. \[1, 8\]",
    ),
    ("negative concurrency", {"concurrency": [-4]}, r"must list positive integers, got \[-4\]"),
    ("empty concurrency", {"concurrency": []}, r"must list positive integers, got \[\]"),
    (
        "rate with no prompts",
        {"request_rate": 5, "n_prompts": None},
        r"`request_rate` needs `n_prompts`",
    ),
    ("negative rate", {"request_rate": -1}, r"`request_rate` must be > 0"),
    (
        "base url not a url",
        {"base_url": "localhost:8000"},
        r"base_url 'localhost:8000' is not an http\(s\) URL with a host; use e\.g\.",
    ),
    ("unknown backend", {"backend": "tgi"}, r"backend: Input should be 'vllm' or 'openai'"),
    ("too many prompts", {"n_prompts": 501}, r"`n_prompts` is 501 but .* holds 500 prompts"),
    ("missing prompt file", {"prompts": "data/prompts/nope.jsonl"}, r"nope\.jsonl"),
    ("bad run label", {"run_label": "my run/1"}, r"run_label 'my run/1' must be 1-64 letters"),
    ("zero timeout", {"timeout_s": 0}, r"timeout_s: Input should be greater than 0"),
]


@pytest.mark.parametrize(("case", "change", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_benchmark_parameters(case: str, change: dict, message: str, tmp_path: Path) -> None:
    results = tmp_path / "results"
    params = {**GOOD, **change, "results_dir": str(results)}
    with pytest.raises(ServegateError, match=message):
        run_benchmark(params, progress=False)
    assert not results.exists() or not any(results.iterdir()), "something was written"


def test_a_results_folder_that_is_not_writable(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/servegate-results")  # not writable even for root
    else:
        target = tmp_path / "ro"
        target.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match=r"is not writable .*choose a folder you can write to"):
        run_benchmark({**GOOD, "results_dir": str(target)}, progress=False)


def test_a_params_file_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "max_token": 32}))
    with pytest.raises(
        ConfigError, match=rf"invalid parameters in {path}: unknown parameter 'max_token'"
    ):
        execute_benchmark(path)
