"""A capacity search run end to end against the calibration server scripted with a knee."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from servegate.calibration.server import CalibrationConfig, CalibrationServer, script_for
from servegate.core.errors import ConfigError
from servegate.jobs.search import run_search
from servegate.runs.reader import load_run
from tests.helpers import TEST_PROMPTS

KNEE = 5
#: Fast answers (about 30 ms) while at most KNEE requests are in flight; 400 ms more beyond.
KNEE_SERVER = CalibrationConfig(
    seed=3,
    ttft_ms={"kind": "lognormal", "median": 20, "sigma": 0.3},
    itl_ms=2,
    output_tokens_min=2,
    output_tokens_max=6,
    slots=KNEE,
    knee_delay_ms=400,
)
LIMITS = {"p95_ms": 200, "p50_ms": 100, "max_concurrency": 64}


def _params(base_url: str, tmp_path: Path, **search: object) -> dict[str, object]:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(p.model_dump_json() + "\n" for p in TEST_PROMPTS[:40]))
    return {
        "base_url": base_url,
        "model": "calibration",
        "prompts": str(prompts),
        "results_dir": str(tmp_path / "results"),
        "run_label": "knee",
        "max_tokens": 8,
        "search": {**LIMITS, **search},
    }


def test_the_search_finds_the_servers_knee_and_records_every_level(tmp_path: Path) -> None:
    lines: list[str] = []

    class Lines:
        def stage(self, text: str) -> None:
            lines.append(text)

        def counter(self, label: str, total: int) -> object:
            from servegate.core.progress import reporter

            return reporter("off").counter(label, total)

        def waiter(self, label: str, total_s: float) -> object:
            from servegate.core.progress import reporter

            return reporter("off").waiter(label, total_s)

    with CalibrationServer(KNEE_SERVER) as srv:
        result = run_search(_params(srv.base_url, tmp_path), progress=Lines())  # type: ignore[arg-type]
    found = result.search
    assert result.run.state == "complete" and found is not None and found.complete
    assert found.max_passing_concurrency == KNEE
    assert found.min_failing_concurrency == KNEE + 1
    assert [lv.concurrency for lv in found.levels] == [1, 2, 4, 8, 6, 5]
    assert {lv.concurrency: lv.verdict for lv in found.levels} == {
        1: "PASS", 2: "PASS", 4: "PASS", 8: "FAIL", 6: "FAIL", 5: "PASS"
    }  # fmt: skip
    assert all(lv.stopped == "settled" for lv in found.levels)
    # A level stops once settled: a failing level long before the budget, a passing one at
    # the first look where a p95 can pass.
    assert all(lv.n < found.limits.max_requests for lv in found.levels)
    assert found.capacity is not None and found.capacity.concurrency == KNEE
    assert (found.capacity.req_per_s.value or 0) > 0
    # Every request sent is a requests.csv row of its level; run.json's levels match.
    with open(result.run.run_dir / "requests.csv", newline="") as fh:
        per_level = Counter(row["level"] for row in csv.DictReader(fh))
    assert per_level == {lv.level: lv.requests_sent for lv in found.levels}
    assert found.requests_sent == sum(per_level.values())
    run = load_run(result.run.run_dir)
    assert [lv.level for lv in run.levels] == [lv.level for lv in found.levels]
    assert run.record.search == found
    assert any(line.startswith(f"search: capacity c{KNEE} (c{KNEE + 1} fails)") for line in lines)


def test_a_budget_too_small_to_settle_leaves_levels_inconclusive(tmp_path: Path) -> None:
    # A p95 limit at the server's own scripted p95 (plus the client's ~1 ms) cannot settle.
    config = KNEE_SERVER.model_copy(update={"slots": None})
    scripted = [script_for(config, i).limited(8).e2e_ms for i in range(2000)]
    limit = float(np.percentile(scripted, 95)) + 1.0
    with CalibrationServer(config) as srv:
        params = _params(srv.base_url, tmp_path, p95_ms=limit, p50_ms=1000, max_requests=110)
        params["search"]["max_concurrency"] = 2  # type: ignore[index]
        found = run_search(params, progress=False).search
    assert found is not None
    assert found.inconclusive, [(lv.concurrency, lv.verdict) for lv in found.levels]
    assert all(lv.stopped in ("budget", "settled") for lv in found.levels)
    unsettled = [lv for lv in found.levels if lv.verdict == "INCONCLUSIVE"]
    assert all(lv.stopped == "budget" and lv.n == 110 for lv in unsettled)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"request_rate": 5.0}, "remove `request_rate`"),
        ({"search": {"max_concurency": 8}}, "max_concurency"),
        ({"search": {"min_concurrency": 9, "max_concurrency": 4}}, "swap them"),
        ({"search": {"p95_ms": "three seconds"}}, "p95_ms"),
        ({"search": {"max_requests": 40}}, "set max_requests to"),
    ],
)
def test_bad_search_parameters_stop_before_anything_is_written(
    tmp_path: Path, change: dict[str, object], words: str
) -> None:
    params = {**_params("http://127.0.0.1:9/v1", tmp_path), **change}
    with pytest.raises(ConfigError, match=words):
        run_search(params, progress=False)
    assert not (tmp_path / "results").exists()
