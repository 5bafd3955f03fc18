"""Load a versioned answer-quality check set (JSONL) into typed, validated items.

Each line is one :class:`QualityItem`: a short chat prompt with a known right answer, a rule
(``check``) that recognises any correct phrasing of it, and a reference ``answer`` that must
pass its own rule. The rules live in ``servegate.quality.rules`` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from servegate.core.errors import ConfigError, QualityFileError
from servegate.core.jsonl import parse_line, read_jsonl
from servegate.core.paths import project_root, resolve_path
from servegate.measure.prompts import Message, Prompt, check_conversation
from servegate.quality.rules import (
    CHECK_KINDS,
    Check,
    ChoiceCheck,
    ContainsCheck,
    JsonCheck,
    NumberCheck,
    RegexCheck,
)
from servegate.quality.score import score

__all__ = [
    "CHECK_KINDS",
    "DEFAULT_CHECKS",
    "Check",
    "ChoiceCheck",
    "ContainsCheck",
    "JsonCheck",
    "NumberCheck",
    "QualityItem",
    "QualitySet",
    "RegexCheck",
    "load_checks",
]

#: The check set the project ships, relative to the project root.
DEFAULT_CHECKS = "data/quality/checks_v1.jsonl"

_SHAPE = (
    '{"id", "category", "messages": [{"role", "content"}, ...], "check": {"kind", ...}, "answer"}'
)
_REGENERATE = "or regenerate the set with python data/quality/make_checks.py"
_CHECK_DIR = "data/quality"
_RULES: dict[str, type[BaseModel]] = {
    "contains": ContainsCheck,
    "regex": RegexCheck,
    "number": NumberCheck,
    "json": JsonCheck,
    "choice": ChoiceCheck,
}


class QualityItem(BaseModel):
    """One checkable question: the chat to send, the rule for its answer, a reference answer.

    ``messages`` end with the user turn to answer; ``answer`` is what a good model would reply,
    and must pass ``check`` itself, so a rule that rejects the right answer cannot be loaded.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(strict=True)
    category: str = Field(strict=True)
    messages: list[Message]
    check: Check
    answer: str = Field(strict=True)

    @field_validator("id", "category", "answer")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty; give it a non-blank string")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> QualityItem:
        check_conversation(self.messages, "item")
        verdict = score(self.answer, self.check)
        if not verdict.passed:
            raise ValueError(
                f"answer fails its own check: {verdict.reason}; fix the check or the answer"
            )
        return self

    def prompt(self, max_tokens: int) -> Prompt:
        """This item as a benchmark :class:`Prompt` with the same id, category and messages."""
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0:
            raise ConfigError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        return Prompt(
            id=self.id, category=self.category, messages=self.messages, max_tokens=max_tokens
        )


@dataclass(frozen=True)
class QualitySet:
    """A loaded check set: its path, the sha256 of its bytes, and its items in file order."""

    path: Path
    sha256: str
    items: tuple[QualityItem, ...]

    def __len__(self) -> int:
        return len(self.items)

    @property
    def by_id(self) -> dict[str, QualityItem]:
        """The items keyed by id, in file order."""
        return {item.id: item for item in self.items}

    def item(self, id: str) -> QualityItem:
        """The item with this id.

        :raises KeyError: when the set has no such item; the message names the file.
        """
        for item in self.items:
            if item.id == id:
                return item
        raise KeyError(f"{self.path} has no quality item {id!r}")

    def take(self, n: int | None) -> tuple[QualityItem, ...]:
        """The first ``n`` items in file order (a mix of categories); ``None`` returns all.

        :raises ConfigError: when ``n`` is not a positive integer or exceeds the set's size.
        """
        if n is None:
            return self.items
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ConfigError(
                f"the number of quality items must be a positive integer or null (all), got {n!r}"
            )
        if n > len(self.items):
            raise ConfigError(
                f"asked for {n} quality items but {self.path} holds only {len(self.items)}; "
                f"use at most {len(self.items)}, or null for all"
            )
        return self.items[:n]

    def by_category(self) -> dict[str, int]:
        """Count items per category, sorted by category name."""
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.category] = counts.get(item.category, 0) + 1
        return dict(sorted(counts.items()))

    def prompts(self, max_tokens: int) -> tuple[Prompt, ...]:
        """Every item as a benchmark :class:`Prompt` capped at ``max_tokens``, in file order.

        :raises ConfigError: when ``max_tokens`` is not a positive integer.
        """
        return tuple(item.prompt(max_tokens) for item in self.items)


