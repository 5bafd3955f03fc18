"""Shared fixtures. The real vLLM server is started once per session (see integration/conftest)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from servegate.core.paths import ROOT_ENV
from tests.helpers import REPO


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def lab_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away servegate project (a ``[tool.servegate]`` pyproject) whose ``notebooks/`` is
    the working directory, as JupyterLab starts a notebook's kernel; returns the project root."""
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "team"\n\n[tool.servegate]\n')
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(root / "notebooks")
    return root


@pytest.fixture
def fake_model_dir(tmp_path: Path) -> Path:
    """A folder that passes the structural model check (no real weights)."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    (folder / "tokenizer.json").write_text("{}")
    return folder


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Servers in tests listen on 127.0.0.1; a proxy in the environment must not intercept them.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("TQDM_DISABLE", "1")
