"""Judging one answer: each rule's leniency and strictness, on the answers models really give."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from servegate.quality.extract import (
    count_items,
    count_sentences,
    count_words,
    find_choice,
    find_json_object,
    find_number,
)
from servegate.quality.rules import Check
from servegate.quality.score import Verdict, score

CHECK: TypeAdapter[Any] = TypeAdapter(Check)


def _judge(answer: str, /, **rule: Any) -> Verdict:
    return score(answer, CHECK.validate_python(rule))


def _case(answer: str, passed: bool, reason: str, /, **rule: Any) -> Any:
    """One parametrized case; its id is the answer, so a failure names it."""
    return pytest.param(answer, rule, passed, reason, id=repr(answer)[:40])


def _run(answer: str, rule: dict[str, Any], passed: bool, reason: str) -> None:
    verdict = _judge(answer, **rule)
    assert verdict.passed is passed, verdict
    assert reason in verdict.reason, verdict


# --------------------------------------------------------------------------- every kind


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "contains", "any": ["x"]},
        {"kind": "regex", "pattern": "."},
        {"kind": "number", "value": 0},
        {"kind": "json", "required_keys": ["a"]},
        {"kind": "choice", "answer": "A", "choices": ["A", "B"]},
    ],
    ids=lambda rule: rule["kind"],
)
@pytest.mark.parametrize("answer", ["", "   \n\t"])
def test_an_empty_answer_fails_every_kind(answer: str, rule: dict[str, Any]) -> None:
    assert _judge(answer, **rule) == Verdict(False, "empty answer")


# --------------------------------------------------------------------------- number

N391 = {"kind": "number", "value": 391}
KM = {"kind": "number", "value": 8.05, "tolerance": 0.05}


@pytest.mark.parametrize(
    ("answer", "rule", "passed", "reason"),
    [
        _case("391", True, "got 391 (last number in the answer)", **N391),
        _case("The product is 391.", True, "got 391", **N391),  # a full stop is no decimal
        _case("17 × 23 = 391", True, "got 391", **N391),
        _case("381", False, "expected 391 ± 0, got 381 (last number in the answer)", **N391),
        _case("391.5", False, "got 391.5", **N391),  # tolerance 0 is exact
        _case("It is 391, not 17 or 23.", False, "got 23", **N391),  # the last number rules
        _case("The answer is 391. (I checked 17 × 23 twice.)", True, "after 'answer'", **N391),
        _case("Answer: **391**", True, "after 'answer'", **N391),
        _case("Final answer = 391", True, "after 'answer'", **N391),
        _case("To answer this, 17 × 23 = 391", True, "last number", **N391),  # no marker
        _case("17 × 23 is **391** in total", True, "(in bold)", **N391),
        _case("**Step 1:** multiply\n17 × 23 = 391", True, "last number", **N391),
        _case("391 (= 17 × 23)", True, "got 391", **N391),  # a closing aside is skipped
        _case("\\boxed{391}", True, "(boxed)", **N391),
        _case("17 * 23\n#### 391", True, "after '####'", **N391),
        _case("three hundred ninety-one", False, "no number found", **N391),
        _case("no idea", False, "no number found, expected 391 ± 0", **N391),
        _case("86,400 seconds", True, "got 86400", kind="number", value=86400),
        _case("86400", True, "got 86400", kind="number", value=86400),
        _case("86\u202f400 s", True, "got 86400", kind="number", value=86400),  # typeset
        _case("$1,234.50", True, "got 1234.5", kind="number", value=1234.5),
        _case("€45.90", True, "got 45.9", kind="number", value=45.9),
        _case("It costs -$5.", True, "got -5", kind="number", value=-5),
        _case("−40 °F", True, "got -40", kind="number", value=-40),  # a Unicode minus
        _case("3-4 hours", True, "got 4", kind="number", value=4),  # a range, not minus four
        _case("7.5%", True, "got 7.5", kind="number", value=7.5),
        _case("3/4 of a cup", True, "got 0.75", kind="number", value=0.75),
        _case("1.5 million people", True, "got 1500000", kind="number", value=1.5e6),
        _case("Seven.", True, "(last number word in the answer)", kind="number", value=7),
        _case("twenty-one", True, "got 21", kind="number", value=21),
        _case("H2O and CO2", False, "no number found", kind="number", value=2),
        _case("8.05 km", True, "got 8.05", **KM),
        _case("about 8 km", True, "got 8", **KM),  # exactly on the edge passes
        _case("8.1 km", True, "got 8.1", **KM),
        _case("8.11 km", False, "expected 8.05 ± 0.05, got 8.11", **KM),
        _case("7.99", False, "got 7.99", **KM),
        _case("0.1 + 0.2 = 0.30000000000000004", True, "got 0.3", kind="number", value=0.3),
        _case("105", True, "got 105", kind="number", value=100, rel_tolerance=0.05),
        _case("106", False, "± 0 or 5%, got 106", kind="number", value=100, rel_tolerance=0.05),
    ],
)
def test_number(answer: str, rule: dict[str, Any], passed: bool, reason: str) -> None:
    _run(answer, rule, passed, reason)


# --------------------------------------------------------------------------- json

PERSON = {"kind": "json", "required_keys": ["name", "age"], "values": {"name": "Ana Lima"}}


@pytest.mark.parametrize(
    ("answer", "rule", "passed", "reason"),
    [
        _case('{"name": "Ana Lima", "age": 34}', True, "JSON object with 'name', 'age'", **PERSON),
        _case('```json\n{"name": "ana  lima", "age": 34}\n```', True, "JSON object", **PERSON),
        _case('```\n{"name": "Ana Lima", "age": 34}\n```', True, "JSON object", **PERSON),
        _case(
            'Here it is:\n{"name": "Ana Lima", "age": 34, "city": "Porto"}\nAnything else?',
            True,
            "JSON object",
            **PERSON,
        ),
        _case('Sure! {"name": "Ana Lima", "note": "{x}", "age": 3}', True, "JSON", **PERSON),
        _case('{"name": "Ana Lima"}', False, "lacks key(s) 'age'", **PERSON),
        _case('{"name": "Ana Silva", "age": 34}', False, "'name' is 'Ana Silva'", **PERSON),
        _case('[{"name": "Ana Lima", "age": 34}]', False, "got a JSON array", **PERSON),
        _case('"Ana Lima"', False, "got a JSON string", **PERSON),
        _case("{'name': 'Ana Lima', 'age': 34}", False, "no valid JSON object found (", **PERSON),
        _case('{"name": "Ana Lima", "age": 34,}', False, "no valid JSON object", **PERSON),
        _case("name: Ana Lima, age: 34", False, "no valid JSON object found", **PERSON),
        _case('{"n": 12.0000001}', True, "", kind="json", required_keys=["n"], values={"n": 12}),
        _case(
            '{"n": 12.01}',
            False,
            "'n' is 12.01, expected 12",
            kind="json",
            required_keys=["n"],
            values={"n": 12},
        ),
        _case(
            '{"n": "12"}',
            False,
            "'n' is '12', expected 12",
            kind="json",
            required_keys=["n"],
            values={"n": 12},
        ),
        _case(
            '{"ok": 1}',
            False,
            "'ok' is 1, expected True",
            kind="json",
            required_keys=["ok"],
            values={"ok": True},
        ),
        _case('{"ok": true}', True, "", kind="json", required_keys=["ok"], values={"ok": True}),
        _case('{"x": null}', True, "", kind="json", required_keys=["x"], values={"x": None}),
    ],
)
def test_json(answer: str, rule: dict[str, Any], passed: bool, reason: str) -> None:
    _run(answer, rule, passed, reason)


# --------------------------------------------------------------------------- choice

B = {"kind": "choice", "answer": "B", "choices": ["A", "B", "C", "D"]}


@pytest.mark.parametrize(
    ("answer", "rule", "passed", "reason"),
    [
        *(
            _case(text, True, "chose B", **B)
            for text in (
                "B",
                "B.",
                "(B)",
                "b)",
                "**B**",
                " B \n",
                "Answer: B",
                "The answer is B",
                "The correct answer is (B) Paris.",
                "the answer is b",
                "B) Paris",
                "B. Paris is the capital.",
                "B - Paris",
                "B, because Paris is the capital.",
                "Paris is the capital, so B.",
                "A dog would know it is B.",  # "A" before a lowercase word is the article
                "B is correct.",
                "I think it is B.",
            )
        ),
        _case("C", False, "chose C, expected B", **B),
        _case("The answer is C.", False, "chose C, expected B", **B),
        _case("A or B", False, "names more than one choice (A, B)", **B),
        _case("Either B or C could be right.", False, "more than one choice (B, C)", **B),
        _case("The answer is B. No wait, the answer is C.", False, "more than one choice", **B),
        _case("Paris", False, "no choice letter (A, B, C, D) found", **B),
        _case("The answer is a bit tricky.", False, "no choice letter", **B),
        _case("E", False, "no choice letter", **B),
        _case("C", True, "chose C", kind="choice", answer="C", choices=["A", "B", "C"]),
    ],
)
def test_choice(answer: str, rule: dict[str, Any], passed: bool, reason: str) -> None:
    _run(answer, rule, passed, reason)


# --------------------------------------------------------------------------- contains

PARIS = {"kind": "contains", "any": ["Paris"]}


@pytest.mark.parametrize(
    ("answer", "rule", "passed", "reason"),
    [
        _case("The capital of France is Paris.", True, "contains 'Paris'", **PARIS),
        _case("PARIS", True, "contains 'Paris'", **PARIS),
        _case("**Paris**", True, "", **PARIS),
        _case("_Paris_", True, "", **PARIS),
        _case("“Paris”", True, "", **PARIS),
        _case("Paris's museums", True, "", **PARIS),
        _case("Parisian cafés", False, "does not contain any of 'Paris'", **PARIS),
        _case("Lyon", False, "does not contain any of 'Paris'", **PARIS),
        _case("14", False, "does not contain any of '4'", kind="contains", any=["4"]),
        _case("4 chambers", True, "contains '4'", kind="contains", any=["4", "four"]),
        _case("Four.", True, "contains 'four'", kind="contains", any=["4", "four"]),
        _case("It is CO₂.", True, "", kind="contains", any=["CO2"]),  # NFKC
        _case("carbon\n  dioxide", True, "", kind="contains", any=["carbon dioxide"]),
        _case("Au", True, "", kind="contains", any=["Au"], case_sensitive=True),
        _case("AU", False, "does not contain", kind="contains", any=["Au"], case_sensitive=True),
        _case("Ciudad de México", True, "", kind="contains", any=["México", "Mexico"]),
        _case(
            "red, green and blue",
            True,
            "contains 'red', 'green', 'blue'",
            kind="contains",
            all=["red", "green", "blue"],
        ),
        _case(
            "red and blue",
            False,
            "does not contain 'green'",
            kind="contains",
            all=["red", "green", "blue"],
        ),
        _case(
            "A compiler, in short, translates.",
            False,
            "contains ',', which it must not",
            kind="contains",
            any=["translates"],
            none=[","],
        ),
        _case("mail dana@example.com today", True, "", kind="contains", all=["dana@example.com"]),
        _case("C++ and Go", True, "contains 'C++'", kind="contains", any=["C++"]),
    ],
)
def test_contains(answer: str, rule: dict[str, Any], passed: bool, reason: str) -> None:
    _run(answer, rule, passed, reason)


# --------------------------------------------------------------------------- regex

YES = {"kind": "regex", "pattern": r"^\s*yes\b"}
ISO = {"kind": "regex", "pattern": "2021-07-04", "fullmatch": True}


@pytest.mark.parametrize(
    ("answer", "rule", "passed", "reason"),
    [
        _case("Yes.", True, r"matches /^\s*yes\b/", **YES),
        _case("**Yes**, it is.", True, "matches", **YES),
        _case("No.", False, r"does not match /^\s*yes\b/", **YES),
        _case("Yesterday", False, "does not match", **YES),
        _case("2021-07-04", True, "is wholly /2021-07-04/", **ISO),
        _case("`2021-07-04`.", True, "is wholly", **ISO),
        _case('"2021-07-04"', True, "is wholly", **ISO),
        _case("The date is 2021-07-04.", False, "is not wholly /2021-07-04/", **ISO),
        _case("COW", True, "", kind="regex", pattern="COW", fullmatch=True, ignore_case=False),
        _case("cow", False, "", kind="regex", pattern="COW", fullmatch=True, ignore_case=False),
    ],
)
def test_regex(answer: str, rule: dict[str, Any], passed: bool, reason: str) -> None:
    _run(answer, rule, passed, reason)


# --------------------------------------------------------------------------- shape limits

BULLETS = {"kind": "contains", "all": ["red", "green", "blue"], "n_items": 3}
SHORT = {"kind": "contains", "all": ["reliable"], "max_words": 5}
ONE = {"kind": "contains", "any": ["blue"], "max_sentences": 1}


@pytest.mark.parametrize(
    ("answer", "rule", "passed", "reason"),
    [
        _case("- Red\n- Green\n- Blue", True, "contains 'red', 'green', 'blue'", **BULLETS),
        _case("* red\n* green\n* blue", True, "", **BULLETS),
        _case("• red\n• green\n• blue", True, "", **BULLETS),
        _case("1. red\n2. green\n3. blue", True, "", **BULLETS),
        _case("1) red\n2) green\n3) blue", True, "", **BULLETS),
        _case("Here you go:\n\n- red\n- green\n- blue", True, "", **BULLETS),
        _case("- red\n  - like fire\n- green\n- blue", True, "", **BULLETS),  # sub-point
        _case("- red\n- green\n- blue\n- yellow", False, "has 4 list items, expected 3", **BULLETS),
        _case("red, green, blue", False, "has 0 list items, expected 3", **BULLETS),
        _case("**red** green blue", False, "has 0 list items", **BULLETS),  # bold is no bullet
        _case("Backups must be reliable.", True, "contains 'reliable'", **SHORT),
        _case("Backups must always be reliable.", True, "", **SHORT),
        _case(
            "Backups must always be very reliable.",
            False,
            "has 6 words, at most 5 allowed",
            **SHORT,
        ),
        _case("Don't skip reliable well-known backups.", True, "", **SHORT),  # 5 words
        _case("The sky is blue.", True, "contains 'blue'", **ONE),
        _case("The sky is blue. It scatters light.", False, "has 2 sentences, at most 1", **ONE),
        _case("The sky is blue\nbecause of scattering", False, "has 2 sentences", **ONE),
        _case("Light of 0.45 µm looks blue!", True, "", **ONE),  # a decimal is not an end
        _case(
            "Blue.",
            False,
            "has 1 sentences, at least 2 needed",
            kind="contains",
            any=["blue"],
            min_sentences=2,
        ),
        _case("Vast, deep, blue.", True, "", kind="regex", pattern=r"\w", min_words=3, max_words=3),
        _case("Vast and blue.", False, "has 3 words", kind="regex", pattern=r"\w", min_words=4),
        _case("paris", True, "", kind="contains", any=["paris"], all_lowercase=True),
        _case(
            "Paris",
            False,
            "has uppercase letters (P), expected all lowercase",
            kind="contains",
            any=["paris"],
            all_lowercase=True,
        ),
        _case(
            "Lyon", False, "does not contain", kind="contains", any=["paris"], all_lowercase=True
        ),  # the rule's own test is the first reason
    ],
)
def test_shape_limits(answer: str, rule: dict[str, Any], passed: bool, reason: str) -> None:
    _run(answer, rule, passed, reason)


# --------------------------------------------------------------------------- the readers


def test_the_readers_directly() -> None:
    assert find_number("") is None
    assert find_number("Answer is approximately 8.05 km (5 × 1.609)") == (8.05, "after 'answer'")
    assert find_number("(3 × 60)") == (60.0, "last number in the answer")  # all in brackets
    assert find_json_object("nothing") == (None, "no valid JSON object found")
    assert find_json_object(' {"a": [1, {"b": 2}]} ') == ({"a": [1, {"b": 2}]}, "")
    assert find_choice("(c)", ["A", "B", "C"]) == ("C", "")
    assert count_words("- one\n- two-three\n1. four") == 3
    assert count_sentences("One. Two! Three? Four") == 4
    assert count_sentences('He said "hi." Then left.') == 2
    assert count_items("no list") == 0
