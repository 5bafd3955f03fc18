"""The committed check set, its generator, and the loader's validation messages."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from servegate.core.errors import ConfigError, QualityFileError
from servegate.core.fsutil import sha256_file
from servegate.measure.prompts import Prompt
from servegate.quality.checks import (
    CHECK_KINDS,
    DEFAULT_CHECKS,
    QualityItem,
    QualitySet,
    load_checks,
)
from servegate.quality.score import score
from tests.helpers import REPO

CHECKS = REPO / DEFAULT_CHECKS
SCRIPT = CHECKS.with_name("make_checks.py")
CATEGORIES = {"factual", "arithmetic", "instruction", "format", "extraction", "multilingual"}
REGENERATE = "python data/quality/make_checks.py"


@pytest.fixture(scope="module")
def make_checks() -> ModuleType:
    """The generator script, imported from its file (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location("make_checks", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def committed() -> QualitySet:
    return load_checks(CHECKS)


def _find(committed: QualitySet, question: str) -> QualityItem:
    """The one item whose user turn contains ``question``."""
    found = [i for i in committed.items if question in i.messages[-1].content]
    assert len(found) == 1, f"{len(found)} items ask {question!r}"
    return found[0]


# --------------------------------------------------------------------------- the committed set


def test_committed_set_is_large_unique_and_in_six_mixed_categories(committed: QualitySet) -> None:
    assert len(committed) >= 120
    ids = [item.id for item in committed.items]
    assert ids == [f"qc1-{n:04d}" for n in range(1, len(ids) + 1)]
    counts = committed.by_category()
    assert set(counts) == CATEGORIES
    assert all(n >= 15 for n in counts.values()), counts
    assert list(counts) == sorted(counts)
    assert len({item.category for item in committed.items[:12]}) >= 4  # the first few mix


def test_every_check_kind_is_used(committed: QualitySet) -> None:
    assert {item.check.kind for item in committed.items} == set(CHECK_KINDS)


def test_every_reference_answer_passes_its_own_check(committed: QualitySet) -> None:
    failing = {
        item.id: verdict.reason
        for item in committed.items
        if not (verdict := score(item.answer, item.check)).passed
    }
    assert not failing


def test_sha256_is_of_the_file_bytes(committed: QualitySet) -> None:
    assert committed.sha256 == sha256_file(CHECKS)
    assert committed.path == CHECKS


def test_the_readme_states_the_committed_sha256(committed: QualitySet) -> None:
    assert committed.sha256 in CHECKS.with_name("README.md").read_text(encoding="utf-8")


def test_prompts_keep_ids_and_messages_and_take_max_tokens(committed: QualitySet) -> None:
    prompts = committed.prompts(64)
    assert all(isinstance(p, Prompt) for p in prompts)
    assert [p.id for p in prompts] == [item.id for item in committed.items]
    assert {p.max_tokens for p in prompts} == {64}
    first = committed.items[0]
    assert prompts[0].messages == first.messages and prompts[0].category == first.category
    assert first.prompt(8).max_tokens == 8
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ConfigError, match="max_tokens must be a positive integer"):
            committed.prompts(bad)  # type: ignore[arg-type]


def test_items_by_id_and_take(committed: QualitySet) -> None:
    assert committed.item("qc1-0002") is committed.items[1]
    assert committed.by_id["qc1-0003"] is committed.items[2]
    assert list(committed.by_id) == [item.id for item in committed.items]
    with pytest.raises(KeyError, match="has no quality item 'nope'"):
        committed.item("nope")
    assert committed.take(None) == committed.items
    assert committed.take(3) == committed.items[:3]
    with pytest.raises(ConfigError, match="holds only"):
        committed.take(len(committed) + 1)
    with pytest.raises(ConfigError, match="positive integer or null"):
        committed.take(0)


# Other phrasings a good model gives (must pass) and near misses (must fail), per question.
PROBES: list[tuple[str, list[str], list[str]]] = [
    ("What is the capital of Australia?", ["Canberra.", "**Canberra** (not Sydney)."], ["Sydney."]),
    ("symbol for gold", ["**Au** (from Latin *aurum*)"], ["AU", "Ag"]),
    ("Pride and Prejudice", ["It was written by Jane Austen in 1813."], ["Charlotte Brontë."]),
    ("chambers does the human heart", ["4", "Four: two atria and two ventricles."], ["Two."]),
    ("photosynthesis", ["Carbon dioxide (CO₂).", "CO2"], ["Oxygen."]),
    ("17 × 23", ["391.", "**391**", "17 × 23 = 391"], ["381", "It's 17 × 23."]),
    ("seconds are in one day", ["86400", "86,400 seconds"], ["8,640"]),
    ("5 miles to kilometres", ["8.05 km", "8.05", "About 8.05 kilometres."], ["8.5"]),
    ("100 degrees Fahrenheit", ["37.8 °C", "37.8°C", "≈ 37.8"], ["38.7"]),
    ("-40 degrees Celsius", ["-40 °F", "−40", "-40°F"], ["40"]),
    ("jacket costs $40", ["$40 × 0.75 = $30\nAnswer: $30", "**Answer: 30**"], ["Answer: 10"]),
    ("rises from $50 to $65", ["15/50 = 0.3\nAnswer: 30%"], ["Answer: 15"]),
    ("primary colours of light as bullet", ["* Red\n* Green\n* Blue"], ["Red, green and blue."]),
    ("synonyms for", ["Joyful, content", "glad, cheerful."], ["joyful", "glad, cheerful, merry"]),
    ("in all lowercase letters", ["paris.", "paris"], ["Paris"]),
    ("ocean in exactly three words", ["Vast. Deep. Blue."], ["Vast and deep blue."]),
    ('with the word "Certainly"', ["**Certainly!** Rome is the capital."], ["Rome, certainly."]),
    ('end your reply with the word "Done"', ["Jupiter.\n\nDone."], ["Done: Jupiter."]),
    ("without any commas", ["A compiler turns source code into machine code."], []),
    ("Which planet is the largest?", ["B", "B) Jupiter", "The answer is B."], ["A or B", "D"]),
    ("Is 51 a prime number?", ["No.", "**No** — 51 = 3 × 17."], ["Yes."]),
    ("for the number 97", ['```json\n{"number": 97, "is_prime": true}\n```'], ['{"number": 97}']),
    (
        '"first_name"',
        ['{"first_name": "maria", "last_name": "Rossi", "age": 34}'],
        ['{"first_name": "Maria", "last_name": "Rossi", "age": "34"}'],
    ),
    ("ISO 8601", ["`2021-07-04`", "2021-07-04."], ["07/04/2021", "4 July 2021"]),
    ("webinar start", ["4:30 PM CET", "16:30 CET", "At 4:30 p.m."], ["4 pm"]),
    ("Jonas Weber start", ["May 1st.", "On the 1st of May.", "2025-05-01"], ["1 June"]),
    ("flight number", ["AC857", "Flight AC 857."], ["D14"]),
    ("refunded, in euros", ["€45.90", "45.9"], ["45"]),
    (
        "thank you very much",
        ["Danke schön!", "Vielen herzlichen Dank!", "Danke vielmals."],
        ["Bitte."],
    ),
    ("Cuántas patas", ["Cuatro.", "Un perro tiene 4 patas."], ["Tres."]),
    ("Tage hat eine Woche", ["7 Tage.", "Sieben."], ["Fünf."]),
]


@pytest.mark.parametrize(("question", "good", "bad"), PROBES, ids=[p[0] for p in PROBES])
def test_checks_accept_other_good_phrasings_and_refuse_near_misses(
    committed: QualitySet, question: str, good: list[str], bad: list[str]
) -> None:
    item = _find(committed, question)
    for answer in good:
        verdict = score(answer, item.check)
        assert verdict.passed, f"{item.id} refused {answer!r}: {verdict.reason}"
    for answer in bad:
        verdict = score(answer, item.check)
        assert not verdict.passed, f"{item.id} accepted {answer!r}: {verdict.reason}"


# --------------------------------------------------------------------------- the generator


def test_generator_is_deterministic_and_matches_the_committed_file(make_checks) -> None:
    first = make_checks.render(make_checks.generate())
    assert first == make_checks.render(make_checks.generate(make_checks.DEFAULT_SEED))
    assert first == CHECKS.read_bytes()
    assert b"\r" not in first and first.endswith(b"\n")
    assert make_checks.render(make_checks.generate(1)) != first


def test_check_mode_in_a_fresh_interpreter_needs_only_the_standard_library() -> None:
    done = subprocess.run(
        [sys.executable, "-I", str(SCRIPT), "--check"],  # -I: no PYTHONPATH, no site packages
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "is up to date" in done.stdout


def test_check_mode_reports_a_stale_file(make_checks, tmp_path: Path) -> None:
    stale = tmp_path / "set.jsonl"
    stale.write_bytes(CHECKS.read_bytes()[:-1])
    assert make_checks.main(["--check", "--out", str(stale)]) == 1
    stale.write_bytes(CHECKS.read_bytes())
    assert make_checks.main(["--check", "--out", str(stale)]) == 0


def test_writing_validates_before_it_replaces_the_file(make_checks, tmp_path: Path) -> None:
    out = tmp_path / "set.jsonl"
    assert make_checks.main(["--out", str(out)]) == 0
    assert out.read_bytes() == CHECKS.read_bytes()


def test_stats_table_counts_each_category_and_kind(make_checks, capsys) -> None:
    assert make_checks.main(["--stats"]) == 0
    table = capsys.readouterr().out
    for category in CATEGORIES:
        assert f"| `{category}` |" in table
    assert f"| **all** | {len(CHECKS.read_text().splitlines())} |" in table


# --------------------------------------------------------------------------- validation

GOOD: dict[str, Any] = {
    "id": "q1",
    "category": "c",
    "messages": [{"role": "user", "content": "Capital of France?"}],
    "check": {"kind": "contains", "any": ["Paris"]},
    "answer": "Paris.",
}


def _row(**change: Any) -> str:
    row = {**GOOD, **change}
    return json.dumps({k: v for k, v in row.items() if v is not ...}, ensure_ascii=False)


def _check(**rule: Any) -> str:
    return _row(check=rule)


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (["{oops"], "line 1: not valid JSON"),
        ([_row(), "[1, 2]"], "line 2: expected a JSON object, got a JSON list"),
        ([_row(answer=...)], "line 1: missing field 'answer'"),
        ([_row(check=...)], "line 1: missing field 'check'"),
        ([_row(hint="x")], r"line 1: unknown field 'hint' \(known: id, category, messages, check,"),
        (
            [_check(kind="contains", any=["Paris"], anyof=["x"])],
            r"line 1: unknown field 'check.anyof' \(known: min_words, .*kind, any, all, none,",
        ),
        (
            [_check(kind="llm_judge", prompt="x")],
            r"line 1: unknown check kind 'llm_judge' \(known: contains, regex, number, json, "
            r"choice\)",
        ),
        ([_check(any=["Paris"])], "line 1: check has no 'kind'; give one of contains, regex,"),
        ([_row(check="Paris")], "line 1: check must be a JSON object"),
        (
            [_check(kind="regex", pattern="Par(is")],
            r"line 1: check.pattern is not a valid regular expression \(missing \)",
        ),
        ([_check(kind="regex", pattern="")], "line 1: check.pattern is empty"),
        (
            [_check(kind="number", value=4, tolerance=-1)],
            "line 1: check.tolerance: input should be greater than or equal to 0",
        ),
        ([_check(kind="number", value="4")], "line 1: check.value: input should be a valid num"),
        (
            [_check(kind="choice", answer="E", choices=["A", "B", "C", "D"])],
            r"line 1: check answer 'E' is not among choices \['A', 'B', 'C', 'D'\]",
        ),
        (
            [_check(kind="choice", answer="a", choices=["a", "b"])],
            "line 1: check.choices must be single uppercase letters A-Z, got 'a'",
        ),
        (
            [_check(kind="json", required_keys=[])],
            "line 1: check.required_keys: list should have at least 1 item",
        ),
        (
            [_check(kind="json", required_keys=["a"], values={"b": 1})],
            "line 1: check values names 'b', not in required_keys",
        ),
        ([_check(kind="contains", none=["Lyon"])], "line 1: check needs 'any' or 'all'"),
        ([_check(kind="contains", any=[" "])], "line 1: check.any holds an empty string"),
        (
            [_check(kind="contains", any=["Paris"], min_words=5, max_words=2)],
            "line 1: check min_words=5 is above max_words=2",
        ),
        (
            [_row(answer="Lyon.")],
            "line 1: answer fails its own check: does not contain any of 'Paris'",
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
        ([_row(id=" ")], "line 1: id is empty"),
        ([_row(), _row(id="q2"), _row()], r"line 3: duplicate id 'q1' \(also on line 1\)"),
    ],
)
def test_each_bad_line_is_named_with_its_reason(
    tmp_path: Path, lines: list[str], match: str
) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(QualityFileError, match=match) as info:
        load_checks(path)
    message = str(info.value)
    assert f"quality check file {path} has" in message
    assert REGENERATE in message  # the fix
    assert info.value.path == str(path)
    assert info.value.problems and all(isinstance(n, int) for n, _ in info.value.problems)


def test_a_good_line_of_each_kind_loads(tmp_path: Path) -> None:
    rules = [
        ({"kind": "regex", "pattern": r"^paris\b", "fullmatch": False}, "Paris."),
        ({"kind": "number", "value": 8.05, "tolerance": 0.05, "rel_tolerance": 0.01}, "8.05"),
        ({"kind": "json", "required_keys": ["a"], "values": {"a": None}}, '{"a": null}'),
        ({"kind": "choice", "answer": "B", "choices": ["A", "B"]}, "B"),
    ]
    path = tmp_path / "set.jsonl"
    lines = [_row(id=f"q{n}", check=rule, answer=a) for n, (rule, a) in enumerate(rules)]
    path.write_text("\n".join(lines), encoding="utf-8")
    loaded = load_checks(path)
    assert [item.check.kind for item in loaded.items] == ["regex", "number", "json", "choice"]


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_a_file_without_items(tmp_path: Path, text: str) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(text)
    with pytest.raises(QualityFileError, match="holds no items") as info:
        load_checks(path)
    assert REGENERATE in str(info.value)
    assert info.value.problems == ()


def test_a_missing_file_suggests_the_default_set(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    with pytest.raises(QualityFileError) as info:
        load_checks(path)
    message = str(info.value)
    assert message.startswith(f"quality check file {path} does not exist")
    assert DEFAULT_CHECKS in message  # the project's own set, as a path that works anywhere
    assert "quality_prompts: null" in message
    assert info.value.path == str(path)


def test_a_relative_file_is_read_from_the_project_root(lab_project: Path) -> None:
    with pytest.raises(QualityFileError) as info:
        load_checks(DEFAULT_CHECKS)  # the working directory is notebooks/
    message = str(info.value)
    assert f"quality check file {lab_project / DEFAULT_CHECKS} does not exist" in message
    assert f"the default is {DEFAULT_CHECKS}, made with {REGENERATE}" in message
    (lab_project / "data/quality").mkdir(parents=True)
    (lab_project / DEFAULT_CHECKS).write_bytes(CHECKS.read_bytes())
    loaded = load_checks(DEFAULT_CHECKS)
    assert loaded.path == lab_project / DEFAULT_CHECKS
    assert len(loaded) == len(load_checks(CHECKS))


def test_every_bad_line_is_listed_the_first_five_quoted(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(_row() + "\n\n" + _row(id="q2") + "\n")
    assert [item.id for item in load_checks(path).items] == ["q1", "q2"]

    bad = [_row(id=f"b{n}", answer="Lyon.") for n in range(4)] + ["x", "[]", "{"]
    path.write_text("\n".join([_row(), *bad]))
    with pytest.raises(QualityFileError, match=r"7 bad line\(s\): line 2: ") as info:
        load_checks(path)
    message = str(info.value)
    assert [n for n, _ in info.value.problems] == [2, 3, 4, 5, 6, 7, 8]
    assert re.findall(r"line (\d+): ", message) == ["2", "3", "4", "5", "6"]
    assert "; and 2 more bad lines." in message
