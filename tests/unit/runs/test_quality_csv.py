"""quality.csv: written whole and atomically, read back checked against run.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.core.errors import RunFolderError
from servegate.records.quality import QualityRecord
from servegate.records.run import RunRecord
from servegate.runs.quality_csv import read_quality, write_quality

ROWS = [
    {"id": "q1", "category": "format", "status": "ok", "passed": True, "reason": "ok",
     "answer": '{"name": "Ana",\n "age": 31}'},
    {"id": "q2", "category": "factual", "status": "ok", "passed": False,
     "reason": "missing 'Paris'", "answer": "L'Étoile, la Marseillaise, \"la femme\"…"},
    {"id": "q3", "category": "factual", "status": "timeout", "passed": False,
     "reason": "request failed", "answer": ""},
]  # fmt: skip


def record(n: int = 3, n_passed: int = 1) -> RunRecord:
    quality = QualityRecord(
        n=n,
        n_passed=n_passed,
        n_failed_requests=1,
        accuracy=n_passed / n,
        ci_low=0.0,
        ci_high=1.0,
        by_category={},
        path="data/quality/checks_v1.jsonl",
        sha256="0" * 64,
        max_tokens=96,
        concurrency=8,
    )
    return RunRecord.model_validate(
        {
            "schema_version": 1,
            "run_id": "r",
            "state": "complete",
            "created_at": "2026-11-30T00:00:00+00:00",
            "quality": quality.model_dump(mode="json"),
        }
    )


def test_answers_with_newlines_quotes_and_commas_read_back_whole(tmp_path: Path) -> None:
    write_quality(tmp_path, ROWS)
    frame = read_quality(tmp_path, record())
    assert frame is not None
    assert frame["answer"].tolist() == [r["answer"] for r in ROWS]
    assert frame["passed"].tolist() == [True, False, False]
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed, not left


def test_a_run_without_a_quality_pass_reads_as_none(tmp_path: Path) -> None:
    bare = RunRecord.model_validate(
        {"schema_version": 1, "run_id": "r", "state": "complete",
         "created_at": "2026-11-30T00:00:00+00:00"}
    )  # fmt: skip
    assert read_quality(tmp_path, bare) is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace("false", "nope", 1), "passed is 'nope'"),
        (lambda text: text.replace("timeout", "slow", 1), "status 'slow'"),
        (lambda text: text.replace("id,category", "item,category", 1), "header is"),
        (lambda text: text.rsplit("q3", 1)[0], "holds 2 items"),
    ],
)
def test_an_edited_file_is_refused_with_the_line_and_the_fix(
    tmp_path: Path, edit, message: str
) -> None:
    path = write_quality(tmp_path, ROWS)
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(RunFolderError, match=message) as caught:
        read_quality(tmp_path, record())
    assert "run the benchmark again" in str(caught.value)


def test_a_missing_file_is_an_error_when_run_json_has_quality(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match=r"is missing, though run\.json has a `quality`"):
        read_quality(tmp_path, record())
