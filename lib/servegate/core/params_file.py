"""Read papermill parameter files (YAML) with errors that name the file and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from servegate.core.errors import ConfigError

__all__ = ["load_params_file"]


def load_params_file(path: str | Path) -> dict[str, Any]:  # YAML boundary: validated later
    """Load a YAML mapping of parameters.

    :raises ConfigError: when the file is missing, not YAML, or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"parameter file {path} not found; pick one in params/, e.g. params/cpu_default.yaml"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"parameter file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"parameter file {path} must hold a mapping of name: value, got {type(data).__name__}"
        )
    return data
