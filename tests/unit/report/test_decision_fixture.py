"""The decision JSON of the committed fixture runs stays what it was: a refactor changes no verdict.

``tests/fixtures/decision/fixture_runs_decision.json`` was written from the fixture runs before
the typed-record refactor. Only the fields that name the version or the time may differ.
Regenerate it (``--regenerate`` below) only when a change to a figure is intended, and say so in
the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from servegate.core.fsutil import json_safe
from servegate.history.aggregate import rebuild_history
from servegate.report.build import build_report
from tests.conftest import REPO

FIXTURE_RUNS = REPO / "tests/fixtures/runs"
EXPECTED = REPO / "tests/fixtures/decision/fixture_runs_decision.json"
#: Fields that name when or by which version the report was made, not what it found.
VOLATILE = {"generated_at", "schema_version", "servegate_version", "git_commit"}


def decision_of_fixture_runs(tmp: Path) -> dict[str, Any]:
    history = tmp / "history.csv"
    rebuild_history(FIXTURE_RUNS, history)
    report = build_report(
        {"results_dir": str(FIXTURE_RUNS), "history_path": str(history), "min_prompts": 20},
        write=False,
    )
    # Through JSON, as the file is written: +inf is "inf", tuples are lists.
    return json.loads(json.dumps(json_safe(report.decision), sort_keys=True))


def _stable(decision: dict[str, Any]) -> dict[str, Any]:
    stable = {k: v for k, v in decision.items() if k not in VOLATILE}
    run = (stable.get("feasibility") or {}).get("run")
    if run:
        # Where the model's shape came from depends on the machine: its folder's config.json
        # when built (make model), else the model sheet; the figures are the same either way.
        basis = run["basis"]
        assert basis.startswith(("data/models/smollm2-135m-instruct/config.json;", "model sheet"))
        stable["feasibility"] = {**stable["feasibility"], "run": {**run, "basis": "..."}}
    return stable


def test_the_fixture_runs_give_the_committed_decision(tmp_path: Path) -> None:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    actual = decision_of_fixture_runs(tmp_path)
    assert actual["decision"] == expected["decision"]
    assert actual["gates"] == expected["gates"]
    assert _stable(actual) == _stable(expected)


def test_the_comparison_ignores_only_the_volatile_fields(tmp_path: Path) -> None:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    changed = {**expected, "gates": expected["gates"][:-1]}
    assert _stable(changed) != _stable(expected)
    assert VOLATILE.isdisjoint({"decision", "gates", "cost", "caveats"})


if __name__ == "__main__" and "--regenerate" in sys.argv:  # pragma: no cover
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        text = json.dumps(decision_of_fixture_runs(Path(tmp)), indent=2, sort_keys=True)
    EXPECTED.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {EXPECTED}")
