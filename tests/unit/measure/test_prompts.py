"""The committed prompt set, its generator, and the loader's validation messages."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest

from servegate.core.errors import ConfigError, PromptFileError
from servegate.core.fsutil import sha256_file
from servegate.measure.prompts import Prompt, PromptSet, load_prompts
from tests.helpers import REPO

PROMPTS = REPO / "data/prompts/interactive_v1.jsonl"
CATEGORIES = {
    "interview_question",
    "answer_feedback",
    "answer_summary",
    "support_chat",
    "field_extraction",
    "intent_classification",
}


@pytest.fixture(scope="module")
def make_prompts() -> ModuleType:
    """The generator script, imported from its file (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location(
        "make_prompts", PROMPTS.with_name("make_prompts.py")
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def committed() -> PromptSet:
    return load_prompts(PROMPTS)


def _chars(prompt: Prompt) -> int:
    return sum(len(m.content) for m in prompt.messages)


# --------------------------------------------------------------------------- the committed set


def test_committed_set_has_500_unique_prompts_in_six_categories(committed: PromptSet) -> None:
    assert len(committed) == 500
    ids = [p.id for p in committed.prompts]
    assert len(set(ids)) == 500
    assert ids[0] == "iv1-0001" and ids[-1] == "iv1-0500"
    counts = committed.by_category()
    assert set(counts) == CATEGORIES
    assert all(60 <= n <= 110 for n in counts.values()), counts
    assert sum(counts.values()) == 500


def test_sha256_is_of_the_file_bytes(committed: PromptSet) -> None:
    assert committed.sha256 == sha256_file(PROMPTS)
    assert committed.path == PROMPTS


def test_input_lengths_spread_from_one_line_to_long_transcripts(committed: PromptSet) -> None:
    lengths = [_chars(p) for p in committed.prompts]
    assert min(lengths) < 200
    assert max(lengths) > 4000
    long_ones = {p.category for p in committed.prompts if _chars(p) > 4000}
    assert "answer_summary" in long_ones


def test_shapes_suit_each_category(committed: PromptSet) -> None:
    max_tokens: dict[str, set[int]] = {c: set() for c in CATEGORIES}
    for p in committed.prompts:
        max_tokens[p.category].add(p.max_tokens)
        if p.category == "support_chat":  # always some history, alternating, ending with user
            turns = [m.role for m in p.messages if m.role != "system"]
            assert len(turns) >= 3 and turns[::2] == ["user"] * len(turns[::2])
            assert turns[1::2] == ["assistant"] * len(turns[1::2])
    assert max(max_tokens["intent_classification"]) <= 16
    assert min(max_tokens["answer_feedback"]) >= 128
    assert any(p.messages[0].role == "system" for p in committed.prompts)
    assert any(p.messages[0].role == "user" for p in committed.prompts)


def test_take_keeps_file_order_and_checks_n(committed: PromptSet) -> None:
    assert committed.take(None) == committed.prompts
    assert [p.id for p in committed.take(3)] == ["iv1-0001", "iv1-0002", "iv1-0003"]
    assert len(committed.take(500)) == 500
    with pytest.raises(ConfigError, match=r"n_prompts=501 but .* holds only 500 prompts"):
        committed.take(501)
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ConfigError, match="must be a positive integer or null"):
            committed.take(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the generator


def test_generator_is_deterministic_and_matches_the_committed_file(make_prompts) -> None:
    first = make_prompts.render(make_prompts.generate())
    assert first == make_prompts.render(make_prompts.generate(make_prompts.DEFAULT_SEED))
    assert first == PROMPTS.read_bytes()
    assert b"\r" not in first and first.endswith(b"\n")
    assert make_prompts.render(make_prompts.generate(1)) != first


def test_check_mode_reports_a_stale_file(make_prompts, tmp_path: Path) -> None:
    stale = tmp_path / "set.jsonl"
    stale.write_bytes(PROMPTS.read_bytes()[:-1])
    assert make_prompts.main(["--check", "--out", str(stale)]) == 1
    stale.write_bytes(PROMPTS.read_bytes())
    assert make_prompts.main(["--check", "--out", str(stale)]) == 0


def test_percentile_matches_linear_interpolation(make_prompts) -> None:
    assert make_prompts.percentile([1, 2, 3, 4], 50) == 2.5
    assert make_prompts.percentile([10, 20, 30, 40, 50], 10) == 14
    assert make_prompts.percentile([7], 90) == 7


# --------------------------------------------------------------------------- validation

GOOD = {
    "id": "p1",
    "category": "c",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 8,
}


def _row(**change: object) -> str:
    row = {**GOOD, **change}
    return json.dumps({k: v for k, v in row.items() if v is not ...})


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (["{oops"], "line 1: not valid JSON"),
        ([_row(), "[1, 2]"], "line 2: expected a JSON object, got a JSON list"),
        ([_row(), "", "42"], "line 3: expected a JSON object, got a JSON int"),
        ([_row(max_tokens=...)], "line 1: missing field 'max_tokens'"),
        ([_row(messages=[{"role": "user"}])], r"line 1: missing field 'messages\[0\].content'"),
        ([_row(maxtokens=3)], r"line 1: unknown field 'maxtokens' \(known: id, category,"),
        (
            [_row(messages=[{"role": "user", "content": "x", "name": "n"}])],
            r"line 1: unknown field 'messages\[0\].name' \(known: role, content\)",
        ),
        (
            [_row(messages=[{"role": "user", "content": "  "}])],
            r"line 1: messages\[0\].content is empty",
        ),
        (
            [_row(messages=[{"role": "bot", "content": "x"}])],
            r"line 1: messages\[0\].role must be one of 'system', 'user', 'assistant', got 'bot'",
        ),
        (
            [
                _row(
                    messages=[
                        {"role": "user", "content": "q"},
                        {"role": "assistant", "content": "a"},
                    ]
                )
            ],
            "line 1: the last message must be from the user, got role 'assistant'",
        ),
        ([_row(messages=[])], "line 1: messages is empty"),
        ([_row(max_tokens=0)], "line 1: max_tokens must be a positive integer, got 0"),
        ([_row(max_tokens=-5)], "line 1: max_tokens must be a positive integer, got -5"),
        ([_row(max_tokens="64")], "line 1: max_tokens must be a positive integer, got '64'"),
        ([_row(max_tokens=64.0)], "line 1: max_tokens must be a positive integer, got 64.0"),
        ([_row(id=" ")], "line 1: id is empty"),
        ([_row(), _row(id="p2"), _row()], r"line 3: duplicate id 'p1' \(also on line 1\)"),
    ],
)
def test_each_bad_line_is_named_with_its_reason(
    tmp_path: Path, lines: list[str], match: str
) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PromptFileError, match=match) as info:
        load_prompts(path)
    message = str(info.value)
    assert str(path) in message
    assert "python data/prompts/make_prompts.py" in message  # the fix
    assert info.value.path == str(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    with pytest.raises(PromptFileError, match=f"prompt file {re.escape(str(path))} does not exist"):
        load_prompts(path)


def test_a_relative_prompt_file_is_read_from_the_project_root(lab_project: Path) -> None:
    (lab_project / "data/prompts").mkdir(parents=True)
    (lab_project / "data/prompts/mine.jsonl").write_bytes(PROMPTS.read_bytes())
    loaded = load_prompts("data/prompts/mine.jsonl")  # the working directory is notebooks/
    assert loaded.path == lab_project / "data/prompts/mine.jsonl"
    assert len(loaded) == len(load_prompts(PROMPTS))


def test_a_missing_prompt_file_names_where_it_looked_and_the_sets_there(
    lab_project: Path,
) -> None:
    with pytest.raises(PromptFileError) as info:
        load_prompts("data/prompts/interactive_v1.jsonl")
    message = str(info.value)
    where = lab_project / "data/prompts/interactive_v1.jsonl"
    assert f"prompt file {where} does not exist" in message
    assert f"read from the project root {lab_project}" in message
    assert "python data/prompts/make_prompts.py" in message  # none there: how to make one
    assert info.value.path == str(where)
    (lab_project / "data/prompts").mkdir(parents=True)
    for name in ("b_v2.jsonl", "a_v1.jsonl"):
        (lab_project / "data/prompts" / name).write_text("")
    with pytest.raises(PromptFileError) as info:
        load_prompts("data/prompts/interactive_v1.jsonl")
    assert str(info.value).endswith(
        f"use one of the prompt sets under {lab_project / 'data/prompts'}: "
        "data/prompts/a_v1.jsonl, data/prompts/b_v2.jsonl"
    )


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_a_file_without_prompts(tmp_path: Path, text: str) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(text)
    with pytest.raises(PromptFileError, match="holds no prompts"):
        load_prompts(path)


def test_blank_lines_are_skipped_and_every_bad_line_is_listed(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(_row() + "\n\n" + _row(id="p2") + "\n")
    assert [p.id for p in load_prompts(path).prompts] == ["p1", "p2"]

    path.write_text("\n".join(["x"] * 7 + [_row()]))
    with pytest.raises(PromptFileError, match=r"7 bad line\(s\): line 1: .*and 2 more") as info:
        load_prompts(path)
    assert [n for n, _ in info.value.problems] == [1, 2, 3, 4, 5, 6, 7]
