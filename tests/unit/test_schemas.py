"""The committed JSON Schemas match the typed records, and describe the files servegate writes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from servegate.core.errors import RunFolderError
from servegate.core.names import RUN_SCHEMA_VERSION
from servegate.runs.reader import load_run
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import make_schemas

FIXTURE_RUNS = sorted((REPO / "tests/fixtures/runs").iterdir())


def test_the_committed_schemas_match_the_models() -> None:
    assert make_schemas.stale() == [], "run python scripts/make_schemas.py and commit schemas/"


def test_a_schema_that_lags_its_model_is_named(tmp_path: Path) -> None:
    shutil.copytree(REPO / "schemas", tmp_path, dirs_exist_ok=True)
    schema = json.loads((tmp_path / "run.schema.json").read_text())
    del schema["properties"]["git_commit"]  # as if the model gained a field
    (tmp_path / "run.schema.json").write_text(json.dumps(schema))
    (tmp_path / "history.columns.json").unlink()
    assert make_schemas.stale(tmp_path) == ["run.schema.json", "history.columns.json"]
    (tmp_path / "decision.schema.json").write_text("{}")
    assert "decision.schema.json" in make_schemas.stale(tmp_path)


def test_the_check_command_exits_0_on_the_committed_tree() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts/make_schemas.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("folder", FIXTURE_RUNS, ids=lambda p: p.name)
def test_every_fixture_run_json_validates_against_the_published_schema(folder: Path) -> None:
    schema = json.loads((REPO / "schemas/run.schema.json").read_text())
    record = json.loads((folder / "run.json").read_text())
    jsonschema.validate(record, schema)  # "inf" strings included


def test_the_fixture_decision_validates_against_the_published_schema() -> None:
    schema = json.loads((REPO / "schemas/decision.schema.json").read_text())
    decision = json.loads((REPO / "tests/fixtures/decision/fixture_runs_decision.json").read_text())
    decision.update(servegate_version="0.1.0", git_commit=None)  # written before they existed
    jsonschema.validate(decision, schema)


def test_the_schema_rejects_a_number_written_as_text() -> None:
    schema = json.loads((REPO / "schemas/run.schema.json").read_text())
    record = json.loads((FIXTURE_RUNS[0] / "run.json").read_text())
    record["levels"][0]["e2e_ms"]["p95"]["value"] = "fast"
    with pytest.raises(jsonschema.ValidationError, match="'fast'"):
        jsonschema.validate(record, schema)


def test_history_columns_list_every_column_with_its_dtype() -> None:
    doc = json.loads((REPO / "schemas/history.columns.json").read_text())
    kinds = {c["name"]: c["dtype"] for c in doc["columns"]}
    assert kinds["run_id"] == "str" and kinds["concurrency"] == "int"
    assert kinds["e2e_p95_ms"] == "float" and kinds["incomplete"] == "bool"
    assert sum(c["contract"] for c in doc["columns"]) == 25


def _copy_with_version(tmp_path: Path, version: object) -> Path:
    folder = shutil.copytree(FIXTURE_RUNS[0], tmp_path / FIXTURE_RUNS[0].name)
    record = json.loads((folder / "run.json").read_text())
    record["schema_version"] = version
    (folder / "run.json").write_text(json.dumps(record))
    return folder


def test_a_newer_schema_version_says_to_upgrade(tmp_path: Path) -> None:
    folder = _copy_with_version(tmp_path, RUN_SCHEMA_VERSION + 1)
    with pytest.raises(RunFolderError, match="written by a newer servegate: upgrade servegate"):
        load_run(folder)


def test_an_older_schema_version_names_the_version_that_wrote_it(tmp_path: Path) -> None:
    folder = _copy_with_version(tmp_path, 0)
    with pytest.raises(RunFolderError, match=r"schema_version is 0.*servegate version that wrote"):
        load_run(folder)


def test_run_json_written_now_names_the_servegate_version_and_commit(tmp_path: Path) -> None:
    from servegate import __version__
    from servegate.runs.writer import RunWriter

    writer = RunWriter(tmp_path, "20261130T000000Z_schema_vllm")
    writer.close("skipped", skipped_reason="test")
    run = load_run(writer.dir)
    assert run.record.servegate_version == __version__
    assert run.record.git_commit is None or len(run.record.git_commit) == 40
