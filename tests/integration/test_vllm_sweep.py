"""A real sweep on vLLM's CPU build: two settings measured, one bad flag recorded, then resumed."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
import yaml

from servegate.analysis.sweep import sweep_table
from servegate.jobs.sweep import run_sweep
from tests.helpers import REPO

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_a_sweep_measures_each_setting_records_a_bad_flag_and_resumes(
    built_model: Path, tmp_path: Path
) -> None:
    sweep = tmp_path / "tiny.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "base": str(REPO / "params" / "cpu_default.yaml"),
                "params": {
                    "model_path": str(built_model),
                    "results_dir": str(tmp_path / "results"),
                    "max_tokens": 8,
                    "warmup_requests": 0,
                    # The lifecycle is the subject; answers: tests/integration/test_vllm_quality.py
                    "quality_prompts": None,
                    # Eager: no torch.compile, the quickest start; one warm-up request.
                    "server": {"enforce_eager": True, "warmup_requests": 1},
                },
                # Limits no CPU meets: c1 FAILs at the first look (20 requests), so each
                # setting costs a start and a few seconds of requests (make test's budget).
                # The winner's path is held by the calibration tests (tests/unit/analysis).
                "search": {
                    "p95_ms": 50,
                    "p50_ms": 50,
                    "max_concurrency": 4,
                    "max_requests": 110,
                },
                "settings": [
                    {"name": "seqs2", "server": {"max_num_seqs": 2}},
                    {"name": "bad-flag", "server": {"extra_args": ["--no-such-flag"]}},
                ],
            },
            sort_keys=False,
        )
    )
    before = {p.pid for p in psutil.Process().children(recursive=True)}  # the shared server's
    result = run_sweep(sweep, progress=False)
    assert [(o.setting.name, o.state, o.error_kind) for o in result.outcomes] == [
        ("base", "complete", None),
        ("seqs2", "complete", None),
        ("bad-flag", "failed", "start_failed"),
    ]
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert not left, f"vLLM processes left running: {left}"

    table = sweep_table(tmp_path / "results", result.plan.sweep_id)
    rows = {r.name: r for r in table.rows}
    for name in ("base", "seqs2"):
        row = rows[name]
        assert row.capacity is None  # nothing passes 50 ms on a CPU
        assert row.startup_s is not None and row.startup_s > 0
        assert row.peak_rss_mib is not None and row.peak_rss_mib > 200  # vLLM and the model
    assert rows["bad-flag"].reason is not None and "--no-such-flag" in rows["bad-flag"].reason
    assert table.winner is None
    assert "p50" in table.verdict or "p95" in table.verdict, table.verdict

    again = run_sweep(sweep, progress=False)  # everything finished: nothing starts
    assert all(o.reused for o in again.outcomes)
