"""The four notebooks as JupyterLab runs them: a real kernel whose working directory is notebooks/.

Lab starts each kernel in the notebook's own folder, so a relative path parameter read from the
working directory would look for ``notebooks/data/prompts/...`` and write
``notebooks/eval/...``. Here each notebook runs top to bottom in a throw-away project with
nothing but its defaults for the paths (01 gets only a base URL and small counts), and every
file must land under the project's eval/ and reports/, none under notebooks/.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import papermill
import pytest

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.core.paths import ROOT_ENV
from servegate.history.aggregate import load_history
from tests.helpers import HOSTED_RUN, PRICING, REPO, VLLM_RUN, copy_fixtures

pytestmark = pytest.mark.notebooks

NAMES = [
    "01_benchmark.ipynb",
    "02_aggregate.ipynb",
    "03_decision_report.ipynb",
    "04_capacity_plan.ipynb",
]


@pytest.fixture(scope="module")
def target() -> Iterator[CalibrationServer]:
    """A fast stand-in for vLLM, serving the embedded default's model name."""
    config = CalibrationConfig(
        seed=5, ttft_ms=3, itl_ms=1, output_tokens_min=3, output_tokens_max=6, model="smollm2"
    )
    with CalibrationServer(config) as srv:
        yield srv


def _project(root: Path) -> Path:
    """A servegate project as a team's checkout holds it: the notebooks, the prompt sets, the
    price sheet, the POC summaries and some runs (the fixture runs)."""
    (root / "data/history").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "team"\n\n[tool.servegate]\n')
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    (root / "data/prompts").symlink_to(REPO / "data/prompts", target_is_directory=True)
    (root / "data/quality").symlink_to(REPO / "data/quality", target_is_directory=True)
    (root / "data/limits").symlink_to(REPO / "data/limits", target_is_directory=True)
    shutil.copy(REPO / "data/hardware.yaml", root / "data/hardware.yaml")
    shutil.copy(PRICING, root / "data/pricing.yaml")
    shutil.copy(REPO / "data/history/poc_summaries.yaml", root / "data/history")
    copy_fixtures(root / "eval/results")
    return root


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def _text_output(notebook: Path) -> str:
    """The stream output of every cell of an executed notebook, joined."""
    cells = json.loads(notebook.read_text())["cells"]
    return "".join(
        "".join(out.get("text", ""))
        for cell in cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


def test_each_notebook_runs_in_its_own_folder_with_its_default_paths(
    tmp_path: Path, target: CalibrationServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ROOT_ENV, raising=False)  # found from the kernel's working directory
    root = _project(tmp_path / "project")
    notebooks = root / "notebooks"
    before = _files(notebooks)
    out = tmp_path / "out"  # the executed notebooks: outside the project
    out.mkdir()
    parameters: dict[str, dict[str, object]] = {
        "01_benchmark.ipynb": {
            "base_url": target.root_url,
            "n_prompts": 16,
            "baseline_prompts": 4,
            "concurrency": [1, 8],
            "warmup_requests": 1,
        },
    }
    for name in NAMES:
        papermill.execute_notebook(
            str(notebooks / name),
            str(out / name),
            parameters=parameters.get(name, {}),
            kernel_name="python3",
            progress_bar=False,
            cwd=str(notebooks),  # as JupyterLab starts the kernel
        )
    assert os.getcwd() != str(notebooks)  # the kernel's folder, not this process's

    runs = sorted(p.name for p in (root / "eval/results").iterdir())
    [new_run] = [r for r in runs if r.endswith("_cpu-default_vllm")]
    assert f"run folder {root / 'eval/results' / new_run} (complete)" in _text_output(
        out / NAMES[0]
    )
    assert json.loads((root / "eval/results" / new_run / "run.json").read_text())["state"] == (
        "complete"
    )
    history = load_history(root / "eval/reports/aggregate_history.csv")
    assert {new_run, VLLM_RUN, HOSTED_RUN} <= set(history["run_id"])
    assert (history["source"] == "summary_only").any()  # the POC summaries were found
    [decision] = (root / "reports").glob("*_decision.json")
    assert json.loads(decision.read_text())["local_run"] == new_run
    assert f"local run:  {new_run}" in _text_output(out / NAMES[3])
    assert _files(notebooks) == before, "a notebook wrote into notebooks/"
