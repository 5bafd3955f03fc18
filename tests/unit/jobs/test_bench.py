"""One benchmark run end to end against the calibration server, and the watch on its server."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.core.errors import PromptFileError
from servegate.core.names import REQUEST_COLUMNS
from servegate.core.progress import reporter
from servegate.jobs.bench import BenchmarkParams, _model_manifest, run_benchmark
from servegate.jobs.level_watch import exited
from servegate.runs.reader import load_run
from tests.helpers import REPO, TEST_PROMPTS


def test_run_benchmark_leaves_a_consistent_run_folder(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(p.model_dump_json() + "\n" for p in TEST_PROMPTS[:30]))
    config = CalibrationConfig(
        seed=1, ttft_ms=10, itl_ms=2, output_tokens_min=4, output_tokens_max=12, p_http_500=0.1
    )
    with CalibrationServer(config) as srv:
        result = run_benchmark(
            {
                "backend": "vllm",
                "base_url": srv.root_url,
                "model": "calibration",
                "prompts": str(prompts),
                "n_prompts": 30,
                "concurrency": [1, 4],
                "baseline_prompts": 10,
                "results_dir": str(tmp_path / "results"),
                "run_label": "cal",
                "warmup_requests": 2,
            },
            progress=False,
        )
    assert result.state == "complete"
    with open(result.run_dir / "requests.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == REQUEST_COLUMNS
    assert len(rows) == 40 == result.record.n_request_rows
    assert result.record == load_run(result.run_dir).record  # what every reader sees
    assert result.record.params.base_url == srv.root_url and result.record.state == "complete"
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["state"] == "complete" and record["schema_version"] == 1
    levels = {lv["level"]: lv for lv in record["levels"]}
    assert levels["c1"]["n_requests"] == 10 and levels["c4"]["n_requests"] == 30
    for lv in levels.values():
        n_failed = sum(1 for r in rows if r["level"] == lv["level"] and r["status"] != "ok")
        assert lv["n_errors"] == n_failed
        assert lv["throughput"]["output_tok_per_s"]["value"] > 0
    assert record["manifest"]["prompt_set"]["sha256"]
    assert record["manifest"]["hardware"]["cpu_logical_cores"] >= 1
    assert record["params"]["base_url"] == srv.root_url


def test_relative_paths_are_under_the_project_root_from_its_notebooks_folder(
    lab_project: Path, fake_model_dir: Path
) -> None:
    """JupyterLab runs 01 in notebooks/: the default paths still mean the project's files, and
    run.json keeps them as given (relative), so the run reads the same from any checkout."""
    with pytest.raises(PromptFileError, match=r"python data/prompts/make_prompts\.py") as info:
        run_benchmark({"base_url": "http://127.0.0.1:9/v1"}, progress=False)
    where = lab_project / "data/prompts/interactive_v1.jsonl"
    assert str(info.value).startswith(f"prompt file {where} does not exist; a relative")
    assert not (lab_project / "eval").exists()  # refused before anything was written
    (lab_project / "data/prompts").mkdir(parents=True)
    shutil.copy(REPO / "data/prompts/interactive_v1.jsonl", lab_project / "data/prompts")
    (lab_project / "data/quality").mkdir(parents=True)  # the quality pass's default checks
    shutil.copy(REPO / "data/quality/checks_v1.jsonl", lab_project / "data/quality")
    config = CalibrationConfig(
        seed=3, ttft_ms=2, itl_ms=1, output_tokens_min=2, output_tokens_max=4
    )
    with CalibrationServer(config) as srv:
        result = run_benchmark(
            {
                "base_url": srv.root_url,
                "model": "calibration",
                "n_prompts": 6,
                "baseline_prompts": 3,
                "concurrency": [1, 2],
                "warmup_requests": 0,
            },
            progress=False,
        )
    assert result.state == "complete"
    assert result.run_dir.parent == lab_project / "eval/results"
    assert result.run_id.endswith("_cpu-default_vllm")  # the embedded default's label
    params = result.record.params
    assert (params.prompts, params.results_dir) == (
        "data/prompts/interactive_v1.jsonl",
        "eval/results",
    )
    assert result.record.manifest.prompt_set.path == "data/prompts/interactive_v1.jsonl"
    quality_set = result.record.manifest.quality_set
    assert quality_set is not None and quality_set.path == "data/quality/checks_v1.jsonl"
    assert list((lab_project / "notebooks").iterdir()) == []
    # A launched model's folder is the project's too; run.json records the path as given.
    shutil.copytree(fake_model_dir, lab_project / "data/models/m")
    manifest = _model_manifest(BenchmarkParams(model_path="data/models/m"))
    assert manifest.get("path") == "data/models/m"
    assert set(manifest.get("weights", {})) == {"model.safetensors"}


def test_429_and_500_bursts_are_rows_and_the_run_stays_consistent(tmp_path: Path) -> None:
    """A rate limiter kicking in, then a flapping backend: every failure a row, none lost."""
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(p.model_dump_json() + "\n" for p in TEST_PROMPTS[:60]))
    # Sequence numbers 0-3 are the level's connection warm-up (one per slot); 4-63 are measured.
    bursts = [
        {"fault": "http_429", "start": 10, "count": 20},
        {"fault": "http_500", "start": 40, "count": 10},
    ]
    config = CalibrationConfig(
        seed=2, ttft_ms=5, itl_ms=1, output_tokens_min=4, output_tokens_max=8, bursts=bursts
    )
    with CalibrationServer(config, truth_path=tmp_path / "t.jsonl") as srv:
        result = run_benchmark(
            {
                "backend": "vllm",
                "base_url": srv.root_url,
                "model": "calibration",
                "prompts": str(prompts),
                "n_prompts": 60,
                "concurrency": [4],
                "baseline_prompts": 4,
                "results_dir": str(tmp_path / "results"),
                "run_label": "bursts",
                "warmup_requests": 0,
                "quality_prompts": None,  # the truth log holds the measured level only
            },
            progress=False,
        )
        truth = srv.truth()
    assert [t["fault"] for t in truth[:4]] == [None] * 4  # the warm-up was not in a burst
    assert Counter(t["fault"] for t in truth[4:]) == {None: 30, "http_429": 20, "http_500": 10}
    assert result.state == "complete"
    run = load_run(result.run_dir)
    rows = run.requests
    assert len(rows) == 60 == result.record.n_request_rows
    assert rows["prompt_id"].nunique() == 60
    assert Counter(rows["http_status"].astype(int)) == {200: 30, 429: 20, 500: 10}
    failed = rows[rows["status"] != "ok"]
    assert set(failed["status"]) == {"error"} and failed["error"].str.startswith("HTTP ").all()
    # The bursts hit consecutive requests: the 429s span about 20 sequence numbers, not 60.
    seq_429 = rows.loc[rows["http_status"] == 429, "seq"]
    assert seq_429.max() - seq_429.min() < 20 + 4
    (level,) = run.levels
    assert (level.n_requests, level.n_ok, level.n_errors) == (60, 30, 30)
    # Half the requests failed: as misses, they put p95 out of reach instead of vanishing.
    assert level.e2e_ms is not None and level.e2e_ms.p95.value == float("inf")


class _Owned:
    """Just what the level's watcher reads of a VLLMServer: its process and whether it runs."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process

    @property
    def running(self) -> bool:
        return self.process.poll() is None


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polling"])
def test_the_level_watcher_wakes_when_the_server_dies(
    pidfd: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not pidfd:
        monkeypatch.delattr(os, "pidfd_open", raising=False)
    proc = subprocess.Popen(["sleep", "300"])
    owned = _Owned(proc)

    async def scenario() -> tuple[bool, bool]:
        watcher = asyncio.ensure_future(exited(owned))  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        woke_early = watcher.done()
        proc.kill()
        async with asyncio.timeout(10):
            await watcher
        return woke_early, owned.running

    try:
        woke_early, still_running = asyncio.run(scenario())
    finally:
        proc.kill()
        proc.wait()
    assert not woke_early, "the watcher returned while the server was still running"
    assert not still_running
    # and a server that is already gone returns at once
    asyncio.run(asyncio.wait_for(exited(owned), 5))  # type: ignore[arg-type]


def test_a_gate_level_that_is_not_measured_is_said_at_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user who changes `concurrency` in Lab and keeps the default `gate_concurrency` 8
    learns it from the first lines, not from an INCONCLUSIVE report."""
    monkeypatch.delenv("SERVEGATE_PROGRESS_FILE", raising=False)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(p.model_dump_json() + "\n" for p in TEST_PROMPTS[:4]))
    config = CalibrationConfig(
        seed=2, ttft_ms=5, itl_ms=1, output_tokens_min=2, output_tokens_max=4
    )
    with CalibrationServer(config) as srv:
        params = {
            "base_url": srv.root_url,
            "model": "calibration",
            "prompts": str(prompts),
            "n_prompts": 4,
            "baseline_prompts": 2,
            "concurrency": [1, 2],
            "results_dir": str(tmp_path / "results"),
            "warmup_requests": 0,
        }
        assert BenchmarkParams.model_validate(params).gate_concurrency == 8
        result = run_benchmark(params, progress=reporter("lines"))
    assert result.state == "complete"
    err = capsys.readouterr().err
    assert "notice: gate_concurrency 8 is not a measured level ([1, 2])" in err
    assert "vllm c2: 4/4 requests (4 ok, 0 failed)" in err
