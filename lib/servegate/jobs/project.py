"""A new servegate project folder for an installed servegate: ``servegate init DIR``.

A checkout is already a project (its pyproject.toml has ``[tool.servegate]``). Installed from a
wheel, servegate carries its notebooks and default inputs inside the package; ``init_project``
copies them into ``DIR`` with a ``servegate.toml`` marker, so relative paths in params files
(``data/prompts/...``, ``eval/results``) resolve there (``servegate.core.paths``) and a user can
edit the params, add prompt sets and open the notebooks in JupyterLab.

An existing file is never overwritten: ``init`` on a project that has it keeps the user's copy
and says so, so running it again after an upgrade adds only what is new.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from servegate import __version__
from servegate.core.errors import ConfigError
from servegate.core.fsutil import atomic_write_text
from servegate.core.paths import MARKER_FILE, project_template

__all__ = ["PROJECT_FILES", "PROJECT_FOLDERS", "InitResult", "init_project"]

#: What a project gets from the template: (folder, file patterns). The data scripts that made the
#: prompt and quality sets stay with servegate (they are development tools, not inputs).
PROJECT_FILES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("notebooks", ("*.ipynb",)),
    ("params", ("*.yaml",)),
    ("params/sweeps", ("*.yaml",)),
    ("data", ("pricing.yaml", "hardware.yaml")),
    ("data/prompts", ("*.jsonl", "README.md")),
    ("data/quality", ("*.jsonl", "README.md")),
    ("data/history", ("*.yaml",)),
    ("data/models", ("*.json",)),
    ("data/limits", ("*.yaml",)),
)
#: The folders a run writes to, made empty.
PROJECT_FOLDERS = ("eval/results", "eval/reports", "reports", "logs")

_MARKER_TEXT = """\
# Marks this folder as a servegate project root: relative paths in params files and notebook
# parameters (data/prompts/..., eval/results) resolve here from any working directory.
# Written by `servegate init` (servegate {version}).
"""


@dataclass
class InitResult:
    """What ``init_project`` did: files copied, files kept as they were, folders made."""

    root: Path
    copied: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)


def init_project(dest: str | Path) -> InitResult:
    """Make ``dest`` a servegate project (created if missing); never overwrite a file.

    :raises ConfigError: when ``dest`` is a file, or is servegate's own template folder.
    """
    root = Path(dest).expanduser().resolve()
    template = project_template().resolve()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"servegate init: {root} is a file; name a folder for the project")
    if root == template:
        raise ConfigError(
            f"servegate init: {root} is servegate's own copy of the project files; "
            "name another folder"
        )
    result = InitResult(root=root)
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER_FILE
    if marker.exists():
        result.kept.append(marker)
    else:
        atomic_write_text(marker, _MARKER_TEXT.format(version=__version__))
        result.copied.append(marker)
    for folder, patterns in PROJECT_FILES:
        for pattern in patterns:
            for source in sorted((template / folder).glob(pattern)):
                target = root / folder / source.name
                if target.exists():
                    result.kept.append(target)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                # Copy to a temporary name, then rename: an interrupted init leaves no half file.
                partial = target.with_name(f".{target.name}.partial")
                shutil.copyfile(source, partial)
                partial.replace(target)
                result.copied.append(target)
    for folder in PROJECT_FOLDERS:
        path = root / folder
        if not path.is_dir():
            path.mkdir(parents=True)
            result.folders.append(path)
    return result
