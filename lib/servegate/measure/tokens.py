"""Token counts from the model's own tokenizer, for servers that stream no usage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["TokenCounter"]


class TokenCounter:
    """Counts tokens with the model's own tokenizer, loaded on first use.

    Used only when a server sends no usage in its stream; transformers is imported then, not
    before, because a benchmark against vLLM or OpenAI never needs it.
    """

    def __init__(self, model_path: str | Path) -> None:
        self.model_path = str(model_path)
        self._tokenizer: Any = None  # a transformers tokenizer, untyped

    def __call__(self, text: str) -> int:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        return len(self._tokenizer.encode(text, add_special_tokens=False))
