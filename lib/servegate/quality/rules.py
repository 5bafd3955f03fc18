"""The check rules of an answer-quality item: what a correct answer must look like.

Each rule is a frozen pydantic model told apart by its ``kind``; ``Check`` is their union.
A rule only describes; ``servegate.quality.score`` applies it to an answer. The rules are
validated when a set is loaded, so a bad pattern or an impossible rule is a load error that
names its line, never a surprise halfway through a benchmark.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

__all__ = [
    "CHECK_KINDS",
    "Check",
    "ChoiceCheck",
    "ContainsCheck",
    "JsonCheck",
    "NumberCheck",
    "RegexCheck",
]

#: The ``kind`` of every rule, in the order the docs list them.
CHECK_KINDS = ("contains", "regex", "number", "json", "choice")

JsonScalar = str | int | float | bool | None


def _needles(values: list[str]) -> list[str]:
    """``values`` unchanged when none is blank (a blank needle would match every answer)."""
    if any(not value.strip() for value in values):
        raise ValueError("holds an empty string; every entry needs some text")
    return values


class _Rule(BaseModel):
    """Shared configuration: unknown fields are errors, types are strict, rules are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Shape(_Rule):
    """Optional limits on the answer's shape, for instruction-following items.

    Only ``contains`` and ``regex`` take them: a number, a JSON object or a letter has no
    sentences to count. Each is checked after the rule's own test, in this order, and the first
    one broken is the reason the answer fails.

    - ``min_words`` / ``max_words``: words are runs of letters and digits, with inner
      apostrophes and hyphens (``don't``, ``well-known`` count once); bullets and punctuation
      are not words.
    - ``min_sentences`` / ``max_sentences``: a sentence ends at ``.``, ``!`` or ``?`` followed
      by a space or the end, or at a line break; pieces without a letter or digit are not
      counted.
    - ``n_items``: the exact number of list items, lines starting ``-``, ``*``, ``•``, ``+``,
      ``1.`` or ``1)`` followed by a space; only the least-indented items count, so sub-points
      under an item do not.
    - ``all_lowercase``: no uppercase letter anywhere in the answer.
    """

    min_words: int | None = Field(default=None, gt=0)
    max_words: int | None = Field(default=None, gt=0)
    min_sentences: int | None = Field(default=None, gt=0)
    max_sentences: int | None = Field(default=None, gt=0)
    n_items: int | None = Field(default=None, gt=0)
    all_lowercase: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> _Shape:
        for low, high in (("min_words", "max_words"), ("min_sentences", "max_sentences")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{low}={lo} is above {high}={hi}; no answer could pass")
        return self


class ContainsCheck(_Shape):
    """The answer mentions the right thing.

    - ``any``: at least one of these must appear (the accepted spellings of one answer);
    - ``all``: every one of these must appear;
    - ``none``: none of these may appear;
    - ``case_sensitive``: compare case exactly (default: ignore case).

    At least one of ``any`` and ``all`` is needed. A needle that starts or ends with a letter
    or digit must stand alone there: ``4`` does not match ``14``, ``Paris`` does not match
    ``Parisian`` (list inflections such as ``diamonds`` in ``any``). Spaces in a needle match
    any run of whitespace. Answer and needles are both normalised first (see ``score``).
    """

    kind: Literal["contains"]
    any: list[str] = Field(default_factory=list)
    all: list[str] = Field(default_factory=list)
    none: list[str] = Field(default_factory=list)
    case_sensitive: bool = False

    @field_validator("any", "all", "none")
    @classmethod
    def _no_blank(cls, values: list[str]) -> list[str]:
        return _needles(values)

    @model_validator(mode="after")
    def _something_to_find(self) -> ContainsCheck:
        if not self.any and not self.all:
            raise ValueError("needs 'any' or 'all' (or both): a list of strings to look for")
        return self


class RegexCheck(_Shape):
    """The answer matches a regular expression (Python ``re`` syntax).

    - ``pattern``: compiled when the set is loaded; a bad one is a load error;
    - ``ignore_case``: match regardless of case (default true);
    - ``fullmatch``: the whole normalised answer must match, not just some part of it; the
      normalised answer has its surrounding whitespace and one trailing ``.`` or ``!`` removed.
    """

    kind: Literal["regex"]
    pattern: str
    ignore_case: bool = True
    fullmatch: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        if not pattern:
            raise ValueError("is empty; an empty pattern matches every answer")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"is not a valid regular expression ({exc})") from None
        return pattern


class NumberCheck(_Rule):
    """The answer's final number equals ``value``.

    - ``value``: the expected number, as written (``7.5`` for 7.5 %, since a percent sign is
      dropped when reading the answer);
    - ``tolerance``: absolute slack, ``|got - value| <= tolerance`` (default 0: exact);
    - ``rel_tolerance``: optional relative slack, ``|got - value| <= rel_tolerance * |value|``;
      either slack is enough.

    Which number of the answer is judged is ``score.find_number``'s rule.
    """

    kind: Literal["number"]
    value: float
    tolerance: float = Field(default=0.0, ge=0)
    rel_tolerance: float | None = Field(default=None, ge=0)

    @field_validator("value", "tolerance", "rel_tolerance")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value!r}")
        return value


class JsonCheck(_Rule):
    """The answer holds a JSON object with the keys asked for.

    - ``required_keys``: keys the object must have (exact spelling); other keys are allowed;
    - ``values``: optional expected value per key, each key also in ``required_keys``: strings
      compare ignoring case, Unicode form and extra whitespace, numbers within 1e-6, true,
      false and null exactly; a number is never equal to a string or a boolean.
    """

    kind: Literal["json"]
    required_keys: list[str] = Field(min_length=1)
    values: dict[str, JsonScalar] = Field(default_factory=dict)

    @field_validator("required_keys")
    @classmethod
    def _unique(cls, keys: list[str]) -> list[str]:
        _needles(keys)
        doubled = sorted({k for k in keys if keys.count(k) > 1})
        if doubled:
            raise ValueError(f"lists {', '.join(map(repr, doubled))} more than once")
        return keys

    @model_validator(mode="after")
    def _values_are_required(self) -> JsonCheck:
        extra = [k for k in self.values if k not in self.required_keys]
        if extra:
            raise ValueError(
                f"values names {', '.join(map(repr, extra))}, not in required_keys; add it there"
            )
        return self


class ChoiceCheck(_Rule):
    """A multiple-choice answer: the letter chosen is ``answer``.

    - ``answer``: the right letter, one of ``choices``;
    - ``choices``: the letters offered, single uppercase letters (``["A", "B", "C", "D"]``).
    """

    kind: Literal["choice"]
    answer: str
    choices: list[str] = Field(min_length=2)

    @field_validator("choices")
    @classmethod
    def _letters(cls, choices: list[str]) -> list[str]:
        bad = [c for c in choices if len(c) != 1 or not ("A" <= c <= "Z")]
        if bad:
            raise ValueError(f"must be single uppercase letters A-Z, got {bad[0]!r}")
        if len(set(choices)) != len(choices):
            raise ValueError("lists a letter more than once")
        return choices

    @model_validator(mode="after")
    def _answer_offered(self) -> ChoiceCheck:
        if self.answer not in self.choices:
            raise ValueError(
                f"answer {self.answer!r} is not among choices {self.choices}; give one of them"
            )
        return self


#: Any rule; pydantic picks the model by its ``kind``.
Check = Annotated[
    ContainsCheck | RegexCheck | NumberCheck | JsonCheck | ChoiceCheck,
    Field(discriminator="kind"),
]
