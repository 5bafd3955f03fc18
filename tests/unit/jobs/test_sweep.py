"""Sweeps: the sweep file's checks (before anything starts), its settings and id, and resuming.

The runs here attach to the calibration server (``base_url`` in the base params), so each
setting's server block is only recorded; the real vLLM sweep is in tests/integration.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.core.errors import ConfigError
from servegate.core.progress import Counter, Waiter, reporter
from servegate.jobs.sweep import run_sweep
from servegate.jobs.sweep_file import load_sweep
from servegate.runs.sweep import sweep_runs
from tests.helpers import REPO

CPU_DEFAULT = str(REPO / "params" / "cpu_default.yaml")


def _sweep(tmp_path: Path, body: dict, name: str = "sw.yaml") -> Path:
    """A sweep file over params/cpu_default.yaml whose run folders go under tmp_path; its model
    folder does not exist, so a check that let bad input through could never start vLLM."""
    params = {
        "results_dir": str(tmp_path / "results"),
        "model_path": str(tmp_path / "no-model"),
        **body.get("params", {}),
    }
    content = {"base": CPU_DEFAULT, **body, "params": params}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


BAD_INPUT = [
    pytest.param(
        {"settings": [{"max_num_seq": 4}]},
        r"unknown server setting 'max_num_seq'; did you mean 'max_num_seqs'\? known: .*extra_args",
        id="unknown-flag",
    ),
    pytest.param({"grid": {}}, r"grid is empty; give server keys with lists", id="empty-grid"),
    pytest.param(
        {"grid": {"max_num_seqs": []}},
        r"grid.max_num_seqs is an empty list; give it the values to try",
        id="empty-grid-key",
    ),
    pytest.param({"settings": []}, r"settings is an empty list; list at least one", id="empty"),
    pytest.param({}, r"no settings; add `settings:` .* or `grid:`", id="no-settings"),
    pytest.param(
        {
            "settings": [{"enforce_eager": True}],
            "search": {"min_concurrency": 8, "max_concurrency": 4},
        },
        r"min_concurrency \(8\) is above max_concurrency \(4\); swap them",
        id="min-above-max",
    ),
    pytest.param(
        {"settings": [{"enforce_eager": True}], "search": {"p95_ms": "fast"}},
        r"search\.p95_ms: Input should be a valid number.*got 'fast' \(p95 latency limit\)",
        id="limit-not-a-number",
    ),
    pytest.param(
        {"settings": [{"enforce_eager": True}], "search": {"max_requests": 50}},
        r"max_requests 50 is too few for any level to PASS.*set max_requests to \d+ or more",
        id="budget-below-minimum",
    ),
    pytest.param(
        {"settings": [{"max_num_seqs": "four"}]},
        r"server settings of 'max_num_seqs-four': max_num_seqs: Input should be a valid integer",
        id="bad-value",
    ),
    pytest.param(
        {"settings": [{"server": {"model": "/elsewhere"}}]},
        r"sets server.model, which the sweep sets itself .*; remove it",
        id="fixed-key",
    ),
    pytest.param(
        {"setings": [{"enforce_eager": True}]},
        r"unknown parameter 'setings' \(known: .*settings",
        id="unknown-top-key",
    ),
    pytest.param(
        {"settings": [{"name": "a", "server": {"enforce_eager": True}}, {"name": "a"}]},
        r"two settings are named 'a'; give each its own name",
        id="duplicate-name",
    ),
    pytest.param(
        {"settings": [{"enforce_eager": True}, {"name": "again", "enforce_eager": True}]},
        r"change the same server settings \(enforce_eager=true\); remove one",
        id="duplicate-setting",
    ),
    pytest.param(
        {"settings": [{"enforce_eager": True}], "params": {"backend": "openai"}},
        r"backend 'openai'; a sweep varies vLLM's server settings.*backend: vllm",
        id="hosted-base",
    ),
    pytest.param(
        {"settings": [{"name": "x", "server": {"enforce_eager": True}, "env": {}}]},
        r"setting 'x' has env beside `server`",
        id="key-beside-server",
    ),
    pytest.param(
        {"settings": [{"server": {"env": {"HF_TOKEN": "hf_x"}}}]},
        # Refused as the file is read (core.params_file), before the sweep's own check.
        r"sw.yaml: 'HF_TOKEN' looks like a secret; secrets come from the environment only",
        id="secret",
    ),
    pytest.param(
        {"grid": {"extra_args": [["--api-key", "sk-x"]]}},
        r"server setting 'extra_args' \('--api-key'\) looks like a secret",
        id="secret-flag",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_INPUT)
def test_bad_input_is_one_error_naming_the_field_before_anything_runs(
    tmp_path: Path, body: dict, message: str
) -> None:
    path = _sweep(tmp_path, body)
    with pytest.raises(ConfigError, match=message) as info:
        run_sweep(path, progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "results").exists(), "a run folder was written"


def test_a_missing_sweep_file_names_where_sweeps_live(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sweep file .*nope.yaml not found; name one in params/"):
        load_sweep(tmp_path / "nope.yaml")


def test_what_this_machine_lacks_is_said_before_any_server_starts(tmp_path: Path) -> None:
    path = _sweep(tmp_path, {"settings": [{"enforce_eager": True}]})
    missing = tmp_path / "no-model"
    with pytest.raises(ConfigError, match=rf"setting 'base': the model folder {missing} does not"):
        run_sweep(path, progress=False)
    assert not (tmp_path / "results").exists()


def test_a_grid_is_every_combination_after_the_base(tmp_path: Path) -> None:
    grid = {"max_num_seqs": [4, 8], "env.VLLM_CPU_OMP_THREADS_BIND": ["all", "0-1"]}
    plan = load_sweep(_sweep(tmp_path, {"name": "g", "grid": grid}))
    assert [s.name for s in plan.settings] == [
        "base",
        "max_num_seqs-4_env.VLLM_CPU_OMP_THREADS_BIND-all",
        "max_num_seqs-4_env.VLLM_CPU_OMP_THREADS_BIND-0-1",
        "max_num_seqs-8_env.VLLM_CPU_OMP_THREADS_BIND-all",
        "max_num_seqs-8_env.VLLM_CPU_OMP_THREADS_BIND-0-1",
    ]
    assert [s.label for s in plan.settings][:2] == [
        "g-1-base",
        "g-2-max_num_seqs-4_env.VLLM_CPU_OMP_THREADS_BIND-all",
    ]
    last = plan.params_for(plan.settings[-1])
    # Nested mappings merge: the base's env stays beside the setting's.
    assert last.server["env"] == {
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
        "VLLM_CPU_OMP_THREADS_BIND": "0-1",
    }
    assert last.server["max_num_seqs"] == 8 and last.server["dtype"] == "float32"
    assert last.run_label == "g-5-max_num_seqs-8_env.VLLM_CPU_OMP_THREADS_BIND-0-1"


def test_a_listed_setting_without_changes_is_the_base(tmp_path: Path) -> None:
    body = {"settings": [{"name": "default", "server": {}}, {"enforce_eager": True}]}
    plan = load_sweep(_sweep(tmp_path, body))
    assert [(s.name, s.server) for s in plan.settings] == [
        ("default", {}),
        ("enforce_eager-true", {"enforce_eager": True}),
    ]
    off = load_sweep(
        _sweep(tmp_path, {"settings": [{"enforce_eager": True}], "include_base": False})
    )
    assert [s.name for s in off.settings] == ["enforce_eager-true"]


def test_the_sweep_id_follows_what_is_measured_not_where_it_is_kept(tmp_path: Path) -> None:
    body = {"name": "ids", "settings": [{"max_num_seqs": 4}]}
    first = load_sweep(_sweep(tmp_path, body))
    again = load_sweep(_sweep(tmp_path, body, "copy.yaml"))
    moved = load_sweep(_sweep(tmp_path, body), {"results_dir": str(tmp_path / "elsewhere")})
    assert first.sweep_id == again.sweep_id == moved.sweep_id
    assert first.sweep_id.startswith("ids-") and len(first.sweep_id) == len("ids-") + 8
    other = load_sweep(_sweep(tmp_path, {**body, "settings": [{"max_num_seqs": 8}]}))
    fewer = load_sweep(_sweep(tmp_path, body), {"n_prompts": 20})
    assert len({first.sweep_id, other.sweep_id, fewer.sweep_id}) == 3


class _CtrlCAt:
    """A progress reporter that keeps every stage line and raises KeyboardInterrupt, as Ctrl-C
    would, at the ``nth`` line holding ``text``."""

    def __init__(self, text: str = "", nth: int = 1) -> None:
        self.text, self.nth, self.lines = text, nth, []
        self._quiet = reporter("off")

    def stage(self, text: str) -> None:
        self.lines.append(text)
        if self.text and self.text in text:
            self.nth -= 1
            if self.nth == 0:
                raise KeyboardInterrupt

    def counter(self, label: str, total: int, unit: str = "requests") -> Counter:
        return self._quiet.counter(label, total, unit)

    def waiter(self, label: str, usual_s: float | None = None, usual_note: str = "") -> Waiter:
        return self._quiet.waiter(label, usual_s, usual_note)


def _attached_sweep(tmp_path: Path, base_url: str) -> Path:
    base = tmp_path / "attached.yaml"
    base.write_text(
        yaml.safe_dump(
            {
                "extends": CPU_DEFAULT,
                "base_url": base_url,
                "model": "calibration",
                "max_tokens": 8,
                "warmup_requests": 0,
                "results_dir": str(tmp_path / "results"),
            }
        )
    )
    sweep = tmp_path / "resume.yaml"
    search = {"p95_ms": 200, "p50_ms": 100, "max_concurrency": 2, "max_requests": 120}
    sweep.write_text(
        yaml.safe_dump(
            {
                "base": "attached.yaml",  # beside the sweep file
                "search": search,
                "settings": [{"name": "eager", "server": {"enforce_eager": True}}],
                "grid": {"max_num_seqs": [4]},
            }
        )
    )
    return sweep


def test_an_interrupted_sweep_keeps_its_finished_settings_and_resumes(tmp_path: Path) -> None:
    config = CalibrationConfig(
        seed=4, ttft_ms=5, itl_ms=1, output_tokens_min=2, output_tokens_max=4
    )
    with CalibrationServer(config) as srv:
        path = _attached_sweep(tmp_path, srv.base_url)
        plan = load_sweep(path)
        ctrl_c = _CtrlCAt("search c1:", nth=2)  # in the second setting, after its first level
        with pytest.raises(KeyboardInterrupt):
            run_sweep(plan, progress=ctrl_c)
        assert any("interrupted during eager: 1 of 3 settings finished" in x for x in ctrl_c.lines)
        states = {
            (r.record.setting.name, r.state)
            for r in sweep_runs(plan.results_dir, plan.sweep_id)
            if r.record.setting
        }
        assert states == {("base", "complete"), ("eager", "interrupted")}

        again = _CtrlCAt()
        result = run_sweep(path, progress=again)
        third = run_sweep(path, progress=False)
    assert [(o.setting.name, o.state, o.reused) for o in result.outcomes] == [
        ("base", "complete", True),
        ("eager", "complete", False),
        ("max_num_seqs-4", "complete", False),
    ]
    assert any("attached" in x or "base_url is set" in x for x in again.lines)
    assert all(o.reused for o in third.outcomes)
    runs = sweep_runs(plan.results_dir, plan.sweep_id)
    assert len(runs) == 4  # the interrupted one is kept beside its redo; nothing is run twice
    for outcome in result.outcomes:
        assert outcome.run_dir is not None
        record = json.loads((outcome.run_dir / "run.json").read_text())
        assert record["sweep_id"] == plan.sweep_id
        assert record["setting"] == {"name": outcome.setting.name, "server": outcome.setting.server}
        assert record["search"]["max_passing_concurrency"] == 2
        server = record["params"]["server"]
        assert server["env"] == {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
        assert server.get("enforce_eager") is (True if outcome.setting.name == "eager" else None)


@pytest.mark.parametrize(
    "path", sorted((REPO / "params" / "sweeps").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_sweep_file_in_params_is_valid(path: Path, tmp_path: Path) -> None:
    plan = load_sweep(path, {"results_dir": str(tmp_path / "results")})
    assert plan.settings and plan.sweep_id.startswith(f"{path.stem}-")
    assert sum(1 for s in plan.settings if not s.server) == 1  # one base, the reference
    assert not (tmp_path / "results").exists()  # reading it starts and writes nothing


def test_the_dtype_sweep_measures_float32_as_the_base_and_bfloat16_against_it() -> None:
    plan = load_sweep(REPO / "params" / "sweeps" / "cpu_dtype.yaml")
    assert [(s.name, s.server) for s in plan.settings] == [
        ("float32", {}),
        ("bfloat16", {"dtype": "bfloat16"}),
    ]
    dtypes = [plan.params_for(s).server["dtype"] for s in plan.settings]
    assert dtypes == ["float32", "bfloat16"]
    assert plan.base.quality_prompts  # the answers are what tells the two apart
