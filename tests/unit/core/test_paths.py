"""The project root is found the same way from any folder; relative paths resolve under it."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.core.errors import ConfigError
from servegate.core.paths import ROOT_ENV, find_input, is_project_root, project_root, resolve_path

REPO = Path(__file__).resolve().parents[3]


def _project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.servegate]\n')
    return folder


def test_this_checkout_is_a_project_root() -> None:
    assert is_project_root(REPO)


def test_a_pyproject_without_the_table_is_not_a_root(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert not is_project_root(tmp_path)


def test_from_the_notebooks_folder_the_root_is_the_checkout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(REPO / "notebooks")
    assert project_root() == REPO
    assert resolve_path("eval/results") == REPO / "eval" / "results"


def test_the_nearest_marked_folder_above_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ROOT_ENV, raising=False)
    root = _project(tmp_path / "proj")
    (root / "notebooks").mkdir()
    assert project_root(root / "notebooks") == root.resolve()


def test_the_environment_variable_beats_the_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    monkeypatch.chdir(REPO / "notebooks")
    assert project_root() == tmp_path.resolve()
    assert resolve_path("eval/results") == tmp_path.resolve() / "eval" / "results"


def test_a_configured_root_that_is_not_a_folder_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=f"{ROOT_ENV}=.*unset it"):
        project_root()


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    assert resolve_path(tmp_path / "x.csv") == tmp_path / "x.csv"


def test_a_command_line_file_is_found_from_the_shell_folder_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(REPO / "notebooks")
    assert find_input("../params/cpu_default.yaml") == REPO / "params" / "cpu_default.yaml"
    assert find_input("params/cpu_default.yaml") == REPO / "params" / "cpu_default.yaml"
