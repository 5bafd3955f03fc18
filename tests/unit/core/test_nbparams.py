"""A misspelt papermill ``-p`` name is refused with the closest known name."""

from __future__ import annotations

import pytest

from servegate.core.errors import ConfigError
from servegate.core.nbparams import assigned_names, check_injected_parameters

PARAMS_CELL = 'results_dir = "eval/results"  # where\nhistory_path = "h.csv"\nn_prompts: int = 5\n'


def test_the_parameters_cells_names_are_read_without_running_it() -> None:
    assert assigned_names(PARAMS_CELL) == ["results_dir", "history_path", "n_prompts"]
    assert assigned_names("a = b = 1\nx.y = 2\nif True:\n    z = 3\n") == ["a", "b"]
    assert assigned_names("%matplotlib inline") == []


def test_a_typo_names_the_closest_known_parameter() -> None:
    history = ["", PARAMS_CELL, '# Parameters\nn_promts = 10\nresults_dir = "/tmp/r"\n', "x = 1"]
    with pytest.raises(
        ConfigError, match=r"unknown parameter 'n_promts' \(did you mean 'n_prompts'\?\)"
    ):
        check_injected_parameters({"In": history})


def test_a_name_far_from_any_lists_the_known_ones() -> None:
    history = ["", PARAMS_CELL, "# Parameters\nzzz = 1\n"]
    with pytest.raises(ConfigError, match=r"'zzz' \(known: history_path, n_prompts, results_dir\)"):
        check_injected_parameters({"In": history})


def test_known_names_pass_and_also_known_extends_them() -> None:
    history = ["", PARAMS_CELL, '# Parameters\nresults_dir = "/tmp/r"\nseed = 3\n']
    with pytest.raises(ConfigError, match="'seed'"):
        check_injected_parameters({"In": history})
    check_injected_parameters({"In": history}, also_known=["seed"])


@pytest.mark.parametrize(
    "namespace",
    [
        {},  # not IPython
        {"In": ["", PARAMS_CELL, "x = 1"]},  # JupyterLab: no injected cell
        {"In": "not a list"},
    ],
)
def test_outside_papermill_it_does_nothing(namespace: dict) -> None:
    check_injected_parameters(namespace)
