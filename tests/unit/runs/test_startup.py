"""The usual vLLM start time comes from the newest recorded starts of the same model."""

from __future__ import annotations

import json
from pathlib import Path

from servegate.runs.startup import RECENT, usual_startup


def _run(results: Path, name: str, model: str, startup_s: float | None, ready_at: float) -> None:
    folder = results / name
    folder.mkdir(parents=True)
    server = {"startup_s": startup_s, "ready_at": ready_at} if startup_s is not None else None
    record = {"params": {"model": model}, "server": server}
    (folder / "run.json").write_text(json.dumps(record))


def test_no_earlier_start_is_said_plainly(tmp_path: Path) -> None:
    assert usual_startup(tmp_path / "missing", "smollm2") == (
        None,
        "no earlier start recorded here",
    )


def test_the_median_of_the_newest_starts_of_the_same_model(tmp_path: Path) -> None:
    for i, seconds in enumerate([500, 500, 90, 100, 110, 96, 98]):  # two old slow ones
        _run(tmp_path, f"r{i}", "smollm2", seconds, ready_at=1000.0 + i)
    _run(tmp_path, "other", "llama", 30, ready_at=2000.0)
    _run(tmp_path, "hosted", "smollm2", None, ready_at=3000.0)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json")
    usual, note = usual_startup(tmp_path, "smollm2")
    assert RECENT == 5
    assert usual == 98.0
    assert note == "usually ~1 min 38 s here, median of 5 earlier starts"
