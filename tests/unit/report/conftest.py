"""The rendered test notebook, executed once by papermill for the renderer and browser tests."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from servegate.report import render
from tests.helpers import PLOT_CALL


def _report_notebook() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        new_markdown_cell("# Decision: PAUSE\n\nSee the [gate docs](https://example.com/gates)."),
        new_code_cell("slo_ms = 1000  # ms", metadata={"tags": ["parameters"]}),
        new_code_cell(
            # %matplotlib inline: an MPLBACKEND=Agg in the environment would otherwise reach the
            # kernel and leave the figure out of the notebook.
            "%matplotlib inline\n"
            "import matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots(figsize=(12, 3))\n"
            f"{PLOT_CALL}\n"
            "plt.show()\n"
            "print(f\"{'gate':<10}{'verdict':>8}\")\n"
            "print(f\"{'e2e_p95':<10}{'FAIL':>8}\")"
        ),
        new_code_cell("print('REMOVED_CELL_TEXT')", metadata={"tags": ["remove-cell"]}),
        new_code_cell("print('REMOVED_OUTPUT_TEXT')", metadata={"tags": ["remove-output"]}),
        new_code_cell(
            "import sys, warnings\n"
            "warnings.warn('WARNING_TEXT')\n"
            "print('STDERR_TEXT', file=sys.stderr)\n"
            "print('stdout stays')"
        ),
    ]
    return nb


@pytest.fixture(scope="package")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report notebook, executed by papermill with this test run's own Python."""
    root = tmp_path_factory.mktemp("render")
    # A kernel spec named python3 that runs sys.executable, first on JUPYTER_PATH: the test
    # then needs no `ipykernel install` on a fresh machine, and a user-level python3 spec that
    # points at another interpreter (without matplotlib) cannot be picked instead.
    spec_dir = root / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (servegate tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    source, out = root / "report.ipynb", root / "report.executed.ipynb"
    nbformat.write(_report_notebook(), source)
    with pytest.MonkeyPatch.context() as mp:
        path = os.pathsep.join(
            filter(None, [str(root / "jupyter"), os.environ.get("JUPYTER_PATH")])
        )
        mp.setenv("JUPYTER_PATH", path)
        mp.delenv("MPLBACKEND", raising=False)
        papermill.execute_notebook(
            source, out, kernel_name="python3", progress_bar=False, cwd=str(root)
        )
    return out


@pytest.fixture(scope="package")
def html_path(executed: Path) -> Path:
    return render.render_html(executed, executed.parent / "out" / "report.html")


@pytest.fixture(scope="package")
def html(html_path: Path) -> str:
    return html_path.read_text(encoding="utf-8")
