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

from servegate.core.params_file import load_layered_params, load_params_file
from servegate.jobs.bench import BenchmarkParams
from servegate.jobs.search import SearchRunParams
from servegate.report.params import ReportParams
from tests.helpers import REPO

NOTEBOOKS = REPO / "notebooks"
GENERATOR = REPO / "scripts" / "make_notebooks.py"
NOTEBOOK_NAMES = [
    "01_benchmark.ipynb",
    "02_aggregate.ipynb",
    "03_decision_report.ipynb",
    "04_capacity_plan.ipynb",
    "05_search.ipynb",
    "06_sweep.ipynb",
]
#: The embedded default: what a notebook opened as is, and ``make report``, run.
EMBEDDED = REPO / "params" / "cpu_default.yaml"
#: What a notebook opened as is runs, where it is not the embedded default: ``make search``'s
#: params file (the embedded default's server and prompts, levels chosen by the search).
EMBEDDED_FOR = {"05_search.ipynb": REPO / "params" / "search_cpu.yaml"}
#: Notebook parameters that differ from the embedded default on purpose, and why. In the report
#: notebooks, ``gate_concurrency = None`` means "the level the run itself names" (which the CPU
#: default sets to 8), so None there is the same judgement as 8, and stays right for other runs.
NOT_THE_EMBEDDED_DEFAULT = {
    ("03_decision_report.ipynb", "gate_concurrency"): None,
    ("04_capacity_plan.ipynb", "gate_concurrency"): None,
    # None: the sweep file's own results_dir (its base params'), eval/results for cpu_flags.
    ("06_sweep.ipynb", "results_dir"): None,
}

#: The notebooks that validate their parameters with a model (``Model.from_namespace(globals())``)
#: and that model. 02 and 04 pass their parameters to functions one by one: no model to match.
PARAMS_MODELS: dict[str, type[BaseModel]] = {
    "01_benchmark.ipynb": BenchmarkParams,
    "03_decision_report.ipynb": ReportParams,
    "05_search.ipynb": SearchRunParams,
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
    assert [p.name for p in committed] == NOTEBOOK_NAMES
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
            default = default.model_dump()  # a nested block as a mapping, as a notebook sets it
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


def _parameters_cell(path: Path) -> dict[str, object]:
    """The literal value of each name the notebook's parameters cell assigns, read with ast (as
    Python reads it, comments and layout aside)."""
    cells = json.loads(path.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    values: dict[str, object] = {}
    for node in ast.parse("".join(tagged[0]["source"])).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, (
            f"{path.name}: the parameters cell holds only `name = literal` lines"
        )
        target = node.targets[0]
        assert isinstance(target, ast.Name)
        values[target.id] = ast.literal_eval(node.value)
    return values


@pytest.mark.parametrize("notebook", NOTEBOOK_NAMES)
def test_notebook_defaults_are_the_embedded_default(notebook: str) -> None:
    """A notebook opened in JupyterLab and run as is runs what `make report` runs (05: what
    `make search` runs)."""
    embedded = load_layered_params([EMBEDDED_FOR.get(notebook, EMBEDDED)]).values
    cell = _parameters_cell(NOTEBOOKS / notebook)
    shared = sorted(set(cell) & set(embedded))
    assert "results_dir" in shared  # every notebook reads the runs
    differ = {
        name: (cell[name], embedded[name])
        for name in shared
        if cell[name] != embedded[name]
        and NOT_THE_EMBEDDED_DEFAULT.get((notebook, name), "no exemption") != cell[name]
    }
    assert differ == {}, f"{notebook} parameters cell != {EMBEDDED.name}: {differ}"


def test_the_benchmark_notebook_sets_every_embedded_parameter() -> None:
    embedded = load_params_file(EMBEDDED)
    cell = _parameters_cell(NOTEBOOKS / "01_benchmark.ipynb")
    assert sorted(set(embedded) - set(cell)) == []
    assert cell["server"] == embedded["server"]  # the launch settings, env included
    assert cell["server"]["env"] == {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}  # type: ignore[index]


@pytest.mark.parametrize(("notebook", "model"), sorted(PARAMS_MODELS.items()))
def test_the_params_models_defaults_are_the_embedded_default(
    notebook: str, model: type[BaseModel]
) -> None:
    """The library's defaults (a script calling ``run_benchmark({...})``) are the embedded default
    too, for every name the file sets, bar the exemptions above."""
    embedded = load_layered_params([EMBEDDED_FOR.get(notebook, EMBEDDED)]).values
    defaults = _flat_defaults(model)
    shared = sorted(set(defaults) & set(embedded))
    differ = {
        name: (defaults[name], embedded[name])
        for name in shared
        if defaults[name] != embedded[name]
        and NOT_THE_EMBEDDED_DEFAULT.get((notebook, name), "no exemption") != defaults[name]
    }
    assert differ == {}, f"{model.__name__} default != its embedded default: {differ}"
    if model is BenchmarkParams:
        assert shared == sorted(embedded)


# --- hygiene -------------------------------------------------------------------------------------


def _saved_results(path: Path) -> list[str]:
    """The code cells of a notebook file saved with outputs or an execution count."""
    cells = json.loads(path.read_text())["cells"]
    return [
        f"cell {index} (id {cell.get('id', '?')})"
        for index, cell in enumerate(cells)
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]


@pytest.mark.parametrize("notebook", NOTEBOOK_NAMES)
def test_committed_notebooks_hold_no_outputs(notebook: str) -> None:
    """Outputs in git are stale results and noisy diffs; Lab saves them when a notebook is run."""
    dirty = _saved_results(NOTEBOOKS / notebook)
    assert not dirty, (
        f"notebooks/{notebook} was saved with outputs or execution counts in {', '.join(dirty)}; "
        "run `python scripts/make_notebooks.py` (or `make notebooks`) to write it clean, "
        "then commit it"
    )


def test_a_notebook_saved_after_a_run_is_caught(tmp_path: Path) -> None:
    nb = json.loads((NOTEBOOKS / "02_aggregate.ipynb").read_text())
    code_cells = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    nb["cells"][code_cells[0]]["execution_count"] = 1
    nb["cells"][code_cells[1]]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": ["3 rows\n"]}
    ]
    saved = tmp_path / "02_aggregate.ipynb"
    saved.write_text(json.dumps(nb))
    assert _saved_results(saved) == [
        f"cell {code_cells[0]} (id 02-{code_cells[0]:02d})",
        f"cell {code_cells[1]} (id 02-{code_cells[1]:02d})",
    ]
