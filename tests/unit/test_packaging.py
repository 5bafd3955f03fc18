"""Packaging holds together: pyproject.toml declares what the library imports, the pins agree
with it, nothing is pinned that nothing uses, the wheel's package list matches lib/, and the
conda file installs the same pins as `make setup`.

The install itself (a fresh venv, `pip install .` offline, `servegate report`) is
tests/integration/test_packaging.py.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.helpers import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
LIB = REPO / "lib"

#: Pinned in requirements.txt, imported by nothing: each one's use, in words.
TOOLS = {
    "jupyterlab": "`make lab`",
    "ipykernel": "the kernel papermill runs the notebooks in",
    "ipywidgets": "tqdm.auto's progress bars in JupyterLab (imported by tqdm)",
    "nbclient": "papermill's executor: its version decides how cells run",
    "tokenizers": "the model conversion's bytes (used by transformers)",
    "safetensors": "the model conversion's bytes (used by transformers)",
    "gguf": "the model conversion's GGUF reader (used by transformers)",
    "accelerate": "the model conversion's loader (used by transformers)",
    "pytest-timeout": "the test suite's timeouts",
    "ruff": "`make lint`",
    "mypy": "`make lint`",
    "types-pyyaml": "stubs for mypy",
    "types-psutil": "stubs for mypy",
    "types-tqdm": "stubs for mypy",
    "pandas-stubs": "stubs for mypy",
}
#: Imported by the library but optional, with the extra that installs each.
OPTIONAL = {"torch": "model", "transformers": "model", "pynvml": "gpu"}


def _imports(paths: list[Path]) -> dict[str, set[str]]:
    """Top-level third-party module -> the files importing it (absolute imports, any depth)."""
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in {"servegate", "tests"}:
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


@functools.cache
def _providers() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())  # scans every installed package


def _distribution(module: str, *, required: bool = True) -> str | None:
    dists = _providers().get(module)
    if not dists:
        # Scripts import their neighbours (scripts/make_schemas.py); the library never may.
        assert not required, f"{module} is imported but no installed distribution provides it"
        return None
    return canonicalize_name(dists[0])


def _version(req: Requirement) -> Version:
    return Version(next(iter(req.specifier)).version)


def _requirements(*files: str) -> dict[str, Requirement]:
    pins = {}
    for name in files:
        for line in (REPO / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-"):
                req = Requirement(line)
                pins[canonicalize_name(req.name)] = req
    return pins


def _declared() -> tuple[dict[str, Requirement], dict[str, dict[str, Requirement]]]:
    project = PYPROJECT["project"]
    core = {canonicalize_name(r.name): r for r in map(Requirement, project["dependencies"])}
    extras = {
        extra: {canonicalize_name(r.name): r for r in map(Requirement, reqs)}
        for extra, reqs in project["optional-dependencies"].items()
    }
    return core, extras


def test_every_package_the_library_imports_is_declared() -> None:
    core, extras = _declared()
    for module, files in _imports(sorted(LIB.rglob("*.py"))).items():
        dist = _distribution(module)
        if module in OPTIONAL:
            assert dist in extras[OPTIONAL[module]], f"{module}: add {dist} to [{OPTIONAL[module]}]"
        else:
            assert dist in core, (
                f"lib imports {module} ({', '.join(sorted(files))}); add {dist} to "
                "[project] dependencies in pyproject.toml"
            )


def test_every_declared_dependency_is_imported_or_says_why() -> None:
    core, _ = _declared()
    imported = {_distribution(m) for m in _imports(sorted(LIB.rglob("*.py")))}
    unused = set(core) - imported - set(TOOLS)
    assert not unused, f"declared but never imported by lib: {sorted(unused)}"


def test_every_pin_is_used() -> None:
    """Nothing is pinned that nothing imports (seaborn was, for a round)."""
    code = [
        p
        for d in ("lib", "tests", "scripts", "benchmarks", "data")
        for p in REPO.joinpath(d).rglob("*.py")
    ]
    imported = {_distribution(m, required=False) for m in _imports(code)}
    unused = set(_requirements("requirements.txt")) - imported - set(TOOLS)
    assert not unused, f"pinned in requirements.txt but used by nothing: {sorted(unused)}"
    assert "seaborn" not in _requirements("requirements.txt")


def test_the_pins_satisfy_the_declared_ranges() -> None:
    core, extras = _declared()
    pins = _requirements("requirements.txt", "requirements-engine-cpu.txt")
    lock = _requirements("requirements-lock-cpu.txt")
    for name, req in {**core, **extras["lab"], **extras["model"]}.items():
        pin = pins.get(name) or lock.get(name)
        assert pin is not None, f"{name} is declared in pyproject.toml but pinned nowhere"
        version = _version(pin)
        assert req.specifier.contains(version, prereleases=True), (
            f"{name}: the pin {version} is outside pyproject.toml's range {req.specifier}"
        )
        if name in pins and name in lock:  # torch: 2.13.0 pinned, 2.13.0+cpu locked
            assert _version(pins[name]).public == _version(lock[name]).public, name


def test_the_wheel_lists_every_package_of_lib() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(LIB).parts) for init in LIB.rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    mapped = PYPROJECT["tool"]["setuptools"]["package-dir"]
    for package in listed - found:
        assert package in mapped, f"{package} is listed but neither in lib/ nor mapped"
        assert (REPO / mapped[package]).is_dir(), f"{package}: {mapped[package]} is missing"
        assert package in PYPROJECT["tool"]["setuptools"]["package-data"], package


def test_environment_yml_installs_what_setup_installs() -> None:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert python == ["python=3.11"]
    assert PYPROJECT["project"]["requires-python"] == ">=3.11,<3.12"
    pip_lines = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    setup = (REPO / "scripts/setup_env.sh").read_text()
    source = (REPO / "scripts/torch_source.sh").read_text()
    default_index = re.search(r'TORCH_INDEX_URL:-([^}"]+)', source).group(1)
    assert pip_lines == [
        f"--extra-index-url {default_index}",
        "-c requirements-lock-cpu.txt",
        "-r requirements-engine-cpu.txt",
        "-r requirements.txt",
        "-e .",
    ]
    for line in pip_lines[1:4]:
        assert (REPO / line.split()[1]).is_file(), line
    # The same files are what set-up installs (and the three packages it removes, named too).
    assert '-r "requirements-engine-$engine.txt" -r requirements.txt' in setup
    for package in ("torchvision", "torchaudio", "torchcodec"):
        assert package in setup and package in (REPO / "environment.yml").read_text()


@pytest.mark.parametrize("engine", ["cpu", "gpu"])
def test_each_engine_has_its_lock(engine: str) -> None:
    lock = _requirements(f"requirements-lock-{engine}.txt")
    engine_pins = _requirements(f"requirements-engine-{engine}.txt")
    suite = _requirements("requirements.txt")
    for name, pin in {**engine_pins, **suite}.items():
        assert name in lock, f"{name} is missing from requirements-lock-{engine}.txt"
        assert _version(pin).public == _version(lock[name]).public, (
            f"{name}: pinned {_version(pin)}, locked {_version(lock[name])} "
            f"(run `make lock ENGINE={engine}`)"
        )


def _torch_source(pin: str, env: dict[str, str]) -> str:
    proc = subprocess.run(
        ["bash", str(REPO / "scripts/torch_source.sh"), sys.executable, pin],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return proc.stdout.strip()


def _wheel(folder: Path, name: str, version: str) -> None:
    """A minimal installable wheel (metadata only): what pip's dry run reads."""
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as whl:
        whl.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        whl.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        whl.writestr(f"{info}/RECORD", "")


def test_the_cpu_torch_comes_from_a_local_wheel_else_from_the_configured_index(
    tmp_path: Path,
) -> None:
    """On a machine without the local wheel, set-up names the index and never waits on it:
    the local check is offline (`--no-index`)."""
    links = tmp_path / "wheels"
    links.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "TORCH_INDEX_URL"
    }
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_FIND_LINKS=str(links))
    pin = "torch==9.9.9+cpu"  # a version nothing installed has
    assert _torch_source(pin, env) == "https://download.pytorch.org/whl/cpu"
    mirror = "https://mirror.example/whl/cpu"
    assert _torch_source(pin, {**env, "TORCH_INDEX_URL": mirror}) == mirror
    _wheel(links, "torch", "9.9.9+cpu")
    assert _torch_source(pin, {**env, "TORCH_INDEX_URL": mirror}) == "local"
    installed = importlib.metadata.version("torch")
    assert _torch_source(f"torch=={installed}", env) == "installed"
