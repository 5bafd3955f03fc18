"""make verify: a run's manifest against this machine now, naming exactly what differs."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from servegate.cli import main
from servegate.core.environment import collect_environment
from servegate.core.errors import RunFolderError
from servegate.core.fsutil import sha256_file
from servegate.core.paths import ROOT_ENV
from servegate.runs.verify import latest_run_dir, verify_run
from tests.helpers import FIXTURE_RUNS, REPO, SKIPPED_RUN, VLLM_RUN

FIXTURE = FIXTURE_RUNS / VLLM_RUN


@pytest.fixture(scope="module")
def now() -> dict[str, Any]:
    return collect_environment(REPO)


@pytest.fixture
def checkout(tmp_path: Path, now: dict[str, Any]) -> tuple[Path, Path]:
    """A checkout with a model and prompt set, and a run recorded on this very machine."""
    repo = tmp_path / "repo"
    (repo / "data/models/m").mkdir(parents=True)
    (repo / "pyproject.toml").write_text('[project]\nname = "team"\n\n[tool.servegate]\n')
    (repo / "data/models/m/model.safetensors").write_bytes(b"weights v1")
    (repo / "data/prompts").mkdir(parents=True)
    (repo / "data/prompts/p.jsonl").write_text('{"id": "p1"}\n')
    run_dir = tmp_path / "results" / FIXTURE.name
    shutil.copytree(FIXTURE, run_dir)
    record = json.loads((run_dir / "run.json").read_text())
    weights = sha256_file(repo / "data/models/m/model.safetensors")
    record["manifest"] = {
        **copy.deepcopy(now),
        "model": {
            "path": "data/models/m",
            "sha256": weights,
            "weights": {"model.safetensors": weights},
        },
        "prompt_set": {
            "path": "data/prompts/p.jsonl",
            "sha256": sha256_file(repo / "data/prompts/p.jsonl"),
        },
    }
    (run_dir / "run.json").write_text(json.dumps(record))
    return repo, run_dir


def test_the_same_machine_and_files_verify(checkout: tuple[Path, Path], now: dict) -> None:
    repo, run_dir = checkout
    result = verify_run(run_dir, repo, environment=lambda: now)
    assert result.ok, result.text()
    areas = {c.area for c in result.checks}
    assert areas >= {"model", "prompt set", "runtime", "package", "hardware"}
    assert "every recorded item matches" in result.text()


def test_each_difference_is_named_with_both_values(checkout: tuple[Path, Path], now: dict) -> None:
    repo, run_dir = checkout
    (repo / "data/models/m/model.safetensors").write_bytes(b"weights v2")
    (repo / "data/prompts/p.jsonl").unlink()
    changed = copy.deepcopy(now)
    changed["runtime"]["packages"]["pandas"] = "0.0.1"
    changed["runtime"]["python"] = "3.12.0"
    changed["hardware"]["cpu_logical_cores"] = 64
    changed["hardware"]["gpus"] = [{"name": "NVIDIA L4"}]
    result = verify_run(run_dir, repo, environment=lambda: changed)
    differs = {(c.area, c.item): c for c in result.differences}
    assert set(differs) == {
        ("model", "data/models/m/model.safetensors sha256"),
        ("prompt set", "data/prompts/p.jsonl sha256"),
        ("package", "pandas"),
        ("runtime", "python"),
        ("hardware", "cpu_logical_cores"),
        ("hardware", "GPUs"),
    }
    assert differs[("package", "pandas")].current == "0.0.1"
    assert differs[("hardware", "GPUs")].recorded == "none"
    text = result.text()
    assert "DIFFERS  prompt set: data/prompts/p.jsonl sha256: recorded " in text
    assert ", now missing" in text
    assert "6 item(s) differ" in text


def test_the_command_exits_1_on_a_difference_and_0_when_same(
    checkout: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, run_dir = checkout
    monkeypatch.delenv(ROOT_ENV, raising=False)
    (repo / "notebooks").mkdir()
    monkeypatch.chdir(repo / "notebooks")  # the recorded paths are under the project root
    # the checkout has no git: the recorded commit now reads as unknown, a difference
    assert main(["verify", str(run_dir)]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS  code: git commit" in out
    assert "DIFFERS  model" not in out and "DIFFERS  prompt set" not in out, out
    assert main(["verify", "--results-dir", str(run_dir.parent)]) == 1  # newest vLLM run
    assert f"verify {run_dir.name}" in capsys.readouterr().out


def test_nothing_to_verify_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match=r"no vllm run with a manifest under .*make report"):
        latest_run_dir(tmp_path)
    skipped = FIXTURE_RUNS / SKIPPED_RUN
    with pytest.raises(RunFolderError, match="has no manifest"):
        verify_run(skipped)
