"""run.json's typed record: what the writer may write and every reader reads."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from servegate.records.run import RunRecord
from servegate.runs.writer import RunWriter
from tests.helpers import FIXTURE_RUNS, HOSTED_RUN, SKIPPED_RUN, VLLM_RUN


@pytest.mark.parametrize("run", [VLLM_RUN, HOSTED_RUN, SKIPPED_RUN])
def test_every_fixture_run_json_is_a_run_record(run: str) -> None:
    record = RunRecord.model_validate(json.loads((FIXTURE_RUNS / run / "run.json").read_text()))
    assert record.run_id == run
    assert record.state in {"complete", "skipped"}


def test_inf_in_a_level_is_read_back_as_a_float() -> None:
    data = json.loads((FIXTURE_RUNS / HOSTED_RUN / "run.json").read_text())
    level = RunRecord.model_validate(data).levels[0]
    assert level.ttft_ms is not None and level.ttft_ms.p95.value == math.inf


def test_the_typed_parts_and_the_open_parts_of_the_manifest() -> None:
    data = json.loads((FIXTURE_RUNS / VLLM_RUN / "run.json").read_text())
    record = RunRecord.model_validate(data)
    assert record.manifest.model.weights and len(record.manifest.prompt_set.sha256 or "") == 64
    assert record.manifest.hardware["cpu_model"] == "AMD EPYC"  # kept as recorded
    assert record.params.backend == "vllm" and record.params.model == "smollm2"


def test_a_zone_less_time_is_refused() -> None:
    data = json.loads((FIXTURE_RUNS / SKIPPED_RUN / "run.json").read_text())
    data["created_at"] = "2026-11-26T23:21:43"
    with pytest.raises(ValidationError, match="created_at"):
        RunRecord.model_validate(data)


def test_the_writer_refuses_to_write_what_no_reader_could_read(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, "20261130T000000Z_bad_vllm")
    before = (writer.dir / "run.json").read_text() if (writer.dir / "run.json").exists() else None
    with pytest.raises(ValidationError, match="state"):
        writer.update(state="finished")
    after = (writer.dir / "run.json").read_text() if (writer.dir / "run.json").exists() else None
    assert after == before  # nothing half-written
    assert writer.record["state"] == "running"  # nor changed in memory
    writer.close("skipped", skipped_reason="test")  # the next write still works
    assert json.loads((writer.dir / "run.json").read_text())["state"] == "skipped"
