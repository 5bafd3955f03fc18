"""Judge one answer against one check: pass or fail, and a short sentence saying why.

Pure functions, no I/O. Lenient where a person reading the answer would be: case (unless the
check says ``case_sensitive``), surrounding whitespace, Unicode forms, curly quotes, markdown
emphasis, a trailing full stop, the phrasing around a number or a letter, code fences around
JSON (``servegate.quality.extract`` reads the answer). Strict where the check says so:
``case_sensitive``, ``fullmatch``, ``tolerance`` 0, word and sentence limits.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from servegate.quality.extract import (
    count_items,
    count_sentences,
    count_words,
    find_choice,
    find_json_object,
    find_number,
    plain,
)
from servegate.quality.rules import (
    Check,
    ChoiceCheck,
    ContainsCheck,
    JsonCheck,
    NumberCheck,
    RegexCheck,
)

__all__ = ["Verdict", "score"]

_JSON_NUMBER_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Verdict:
    """Whether an answer passed its check, and why, as a short sentence for the report
    ("contains 'Paris'", "chose C, expected B")."""

    passed: bool
    reason: str


def score(answer: str, check: Check) -> Verdict:
    """Judge ``answer`` by ``check``; an empty or blank answer fails with "empty answer"."""
    if not answer.strip():
        return Verdict(False, "empty answer")
    if isinstance(check, ContainsCheck):
        verdict = _contains(answer, check)
    elif isinstance(check, RegexCheck):
        verdict = _regex(answer, check)
    elif isinstance(check, NumberCheck):
        return _number(answer, check)
    elif isinstance(check, JsonCheck):
        return _json(answer, check)
    else:
        return _choice(answer, check)
    if not verdict.passed:
        return verdict
    broken = _shape(answer, check)
    return Verdict(False, broken) if broken else verdict


# --------------------------------------------------------------------------- contains, regex


def _needle(text: str, case_sensitive: bool) -> re.Pattern[str]:
    """``text`` as a pattern: its words in order with any whitespace between, standing alone
    where it starts or ends with a letter or digit."""
    text = plain(text).strip()
    body = r"\s+".join(re.escape(part) for part in text.split())
    start = r"(?<!\w)" if text[0].isalnum() else ""
    end = r"(?!\w)" if text[-1].isalnum() else ""
    return re.compile(start + body + end, 0 if case_sensitive else re.IGNORECASE)


def _quote(items: list[str]) -> str:
    return ", ".join(repr(item) for item in items)


def _contains(answer: str, check: ContainsCheck) -> Verdict:
    text = plain(answer)

    def found(needle: str) -> bool:
        return _needle(needle, check.case_sensitive).search(text) is not None

    missing = [needle for needle in check.all if not found(needle)]
    if missing:
        return Verdict(False, f"does not contain {missing[0]!r}")
    hits = [needle for needle in check.any if found(needle)]
    if check.any and not hits:
        return Verdict(False, f"does not contain any of {_quote(check.any)}")
    banned = [needle for needle in check.none if found(needle)]
    if banned:
        return Verdict(False, f"contains {banned[0]!r}, which it must not")
    return Verdict(True, f"contains {_quote(check.all + hits[:1])}")


def _core(answer: str) -> str:
    """The answer reduced for a whole-answer match: no surrounding whitespace, quotes or
    emphasis, and no trailing ``.`` or ``!``."""
    core = plain(answer).strip().strip("\"'*_ \t\n")
    return core[:-1].rstrip() if core.endswith((".", "!")) else core


def _regex(answer: str, check: RegexCheck) -> Verdict:
    pattern = re.compile(check.pattern, re.IGNORECASE if check.ignore_case else 0)
    if check.fullmatch:
        if pattern.fullmatch(_core(answer)):
            return Verdict(True, f"is wholly /{check.pattern}/")
        return Verdict(False, f"is not wholly /{check.pattern}/")
    if pattern.search(plain(answer)):
        return Verdict(True, f"matches /{check.pattern}/")
    return Verdict(False, f"does not match /{check.pattern}/")


def _shape(answer: str, check: ContainsCheck | RegexCheck) -> str:
    """Why ``answer`` breaks the check's first shape limit, or "" when it keeps them all."""
    words = count_words(answer)
    if check.min_words is not None and words < check.min_words:
        return f"has {words} words, at least {check.min_words} needed"
    if check.max_words is not None and words > check.max_words:
        return f"has {words} words, at most {check.max_words} allowed"
    sentences = count_sentences(answer)
    if check.min_sentences is not None and sentences < check.min_sentences:
        return f"has {sentences} sentences, at least {check.min_sentences} needed"
    if check.max_sentences is not None and sentences > check.max_sentences:
        return f"has {sentences} sentences, at most {check.max_sentences} allowed"
    items = count_items(answer)
    if check.n_items is not None and items != check.n_items:
        return f"has {items} list items, expected {check.n_items}"
    upper = [ch for ch in plain(answer) if ch.isupper()]
    if check.all_lowercase and upper:
        return f"has uppercase letters ({''.join(upper[:5])}), expected all lowercase"
    return ""


# --------------------------------------------------------------------------- number


def _show(value: float) -> str:
    """A number as a person writes it: ``391``, ``8.05``, ``86400``."""
    return f"{value:.10g}"


def _number(answer: str, check: NumberCheck) -> Verdict:
    slack = f"{_show(check.value)} ± {_show(check.tolerance)}"
    if check.rel_tolerance is not None:
        slack += f" or {_show(check.rel_tolerance * 100)}%"
    found = find_number(answer)
    if found is None:
        return Verdict(False, f"no number found, expected {slack}")
    got, where = found
    error = abs(got - check.value)
    # A hair of float slack, so that 0.1 + 0.2 written out still equals 0.3.
    allowed = check.tolerance + 1e-9 * max(1.0, abs(check.value))
    if check.rel_tolerance is not None:
        allowed = max(allowed, check.rel_tolerance * abs(check.value))
    passed = error <= allowed
    return Verdict(passed, f"expected {slack}, got {_show(got)} ({where})")


# --------------------------------------------------------------------------- json


def _text(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _same(got: Any, expected: Any) -> bool:
    """Whether a parsed JSON value equals the expected one (see ``JsonCheck``)."""
    if expected is None or isinstance(expected, bool):
        return got is expected
    if isinstance(expected, str):
        return isinstance(got, str) and _text(got) == _text(expected)
    if isinstance(got, bool) or not isinstance(got, int | float):
        return False
    return math.isclose(got, expected, rel_tol=0, abs_tol=_JSON_NUMBER_TOLERANCE)


def _json(answer: str, check: JsonCheck) -> Verdict:
    found, why = find_json_object(answer)
    if found is None:
        return Verdict(False, why)
    missing = [key for key in check.required_keys if key not in found]
    if missing:
        return Verdict(False, f"JSON object lacks key(s) {_quote(missing)}")
    for key, expected in check.values.items():
        if not _same(found[key], expected):
            return Verdict(False, f"{key!r} is {found[key]!r}, expected {expected!r}")
    return Verdict(True, f"JSON object with {_quote(check.required_keys)}")


# --------------------------------------------------------------------------- choice


def _choice(answer: str, check: ChoiceCheck) -> Verdict:
    chosen, why = find_choice(answer, check.choices)
    if chosen is None:
        return Verdict(False, why)
    if chosen != check.answer:
        return Verdict(False, f"chose {chosen}, expected {check.answer}")
    return Verdict(True, f"chose {chosen}")
