"""Load a versioned prompt set (JSONL) into typed, validated prompts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from servegate.core.errors import ConfigError, PromptFileError
from servegate.core.jsonl import parse_line, read_jsonl
from servegate.core.paths import project_root, resolve_path

__all__ = ["Message", "Prompt", "PromptSet", "check_conversation", "load_prompts"]

_SHAPE = '{"id", "category", "messages": [{"role", "content"}, ...], "max_tokens"}'
_REGENERATE = "or regenerate the set with python data/prompts/make_prompts.py"
_PROMPT_DIR = "data/prompts"


class Message(BaseModel):
    """One chat message: a role and its non-blank text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str = Field(strict=True)

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty; every message needs some text")
        return value


class Prompt(BaseModel):
    """One benchmark prompt: chat messages ending with the user turn to answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(strict=True)
    category: str = Field(strict=True)
    messages: list[Message]
    max_tokens: int = Field(strict=True, gt=0, description="cap on generated tokens")

    @field_validator("id", "category")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty; give it a non-blank string")
        return value

    @model_validator(mode="after")
    def _ends_with_user(self) -> Prompt:
        check_conversation(self.messages, "prompt")
        return self


def check_conversation(messages: list[Message], what: str) -> None:
    """``ValueError`` unless ``messages`` is a conversation ending with the user turn to
    answer (a prompt's, or a quality item's: ``what`` names it in the message)."""
    if not messages:
        raise ValueError("messages is empty; give at least one user message")
    last = messages[-1].role
    if last != "user":
        raise ValueError(
            f"the last message must be from the user, got role {last!r}; end each {what} "
            "with the user turn the model should answer"
        )


@dataclass(frozen=True)
class PromptSet:
    """A loaded prompt file: its path, the sha256 of its bytes, and its prompts in file order."""

    path: Path
    sha256: str
    prompts: tuple[Prompt, ...]

    def __len__(self) -> int:
        return len(self.prompts)

    def take(self, n: int | None) -> tuple[Prompt, ...]:
        """Return the first ``n`` prompts in file order; ``None`` returns them all.

        :raises ConfigError: when ``n`` is not a positive integer or exceeds the set's size.
        """
        if n is None:
            return self.prompts
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ConfigError(f"n_prompts must be a positive integer or null (all), got {n!r}")
        if n > len(self.prompts):
            raise ConfigError(
                f"n_prompts={n} but {self.path} holds only {len(self.prompts)} prompts; "
                f"use n_prompts <= {len(self.prompts)}, or null for all"
            )
        return self.prompts[:n]

    def by_category(self) -> dict[str, int]:
        """Count prompts per category, sorted by category name."""
        counts: dict[str, int] = {}
        for prompt in self.prompts:
            counts[prompt.category] = counts.get(prompt.category, 0) + 1
        return dict(sorted(counts.items()))


def _where(loc: tuple[int | str, ...]) -> str:
    """``('messages', 1, 'content')`` -> ``'messages[1].content'``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _reason(err: Any) -> str:
    """One pydantic error as a sentence that names the field, what was wrong, and what is valid."""
    where, kind, got = _where(err["loc"]), err["type"], err.get("input")
    if kind == "missing":
        return f"missing field {where!r}"
    if kind == "extra_forbidden":
        model = Message if len(err["loc"]) > 1 else Prompt
        return f"unknown field {where!r} (known: {', '.join(model.model_fields)})"
    if kind == "literal_error":
        return f"{where} must be one of 'system', 'user', 'assistant', got {got!r}"
    if where == "max_tokens":
        return f"max_tokens must be a positive integer, got {got!r}"
    if kind == "value_error":
        message = err["msg"].removeprefix("Value error, ")
        return f"{where} {message}" if where else message
    return f"{where}: {err['msg'].lower()}, got {got!r}"


def _missing(path: Path) -> str:
    """Why ``path`` cannot be the prompt set, and the prompt sets the project does have, as
    ``prompts`` values that work from any folder (they are under the project root)."""
    try:
        root = project_root()
    except ConfigError as exc:
        return f"prompt file {path} does not exist, and {exc}"
    found = sorted((root / _PROMPT_DIR).glob("*.jsonl"))
    if found:
        names = ", ".join(p.relative_to(root).as_posix() for p in found)
        fix = f"use one of the prompt sets under {root / _PROMPT_DIR}: {names}"
    else:
        fix = (
            f"there is none under {root / _PROMPT_DIR}: generate one with "
            f"python {_PROMPT_DIR}/make_prompts.py, or give the path of yours"
        )
    return (
        f"prompt file {path} does not exist; a relative `prompts` is read from the project root "
        f"{root}, whatever the working directory; {fix}"
    )


def load_prompts(path: str | Path) -> PromptSet:
    """Read and validate every line of a JSONL prompt file.

    Blank lines are skipped; every other line must be one :class:`Prompt` as a JSON object,
    and ids must be unique. All lines are checked before anything is returned, so one error
    lists every bad line (the first five quoted, the rest counted).

    :param path: the ``.jsonl`` file, e.g. ``data/prompts/interactive_v1.jsonl``; a relative
        path is under the project root (``servegate.core.paths``).
    :returns: the prompts in file order, with the sha256 of the exact bytes that were parsed.
    :raises PromptFileError: when the file cannot be read, holds no prompt, or has a bad line;
        the message names the file, each bad line's 1-based number and the reason.
    """
    path = resolve_path(path)
    prompts, sha256 = read_jsonl(
        path,
        lambda raw: parse_line(raw, Prompt, _reason),
        error=PromptFileError,
        what="prompt file",
        items="prompts",
        shape=_SHAPE,
        fix=_REGENERATE,
        missing=_missing,
    )
    return PromptSet(path=path, sha256=sha256, prompts=prompts)
