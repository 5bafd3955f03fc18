"""``servegate sweep`` end to end: papermill runs notebooks/06_sweep.ipynb over the calibration
server (the sweep attached by ``base_url``, so its server settings are only recorded)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.cli import main

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


def _sweep_file(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "cal.yaml"
    search = {"p95_ms": 200, "p50_ms": 100, "max_concurrency": 2, "max_requests": 120}
    params = {
        "base_url": base_url,
        "model": "calibration",
        "max_tokens": 8,
        "warmup_requests": 0,
        "results_dir": str(tmp_path / "results"),
    }
    body = {
        "base": str(Path.cwd() / "params/cpu_default.yaml"),
        "params": params,
        "search": search,
        "settings": [{"name": "eager", "server": {"enforce_eager": True}}],
    }
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def test_sweep_runs_each_setting_prints_the_table_and_keeps_its_notebook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = CalibrationConfig(
        seed=6, ttft_ms=5, itl_ms=1, output_tokens_min=2, output_tokens_max=4
    )
    with CalibrationServer(config) as srv:
        sweep = _sweep_file(tmp_path, srv.base_url)
        assert main(["sweep", str(sweep), "-q"]) == 0
        out = capsys.readouterr().out
        folders = sorted(p for p in (tmp_path / "results").iterdir() if p.is_dir())
        assert [p.name.split("_", 1)[1] for p in folders] == ["cal-1-base_vllm", "cal-2-eager_vllm"]
        lines = out.splitlines()
        assert lines[0].startswith("sweep: base") and "PASS at c2 (p50 " in lines[0]
        assert lines[1].startswith("sweep: eager") and "PASS at c2 (p50 " in lines[1]
        # One server's " tok" answers, all wrong alike: eager ties with the base's answers.
        assert "; answers 0% [0 - 3], PASS (the reference)" in lines[0]
        assert "; answers 0% [0 - 3], PASS against base: +0 pts [-3, +3]" in lines[1]
        # Which wins is chance (one server); eager winning is said against the base.
        assert lines[2].startswith("sweep: winner: ")
        assert lines[2].startswith("sweep: winner: base") or "against base: " in lines[2]
        (notebook,) = (tmp_path / "results").glob("sweep_cal-*.ipynb")
        assert f"sweep: notebook {notebook}" in out
        shown = json.dumps([c.get("outputs", []) for c in nbformat.read(notebook, 4).cells])
        assert "image/png" in shown and "capacity req/s" in shown and "winner: " in shown
        assert "PASS (the reference)" in shown  # the answers column
        record = json.loads((folders[1] / "run.json").read_text())
        assert record["setting"] == {"name": "eager", "server": {"enforce_eager": True}}

        assert main(["sweep", str(sweep), "-q", "--no-run"]) == 0  # reads, starts nothing
    assert sorted(p for p in (tmp_path / "results").iterdir() if p.is_dir()) == folders
    assert "sweep: winner: " in capsys.readouterr().out


def test_a_bad_setting_stops_the_sweep_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = _sweep_file(tmp_path, "http://127.0.0.1:9/v1")
    body = yaml.safe_load(sweep.read_text())
    body["grid"] = {"max_num_seqs": [4, 8], "enforce_eagre": [True]}
    sweep.write_text(yaml.safe_dump(body))
    assert main(["sweep", str(sweep)]) == 2
    err = capsys.readouterr().err
    assert "unknown server setting 'enforce_eagre'; did you mean 'enforce_eager'?" in err
    assert err.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "results").exists()
