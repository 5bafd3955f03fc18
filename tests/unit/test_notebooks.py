"""The committed notebooks: what their generator writes, and defaults that match their models."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import papermill
import pytest
from pydantic import BaseModel

from servegate.jobs.bench import BenchmarkParams
from servegate.report.params import ReportParams
from tests.helpers import REPO

NOTEBOOKS = REPO / "notebooks"
GENERATOR = REPO / "scripts" / "make_notebooks.py"

#: The notebooks that validate their parameters with a model (``Model.from_namespace(globals())``)
#: and that model. 02 and 04 pass their parameters to functions one by one: no model to match.
PARAMS_MODELS: dict[str, type[BaseModel]] = {
    "01_benchmark.ipynb": BenchmarkParams,
    "03_decision_report.ipynb": ReportParams,
}


@pytest.fixture(scope="module")
def make_notebooks() -> ModuleType:
    """The generator script, imported from its file (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location("make_notebooks", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the generator -------------------------------------------------------------------------------


def test_the_committed_notebooks_are_what_the_generator_writes() -> None:
    committed = sorted(NOTEBOOKS.glob("0*.ipynb"))
    assert [p.name for p in committed] == [
        "01_benchmark.ipynb",
        "02_aggregate.ipynb",
        "03_decision_report.ipynb",
        "04_capacity_plan.ipynb",
    ]
    before = {p: p.stat().st_mtime_ns for p in committed}
    env = {**os.environ, "PYTHONPATH": str(REPO / "lib")}
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert {p: p.stat().st_mtime_ns for p in committed} == before, "--check wrote a notebook"


def test_check_names_each_changed_or_missing_notebook_and_writes_nothing(
    make_notebooks: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in NOTEBOOKS.glob("0*.ipynb"):
        shutil.copy2(path, tmp_path / path.name)
    assert make_notebooks.stale_notebooks(tmp_path) == []
    assert make_notebooks.main(["--check", "--out", str(tmp_path)]) == 0
    report = tmp_path / "03_decision_report.ipynb"
    tampered = report.read_text().replace("p95_ms = 3000.0", "p95_ms = 2500.0", 1)
    assert tampered != report.read_text()
    report.write_text(tampered)
    (tmp_path / "04_capacity_plan.ipynb").unlink()
    capsys.readouterr()
    assert make_notebooks.stale_notebooks(tmp_path) == [
        "03_decision_report.ipynb",
        "04_capacity_plan.ipynb",
    ]
    assert make_notebooks.main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{report} differs from scripts/make_notebooks.py" in err
    assert (
        "04_capacity_plan.ipynb differs" in err and "run `python scripts/make_notebooks.py`" in err
    )
    assert report.read_text() == tampered and not (tmp_path / "04_capacity_plan.ipynb").exists()


# --- parameter defaults --------------------------------------------------------------------------


def _source(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])


def test_every_notebook_that_validates_its_parameters_is_checked() -> None:
    found = {
        path.name: re.findall(r"(\w+)\.from_namespace\(globals\(\)\)", _source(path))
        for path in sorted(NOTEBOOKS.glob("0*.ipynb"))
    }
    with_model = {name: models for name, models in found.items() if models}
    assert with_model == {name: [m.__name__] for name, m in PARAMS_MODELS.items()}


def _flat_defaults(model: type[BaseModel]) -> dict[str, object]:
    """Each field's default; a nested parameter section's fields also by their own (flat) names,
    as papermill passes them (``ReportParams.gates.p95_ms`` is the notebook's ``p95_ms``)."""
    out: dict[str, object] = {}
    for name, info in model.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            out.update({k: getattr(default, k) for k in type(default).model_fields})
        out[name] = default
    return out


@pytest.mark.parametrize(("notebook", "model"), sorted(PARAMS_MODELS.items()))
def test_notebook_defaults_are_the_params_models_defaults(
    notebook: str, model: type[BaseModel]
) -> None:
    """papermill fills in only the parameters given: the rest keep the notebook's literal, so
    it must be the model's default, or the notebook and the library disagree silently."""
    parameters = papermill.inspect_notebook(str(NOTEBOOKS / notebook))
    assert parameters, f"{notebook} has no cell tagged 'parameters'"
    defaults = _flat_defaults(model)
    unknown = sorted(set(parameters) - set(defaults))
    assert not unknown, f"{notebook} parameters {unknown} are not fields of {model.__name__}"
    differ = {}
    for name, info in parameters.items():
        in_notebook = ast.literal_eval(info["default"])
        in_model = defaults[name]
        if in_notebook != in_model:
            differ[name] = (in_notebook, in_model)
    assert differ == {}, f"{notebook} default != {model.__name__} default: {differ}"
