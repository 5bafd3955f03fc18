"""Where a servegate project lives, so a relative path means the same file from any folder.

JupyterLab starts each kernel in the notebook's own folder (``notebooks/``), cron in the home
folder, and papermill wherever it was called. A path parameter such as ``eval/results`` is
therefore resolved against the project root, never against the working directory:

1. ``$SERVEGATE_ROOT`` when set (a configured root: a scheduler, a test, an installed package);
2. else the nearest folder at or above the working directory that is marked as one: a
   ``servegate.toml`` file (what ``servegate init`` writes) or a ``pyproject.toml`` with a
   ``[tool.servegate]`` table (this checkout), the way git finds ``.git`` and ruff its
   configuration;
3. else the checkout this package was imported from, when it is such a project.

Installed from a wheel there is no checkout: the notebooks and the default params and data ship
inside the package (``servegate/_project/``, see pyproject.toml) and ``project_template()``
finds them, for ``servegate init`` to copy and for the jobs to execute the notebooks from.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from servegate.core.errors import ConfigError

__all__ = [
    "MARKER_FILE",
    "ROOT_ENV",
    "find_input",
    "is_project_root",
    "package_checkout",
    "project_root",
    "project_template",
    "resolve_path",
]

#: The environment variable that names the project root explicitly.
ROOT_ENV = "SERVEGATE_ROOT"
#: The file that marks a project made by ``servegate init``.
MARKER_FILE = "servegate.toml"

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
# The checkout holding lib/servegate/core/ (an editable install), three levels up.
_PACKAGE_CHECKOUT = _PACKAGE_DIR.parents[1]
# The project files a wheel carries (absent in a checkout, where they are the checkout's own).
_BUNDLED_PROJECT = _PACKAGE_DIR / "_project"


def is_project_root(folder: Path) -> bool:
    """Whether ``folder`` holds a ``servegate.toml`` or a ``pyproject.toml`` with a
    ``[tool.servegate]`` table."""
    if (folder / MARKER_FILE).is_file():
        return True
    marker = folder / "pyproject.toml"
    if not marker.is_file():
        return False
    try:
        data = tomllib.loads(marker.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return isinstance(data.get("tool", {}).get("servegate"), dict)


def project_root(start: Path | None = None) -> Path:
    """The project root (see the module docstring), an absolute path.

    :param start: where the upward search begins; the working directory by default.
    :raises ConfigError: when ``$SERVEGATE_ROOT`` is not a folder, or no project is found.
    """
    configured = os.environ.get(ROOT_ENV)
    if configured:
        root = Path(configured).expanduser().resolve()
        if not root.is_dir():
            raise ConfigError(
                f"{ROOT_ENV}={configured} is not a folder; point it at your servegate project "
                "(the folder holding params/, data/ and eval/), or unset it"
            )
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_project_root(folder):
            return folder
    if is_project_root(_PACKAGE_CHECKOUT):
        return _PACKAGE_CHECKOUT
    raise ConfigError(
        f"no servegate project found at or above {here}: run from inside a servegate project "
        f"(make one with `servegate init DIR`), or set {ROOT_ENV} to the folder holding "
        "params/, data/ and eval/"
    )


def package_checkout() -> Path | None:
    """The servegate checkout this package runs from (an editable install), or None when it
    was installed from a wheel: then there is no servegate commit to record."""
    return _PACKAGE_CHECKOUT if is_project_root(_PACKAGE_CHECKOUT) else None


def project_template() -> Path:
    """The folder holding servegate's own ``notebooks/``, ``params/`` and ``data/``: the files
    packed into the wheel, or the checkout when running from one.

    :raises ConfigError: when neither is there (a broken installation).
    """
    if (_BUNDLED_PROJECT / "notebooks").is_dir():
        return _BUNDLED_PROJECT
    checkout = package_checkout()
    if checkout is not None:
        return checkout
    raise ConfigError(
        f"servegate's notebooks are missing from {_BUNDLED_PROJECT}: the installation is "
        "incomplete; reinstall it with `pip install --force-reinstall servegate`"
    )


def resolve_path(path: str | os.PathLike[str], root: Path | None = None) -> Path:
    """``path`` as an absolute path: kept when absolute (``~`` expanded), else under the root.

    :param root: the project root; found with ``project_root()`` when not given.
    """
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    return (root or project_root()) / candidate


def find_input(path: str | os.PathLike[str]) -> Path:
    """A file the user named on a command line: as the shell means it (from the working
    directory) when it exists there, else under the project root (``params/x.yaml`` from any
    folder of the project)."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute() or candidate.exists():
        return candidate.resolve()
    return resolve_path(candidate)
