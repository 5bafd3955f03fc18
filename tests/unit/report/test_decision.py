"""Reading a saved decision JSON back: validated, and a file of another version says what to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from servegate.core.errors import ConfigError
from servegate.core.names import DECISION_SCHEMA_VERSION
from servegate.report.decision import load_decision
from tests.helpers import REPO

FIXTURE = REPO / "tests/fixtures/decision/fixture_runs_decision.json"


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = shutil.copy(FIXTURE, tmp_path / "decision.json")
    data = json.loads(path.read_text())
    data.update(servegate_version="0.1.0", git_commit=None)
    path.write_text(json.dumps(data))
    return path


def test_a_saved_decision_reads_back_typed(saved: Path) -> None:
    report = load_decision(saved)
    expected = json.loads(FIXTURE.read_text())
    assert report.decision == expected["decision"]
    assert [g.name for g in report.gates] == [g["name"] for g in expected["gates"]]
    assert report.schema_version == DECISION_SCHEMA_VERSION


def _with(path: Path, **changes: object) -> Path:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))
    return path


def test_a_newer_version_says_to_upgrade(saved: Path) -> None:
    with pytest.raises(ConfigError, match="written by a newer servegate: upgrade servegate"):
        load_decision(_with(saved, schema_version=DECISION_SCHEMA_VERSION + 1))


def test_an_older_version_says_to_render_again(saved: Path) -> None:
    with pytest.raises(ConfigError, match=r"schema_version 0, .*make render"):
        load_decision(_with(saved, schema_version=0))


def test_a_damaged_decision_names_the_field(saved: Path) -> None:
    with pytest.raises(ConfigError, match=r"\('decision',\).*render it again"):
        load_decision(_with(saved, decision="MAYBE"))


def test_a_missing_file_says_to_run_the_report(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run `make report` first"):
        load_decision(tmp_path / "nope.json")
