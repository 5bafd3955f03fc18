"""Request statuses are a StrEnum that every file on disk still writes as plain text."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

from servegate.core.names import FAILURE_STATUSES, STATUSES, Status
from servegate.measure.loadgen import ChatTarget, LevelSpec, LoadGenerator
from servegate.measure.prompts import Message, Prompt
from servegate.records.request import RequestRecord
from servegate.runs.writer import RunWriter
from servegate.server.launch import find_free_port


def _record(seq: int, status: Status) -> RequestRecord:
    ok = status is Status.OK
    return RequestRecord(
        run_id="x",
        backend="vllm",
        model="m",
        concurrency=1,
        request_rate=None,
        prompt_id=f"p{seq}",
        status=status,
        http_status=200 if ok else None,
        error="" if ok else "no complete answer within 60 s",
        queue_ms=0.1,
        ttft_ms=50.0 if ok else None,
        e2e_ms=500.0,
        itl_mean_ms=None,
        tpot_ms=None,
        input_tokens=None,
        output_tokens=None,
        tokens_source="none",
        level="c1",
        seq=seq,
        category="x",
        due_s=0.0,
        end_s=0.5,
        itl_max_ms=None,
        n_content_chunks=0,
        finish_reason=None,
    )


def test_the_tuples_are_plain_strings_in_the_enums_order() -> None:
    assert STATUSES == ("ok", "error", "timeout", "oom", "cancelled")
    assert FAILURE_STATUSES == ("error", "timeout", "oom", "cancelled")
    assert all(type(s) is str for s in (*STATUSES, *FAILURE_STATUSES))
    assert Status.OK == "ok" and Status("timeout") is Status.TIMEOUT


def test_requests_csv_and_json_get_the_bare_word(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, "20261127T000000Z_status_vllm")
    for seq, status in enumerate(Status):
        writer.append(_record(seq, status))
    writer.close("complete", counts={s: 1 for s in Status})
    with open(writer.requests_path, newline="", encoding="utf-8") as fh:
        assert [row["status"] for row in csv.DictReader(fh)] == list(STATUSES)
    assert "Status." not in writer.requests_path.read_text(encoding="utf-8")
    saved = json.loads(writer.run_json_path.read_text(encoding="utf-8"))
    assert saved["counts"] == dict.fromkeys(STATUSES, 1)


def test_the_load_generator_makes_status_members() -> None:
    target = ChatTarget(
        base_url=f"http://127.0.0.1:{find_free_port()}/v1", model="m", backend="vllm"
    )
    prompt = Prompt(
        id="p", category="x", messages=[Message(role="user", content="hi")], max_tokens=4
    )
    gen = LoadGenerator(target, run_id="t", progress=False, warm_connections=False)
    records = asyncio.run(gen.run_level(LevelSpec(prompts=[prompt] * 3, concurrency=1))).records
    assert [r.status for r in records] == [Status.ERROR] * 3
    assert all(type(r.status) is Status for r in records)
