"""requests.csv read back: torn and edited rows refused by line, levels recomputed from rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.core.errors import RunFolderError
from servegate.core.names import REQUEST_COLUMNS
from servegate.records.level import LevelSummary
from servegate.runs.reader import load_run
from tests.helpers import VLLM_RUN, clone_run, edit_json, make_killed_run


def test_truncated_csv_mid_row_names_folder_file_and_line(tmp_path: Path) -> None:
    folder = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_cut_vllm")
    path = folder / "requests.csv"
    path.write_bytes(path.read_bytes()[:-25])
    with pytest.raises(RunFolderError, match=r"requests.csv line 31: the last line is cut") as info:
        load_run(folder)
    assert str(folder) in str(info.value)
    assert "delete the run folder" in str(info.value)
    assert (info.value.file, info.value.line, info.value.run_dir) == (
        "requests.csv",
        31,
        str(folder),
    )


def test_hand_edited_text_latency_is_refused(tmp_path: Path) -> None:
    folder = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_edited_vllm")
    path = folder / "requests.csv"
    lines = path.read_text().splitlines(keepends=True)
    fields = lines[4].rstrip("\r\n").split(",")
    fields[REQUEST_COLUMNS.index("e2e_ms")] = "about 2 s"
    lines[4] = ",".join(fields) + "\r\n"
    path.write_text("".join(lines))
    with pytest.raises(
        RunFolderError, match=r"line 5: column 'e2e_ms' must be a finite number, got 'about 2 s'"
    ) as info:
        load_run(folder)
    assert info.value.line == 5


def test_missing_column_and_unknown_status_are_refused(tmp_path: Path) -> None:
    folder = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_nocol_vllm")
    path = folder / "requests.csv"
    original = path.read_text()
    rows = [line.split(",") for line in original.splitlines()]
    i = rows[0].index("ttft_ms")
    path.write_text("\n".join(",".join(r[:i] + r[i + 1 :]) for r in rows) + "\n")
    with pytest.raises(RunFolderError, match=r"line 1: the header .*missing \['ttft_ms'\]"):
        load_run(folder)
    lines = original.splitlines(keepends=True)
    lines[2] = lines[2].replace(",ok,", ",great,", 1)
    path.write_text("".join(lines))
    with pytest.raises(RunFolderError, match=r"line 3: column 'status' must be one of .*'great'"):
        load_run(folder)


def test_rows_missing_from_a_complete_run_are_refused(tmp_path: Path) -> None:
    folder = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_short_vllm")
    path = folder / "requests.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # cut at a line end: only the counts can tell
    with pytest.raises(RunFolderError, match=r"level 'c8' has 23 rows but run.json counts 24"):
        load_run(folder)


def test_rows_of_another_run_are_refused(tmp_path: Path) -> None:
    folder = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_mixed_vllm")
    path = folder / "requests.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace("20261126T231345Z_mixed_vllm", "20261126T000000Z_other_vllm")
    path.write_text("".join(lines))
    with pytest.raises(RunFolderError, match=r"line 4: run_id is '20261126T000000Z_other_vllm'"):
        load_run(folder)


def test_killed_run_is_incomplete_and_recomputed_from_requests(tmp_path: Path) -> None:
    folder = make_killed_run(tmp_path)
    run = load_run(folder)
    assert run.state == "running" and run.incomplete
    assert [lv.level for lv in run.levels] == ["c1", "c8"]
    c8 = run.levels[1]
    assert c8.recomputed_from == "requests.csv"
    assert (c8.n_requests, c8.n_ok, c8.counts["ok"]) == (10, 10, 10)
    assert c8.concurrency == 8 and c8.request_rate is None
    assert c8.e2e_ms is not None and c8.e2e_ms.n == 10
    assert c8.throughput is not None and (c8.throughput.output_tok_per_s.value or 0) > 0
    assert len(run.requests) == 16
    assert run.notes and "line 18 was cut mid-row" in run.notes[0]


def test_recomputed_level_agrees_with_the_summary_it_replaces(tmp_path: Path) -> None:
    # All c8 rows kept, its summary removed: the recomputation must match what bench wrote.
    folder = clone_run(VLLM_RUN, tmp_path, "20261126T231345Z_again_vllm")
    record = edit_json(folder, state="running")
    original = LevelSummary.model_validate(record["levels"][1])
    edit_json(folder, levels=record["levels"][:1])
    again = load_run(folder).levels[1]
    assert again.recomputed_from == "requests.csv" and original.recomputed_from is None
    assert again.n_requests == original.n_requests == 24
    assert (again.counts, again.n_ok, again.n_errors) == (
        original.counts,
        original.n_ok,
        original.n_errors,
    )
    for metric in ("e2e", "ttft"):
        new, old = again.latency(metric), original.latency(metric)
        assert new is not None and old is not None
        for q in ("p50", "p90", "p95", "p99"):
            assert new.percentile(q).value == pytest.approx(old.percentile(q).value, abs=1e-2)
            assert new.percentile(q).n == old.percentile(q).n
    assert again.throughput is not None and original.throughput is not None
    tok, tok_before = again.throughput.output_tok_per_s, original.throughput.output_tok_per_s
    assert tok.value == pytest.approx(tok_before.value, rel=1e-3)
    assert again.output_tokens_total == original.output_tokens_total
    assert again.tokens_source == original.tokens_source
    assert again.itl_pooled_ms is None  # the gaps are not in requests.csv