def _where(loc: tuple[int | str, ...]) -> str:
    """``('check', 'regex', 'pattern')`` -> ``'check.pattern'``: the union's tag is dropped."""
    out = ""
    for i, part in enumerate(loc):
        if i == 1 and loc[0] == "check" and part in _RULES:
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _known(loc: tuple[int | str, ...]) -> str:
    """The field names allowed where an unknown field ``loc`` was found."""
    if loc[0] == "messages":
        fields = list(Message.model_fields)
    elif loc[0] == "check" and len(loc) > 2 and loc[1] in _RULES:
        fields = list(_RULES[str(loc[1])].model_fields)
    else:
        fields = list(QualityItem.model_fields)
    return ", ".join(fields)


def _reason(err: Any) -> str:
    """One pydantic error as a sentence that names the field, what was wrong, and what is valid."""
    loc, kind, got = tuple(err["loc"]), err["type"], err.get("input")
    where = _where(loc)
    kinds = ", ".join(CHECK_KINDS)
    if kind == "missing":
        return f"missing field {where!r}"
    if kind == "extra_forbidden":
        return f"unknown field {where!r} (known: {_known(loc)})"
    if kind == "union_tag_not_found":
        return f"{where} has no 'kind'; give one of {kinds}"
    if kind == "union_tag_invalid":
        return f"unknown check kind {err['ctx']['tag']!r} (known: {kinds})"
    if kind == "model_attributes_type" and where == "check":
        return f'check must be a JSON object {{"kind": ...}}, got {got!r}'
    if kind == "literal_error" and where.startswith("messages"):
        return f"{where} must be one of 'system', 'user', 'assistant', got {got!r}"
    if kind == "value_error":
        message = err["msg"].removeprefix("Value error, ")
        return f"{where} {message}" if where else message
    return f"{where}: {err['msg'].lower()}, got {got!r}"


def _missing(path: Path) -> str:
    """Why ``path`` cannot be the check set, and the sets the project does have."""
    try:
        root = project_root()
    except ConfigError as exc:
        return f"quality check file {path} does not exist, and {exc}"
    found = sorted((root / _CHECK_DIR).glob("*.jsonl"))
    if found:
        names = ", ".join(p.relative_to(root).as_posix() for p in found)
        fix = f"use one of the check sets under {root / _CHECK_DIR}: {names}"
    else:
        fix = (
            f"there is none under {root / _CHECK_DIR}: the default is {DEFAULT_CHECKS}, made "
            f"with python {_CHECK_DIR}/make_checks.py; or give the path of yours"
        )
    return (
        f"quality check file {path} does not exist; a relative path is read from the project "
        f"root {root}, whatever the working directory; {fix} (or set quality_prompts: null "
        "to skip the quality pass)"
    )


def load_checks(path: str | Path) -> QualitySet:
    """Read and validate every line of a JSONL answer-quality check set.

    Blank lines are skipped; every other line must be one :class:`QualityItem` as a JSON
    object whose reference answer passes its own check, and ids must be unique. All lines are
    checked before anything is returned, so one error lists every bad line (the first five
    quoted, the rest counted).

    :param path: the ``.jsonl`` file, e.g. ``data/quality/checks_v1.jsonl``; a relative path
        is under the project root (``servegate.core.paths``).
    :returns: the items in file order, with the sha256 of the exact bytes that were parsed.
    :raises QualityFileError: when the file cannot be read, holds no item, or has a bad line;
        the message names the file, each bad line's 1-based number and the reason.
    """
    path = resolve_path(path)
    items, sha256 = read_jsonl(
        path,
        lambda raw: parse_line(raw, QualityItem, _reason),
        error=QualityFileError,
        what="quality check file",
        items="items",
        shape=_SHAPE,
        fix=_REGENERATE,
        missing=_missing,
    )
    return QualitySet(path=path, sha256=sha256, items=items)
