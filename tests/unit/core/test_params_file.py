"""Params layering: files in order, ``extends`` chains, ``-p key=value`` overrides, no secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from servegate.core.config import validate_params
from servegate.core.errors import ConfigError
from servegate.core.params_file import (
    load_layered_params,
    looks_secret,
    merge_params,
    parse_override,
)
from servegate.jobs.bench import BenchmarkParams
from tests.helpers import REPO

PARAMS = REPO / "params"


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_later_files_win_and_nested_mappings_merge_key_by_key(tmp_path: Path) -> None:
    a = _write(
        tmp_path / "a.yaml",
        {"n_prompts": 10, "concurrency": [1, 8], "server": {"dtype": "float32", "env": {"A": "1"}}},
    )
    b = _write(tmp_path / "b.yaml", {"n_prompts": 20, "server": {"env": {"B": "2"}}})
    layered = load_layered_params([a, b])
    assert layered.values == {
        "n_prompts": 20,
        "concurrency": [1, 8],
        "server": {"dtype": "float32", "env": {"A": "1", "B": "2"}},
    }
    assert layered.layers == (str(a), str(b))


def test_a_list_is_replaced_not_merged() -> None:
    assert merge_params({"concurrency": [1, 8, 32]}, {"concurrency": [4]}) == {"concurrency": [4]}


def test_extends_chains_relative_to_the_files_folder(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    base = _write(tmp_path / "base.yaml", {"n_prompts": 1, "seed": 1, "server": {"dtype": "x"}})
    mid = _write(sub / "mid.yaml", {"extends": "../base.yaml", "seed": 2})
    top = _write(sub / "top.yaml", {"extends": "mid.yaml", "server": {"max_model_len": 64}})
    layered = load_layered_params([top])
    assert layered.values == {
        "n_prompts": 1,
        "seed": 2,
        "server": {"dtype": "x", "max_model_len": 64},
    }
    assert layered.layers == (str(base.resolve()), str(mid.resolve()), str(top))


def test_an_extends_cycle_names_the_files_and_the_fix(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.yaml", {"extends": "b.yaml"})
    _write(tmp_path / "b.yaml", {"extends": "a.yaml"})
    with pytest.raises(ConfigError, match=r"`extends` loops .*a\.yaml.*b\.yaml.*a\.yaml.*remove"):
        load_layered_params([a])


def test_a_missing_base_names_the_file_and_the_fix(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.yaml", {"extends": "nope.yaml"})
    with pytest.raises(
        ConfigError, match=rf"{a} extends nope.yaml, but .*nope.yaml does not exist"
    ):
        load_layered_params([a])


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("concurrency=[1,8]", ["concurrency"], [1, 8]),
        ("n_prompts=20", ["n_prompts"], 20),
        ("max_tokens=null", ["max_tokens"], None),
        ("run_label=q3", ["run_label"], "q3"),
        ("server.max_num_seqs=16", ["server", "max_num_seqs"], 16),
        ("base_url=http://h:8000/v1", ["base_url"], "http://h:8000/v1"),
        ("run_label=", ["run_label"], ""),
    ],
)
def test_an_override_value_is_yaml(text: str, key: list[str], value: object) -> None:
    assert parse_override(text) == (key, value)


@pytest.mark.parametrize("text", ["n_prompts", "=3", "server..x=1"])
def test_a_malformed_override_is_a_clear_error(text: str) -> None:
    with pytest.raises(ConfigError, match=r"is not key=value; write e\.g\. -p n_prompts=20"):
        parse_override(text)


def test_overrides_come_last_and_reach_into_mappings(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.yaml", {"n_prompts": 10, "server": {"dtype": "float32"}})
    layered = load_layered_params(
        [a], ["n_prompts=20", "server.max_num_seqs=16", "server.env.X=1", "max_tokens=null"]
    )
    assert layered.values == {
        "n_prompts": 20,
        "server": {"dtype": "float32", "max_num_seqs": 16, "env": {"X": 1}},
        "max_tokens": None,
    }
    assert layered.layers[1:] == (
        "-p n_prompts=20",
        "-p server.max_num_seqs=16",
        "-p server.env.X=1",
        "-p max_tokens=null",
    )
    with pytest.raises(ConfigError, match=r"-p n_prompts\.x: n_prompts is 10, not a mapping"):
        load_layered_params([a], ["n_prompts.x=1"])


@pytest.mark.parametrize(
    ("data", "override"),
    [
        ({"server": {"env": {"HF_TOKEN": "hf_abc"}}}, None),
        ({"api_key": "sk-abc"}, None),
        ({"settings": [{"name": "a", "server": {"env": {"HF_TOKEN": "hf_abc"}}}]}, None),
        ({"server": {"extra_args": ["--api-key", "sk-abc"]}}, None),
        ({}, "server.env.OPENAI_API_KEY=sk-abc"),
    ],
)
def test_a_secret_is_refused_without_echoing_it(
    tmp_path: Path, data: dict, override: str | None
) -> None:
    path = _write(tmp_path / "a.yaml", data)
    with pytest.raises(ConfigError, match=r"looks like a secret|secret-looking flag") as info:
        load_layered_params([path], [override] if override else [])
    assert "abc" not in str(info.value) and "from the environment" in str(info.value)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("HF_TOKEN", True),
        ("OPENAI_API_KEY", True),
        ("apiKey", True),
        ("--api-key", True),
        ("password", True),
        ("max_tokens", False),
        ("max_token", False),  # a typo of max_tokens: the validation names it
        ("max_num_batched_tokens", False),
        ("VLLM_CPU_KVCACHE_SPACE", False),
        ("author", False),
    ],
)
def test_what_looks_like_a_secret(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_max_tokens_is_a_count_not_a_secret(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.yaml", {"max_tokens": 32, "server": {"max_num_batched_tokens": 8}})
    assert load_layered_params([path]).values["max_tokens"] == 32


def test_quarterly_is_the_cpu_default_with_its_own_label() -> None:
    quarterly = load_layered_params([PARAMS / "quarterly.yaml"]).values
    default = load_layered_params([PARAMS / "cpu_default.yaml"]).values
    assert quarterly["run_label"] == "quarterly" != default["run_label"]
    assert {**quarterly, "run_label": default["run_label"]} == default


def test_the_hosted_layer_keeps_the_local_workload_and_validates_alone() -> None:
    local = load_layered_params([PARAMS / "cpu_default.yaml"]).values
    hosted = load_layered_params([PARAMS / "cpu_default.yaml", PARAMS / "hosted_openai.yaml"])
    values = hosted.values
    assert values["backend"] == "openai" and values["base_url"] == ""
    for name in ("prompts", "n_prompts", "concurrency", "baseline_prompts", "max_tokens", "seed"):
        assert values[name] == local[name], name
    validate_params(BenchmarkParams, values, what="hosted")
    alone = load_layered_params([PARAMS / "hosted_openai.yaml"]).values
    assert validate_params(BenchmarkParams, alone, what="hosted alone").model == "gpt-4o-mini"


@pytest.mark.parametrize("name", ["cpu_default", "gpu_24gb", "hosted_openai", "quarterly"])
def test_every_shipped_params_file_validates(name: str) -> None:
    values = load_layered_params([PARAMS / f"{name}.yaml"]).values
    validate_params(BenchmarkParams, values, what=name)


def test_a_file_named_on_the_command_line_is_found_from_the_project_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SERVEGATE_ROOT", str(REPO))
    layered = load_layered_params(["params/quarterly.yaml"], ["n_prompts=3"])
    assert layered.layers[-2] == str(PARAMS / "quarterly.yaml")
    assert layered.values["n_prompts"] == 3
