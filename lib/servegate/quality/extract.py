"""Read what a free-text answer says: its final number, its JSON object, its chosen letter, and
its words, sentences and list items. Pure functions over strings, lenient where people are.

Every reader starts from :func:`plain`: Unicode NFKC (full-width digits, ligatures, ``CO₂`` ->
``CO2``), curly quotes made straight, the minus sign made a hyphen, and markdown emphasis and
code ticks removed, so ``**Paris**`` reads ``Paris``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

__all__ = [
    "count_items",
    "count_sentences",
    "count_words",
    "find_choice",
    "find_json_object",
    "find_number",
    "plain",
]

_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"'})
_MINUS = str.maketrans({"−": "-", "–": "-"})
# Single underscores that open or close an italic word, not those inside snake_case names.
_ITALIC_UNDERSCORE = re.compile(r"(?<![^\W_])_(?=[^\W_])|(?<=[^\W_])_(?![^\W_])")


def plain(text: str, *, keep_bold: bool = False) -> str:
    """``text`` in NFKC with straight quotes and hyphen minus, without emphasis or code ticks.

    :param keep_bold: keep ``**`` (the number reader looks for a bold final answer).
    """
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).translate(_MINUS)
    text = text.replace("`", "").replace("__", "")
    if not keep_bold:
        text = text.replace("**", "")
    return _ITALIC_UNDERSCORE.sub("", text)


# --------------------------------------------------------------------------- numbers

# A narrow or no-break space between digit groups ("3 400" typeset) is a thousands separator;
# an ordinary space is not, since "3 400" could as well be two numbers.
_GROUP_SPACE = re.compile("(?<=\\d)[\u00a0\u2009\u202f](?=\\d{3}(?!\\d))")
_NUMBER = re.compile(
    r"(?<![\w.])"  # not the tail of a word or a decimal: H2O, v1.2
    r"(?P<sign>[-+])?"
    r"(?:[$€£¥₹]\s?)?"
    r"(?P<sign2>-)?"  # $-5
    r"(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)"
    r"(?:\.(?P<frac>\d+))?"
    r"(?:/(?P<den>\d+)(?![\d/.]))?"  # 3/4, but not a date 12/25/2024
    r"(?:[eE](?P<exp>[-+]?\d+))?"
    r"(?:\s*(?P<scale>thousand|million|billion|trillion)\b)?",
    re.IGNORECASE,
)
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_UNITS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]  # fmt: skip
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORD = re.compile(
    rf"\b(?:(?P<tens>{'|'.join(_TENS)})(?:[- ](?P<unit>{'|'.join(_UNITS[1:10])}))?"
    rf"|(?P<small>{'|'.join(_UNITS)}))\b",
    re.IGNORECASE,
)
# Words for larger numbers ("three hundred and one") are not read: rather no number than 1.
_LARGE_WORD = re.compile(r"\b(?:hundred|thousand|million|billion|trillion)\b", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_HASHES = re.compile(r"####\s*([^\n]*)")
_ANSWER_IS = re.compile(
    # "answer" then "is", ":" or "=" (not "to answer this, ..."), a few words, the number
    r"\banswer\b(?:\s+(?:is|was|would be|should be|comes to)\b\s*[:=]?|\s*[:=])\s*"
    r"([^\d\n]{0,25}?[-+$€£¥₹]?\d[^\n]*)",
    re.IGNORECASE,
)
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")


def _value(match: re.Match[str]) -> float:
    """The number one ``_NUMBER`` match stands for."""
    number = float(match["int"].replace(",", "") + (f".{match['frac']}" if match["frac"] else ""))
    if match["den"] and int(match["den"]):
        number /= int(match["den"])
    if match["exp"]:
        number *= 10 ** int(match["exp"])
    if match["scale"]:
        number *= _SCALE[match["scale"].lower()]
    return -number if "-" in ((match["sign"] or "") + (match["sign2"] or "")) else number


def _numbers(text: str) -> list[tuple[float, int]]:
    """Every number written in digits in ``text``: its value and its start."""
    return [(_value(m), m.start()) for m in _NUMBER.finditer(text)]


def _first(text: str) -> float | None:
    """The first number written in digits in ``text``, or None."""
    found = _numbers(text)
    return found[0][0] if found else None


def _bracketed(text: str) -> list[bool]:
    """For each character, whether it is inside round or square brackets."""
    depth, inside = 0, []
    for char in text:
        if char in "([":
            depth += 1
        inside.append(depth > 0)
        if char in ")]":
            depth = max(depth - 1, 0)
    return inside


def _last(found: list[tuple[float, int]], text: str) -> float:
    """The last of ``found`` outside brackets, else the last of all (``found`` is not empty)."""
    inside = _bracketed(text)
    outside = [value for value, start in found if not inside[start]]
    return outside[-1] if outside else found[-1][0]


def _word_numbers(text: str) -> list[tuple[float, int]]:
    """Every number from zero to ninety-nine written as an English word, and its start."""
    found = []
    for m in _WORD.finditer(text):
        if m["small"]:
            value = _UNITS.index(m["small"].lower())
        else:
            value = 20 + 10 * _TENS.index(m["tens"].lower())
            value += _UNITS.index(m["unit"].lower()) if m["unit"] else 0
        found.append((float(value), m.start()))
    return found


def find_number(answer: str) -> tuple[float, str] | None:
    """The number an answer gives as its result, and where it was found; None without one.

    The first rule that finds a number decides:

    1. the last ``\\boxed{X}`` or ``#### X`` (the math-grader conventions);
    2. the number after the last "answer is", "answer:" or "answer =" (up to 25 characters
       of words such as "approximately" may come between);
    3. the last bold span that is just a number with at most three more words
       (``**180 minutes**``, not a label such as ``**Step 2:**``);
    4. the last number in the answer that is not in brackets, so a closing aside such as
       "180 minutes (3 × 60)" does not win; when every number is in brackets, the last one;
    5. with no digits at all, the last number word from zero to ninety-nine ("seven"),
       unless a larger one is spelled out ("three hundred"), which finds nothing.

    "= X" is no marker: a worked answer writes "=" at every step and ends with its result,
    which rule 4 already picks. Numbers may carry a sign, a currency symbol, thousands commas
    (``1,234``), a decimal point, a fraction (``3/4``), an exponent, a scale word
    (``1.5 million``) and a trailing percent sign or unit, which are dropped (``7.5%`` reads
    7.5); a trailing full stop is not a decimal point.
    """
    text = plain(_GROUP_SPACE.sub("", answer), keep_bold=True)
    for pattern, how in ((_BOXED, "boxed"), (_HASHES, "after '####'")):
        values = [v for m in pattern.finditer(text) if (v := _first(m[1])) is not None]
        if values:
            return values[-1], how
    values = [v for m in _ANSWER_IS.finditer(text) if (v := _first(m[1])) is not None]
    if values:
        return values[-1], "after 'answer'"
    for span in reversed(_BOLD.findall(text)):
        inside = _numbers(span)
        words = len(re.findall(r"[^\W\d_]+", span))
        if len(inside) == 1 and words <= 3 and not span.rstrip().endswith(":"):
            return inside[0][0], "in bold"
    text = text.replace("**", "")
    found = _numbers(text)
    if found:
        return _last(found, text), "last number in the answer"
    found = [] if _LARGE_WORD.search(text) else _word_numbers(text)
    if found:
        return _last(found, text), "last number word in the answer"
    return None


# --------------------------------------------------------------------------- JSON

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)


def _kind(value: Any) -> str:
    """A JSON type's name: ``array`` for a list, ``string`` for a str."""
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def find_json_object(answer: str) -> tuple[dict[str, Any] | None, str]:
    """The JSON object an answer gives, or None and why there is none.

    Tried in turn: the whole answer; the first code fence (```` ```json ```` or plain ```` ``` ````)
    whose text parses; the first ``{...}`` in the text that parses as an object. Whole answers
    or fences that parse as something other than an object (an array, a string) fail with that
    type named, since the question asked for an object. The text is parsed as written: JSON
    needs straight double quotes, and single quotes or trailing commas are not JSON.
    """
    text = answer.strip()
    candidates = [text, *(m.strip() for m in _FENCE.findall(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value, ""
        return None, f"expected a JSON object, got a JSON {_kind(value)}"
    decoder = json.JSONDecoder()
    first_error = ""
    for start in (i for i, char in enumerate(text) if char == "{"):
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            first_error = first_error or f" ({exc.msg} at column {exc.colno})"
            continue
        if isinstance(value, dict):
            return value, ""
    return None, f"no valid JSON object found{first_error}"


# --------------------------------------------------------------------------- choices

_NOT_A_CHOICE = re.compile(r"\s+(?!(?:or|and|nor|is|was|vs)\b)[a-z]")  # "A dog", "I think"


def find_choice(answer: str, choices: list[str]) -> tuple[str | None, str]:
    """The letter an answer chooses among ``choices``, or None and why none is clear.

    The first rule that finds a letter decides:

    1. the answer is just a letter, in any case, with any wrapping: ``B``, ``b.``, ``(B)``,
       ``**B**``;
    2. an explicit phrase: "answer is B", "Answer: (B)", "option B", "B is correct"; when such
       phrases name two different letters, the answer fails as ambiguous;
    3. the answer starts with a letter marked as an option: ``B) Paris``, ``b. Paris``,
       ``(C) 29``, ``B - Jupiter``, ``B, because``;
    4. the uppercase letters among ``choices`` that stand alone anywhere in the answer
       ("It is B.", "so the right one is C"): exactly one such letter is the choice; two or
       more ("A or B") fail as ambiguous. ``A`` and ``I`` followed by a lowercase word are
       read as English words ("A dog", "I think"), not as choices.

    A lowercase letter counts only in rules 1 and 3, or in rule 2 when followed by ``)``,
    ``.`` or the end ("the answer is b"), so "answer is a bit tricky" chooses nothing.
    """
    text = plain(answer).strip()
    letters = "".join(choices)
    if match := re.fullmatch(rf"\W*([{letters}])\W*", text, re.IGNORECASE):
        return match[1].upper(), ""
    explicit = []
    for m in re.finditer(
        rf"\b(?:answer|option|choice)(?:\s+(?:is|would be|should be))?\s*[:\-]?\s*"
        rf"(\(?)([{letters}])(?!\w)(?P<after>[).]|\s*$)?|\b([{letters}])\)?\s+is\s+"
        r"(?:the\s+)?(?:correct|right|answer)\b",
        text,
        re.IGNORECASE,
    ):
        letter = m[2] or m[4]
        if letter.isupper() or m[1] or m["after"] is not None:
            explicit.append(letter.upper())
    if explicit:
        if len(set(explicit)) > 1:
            return None, f"names more than one choice ({', '.join(sorted(set(explicit)))})"
        return explicit[0], ""
    if match := re.match(rf"[(\[]?([{letters}])(?:[)\].:,]|\s*[-(]|\s*$)", text, re.IGNORECASE):
        return match[1].upper(), ""
    found = []
    for m in re.finditer(rf"(?<![\w'])([{letters}])(?![\w'])", text):
        after = text[m.end() :]
        if m[1] in "AI" and _NOT_A_CHOICE.match(after):
            continue
        if m[1] not in found:
            found.append(m[1])
    if len(found) > 1:
        return None, f"names more than one choice ({', '.join(found)})"
    if found:
        return found[0], ""
    return None, f"no choice letter ({', '.join(choices)}) found"


# --------------------------------------------------------------------------- shape

_ITEM = re.compile(r"^([ \t]*)(?:[-*•+]|\d+[.)])[ \t]+\S", re.MULTILINE)
_WORDS = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


def _without_markers(text: str) -> str:
    """``text`` without list markers at the start of its lines."""
    return re.sub(r"^[ \t]*(?:[-*•+]|\d+[.)])[ \t]+", "", text, flags=re.MULTILINE)


def count_words(answer: str) -> int:
    """Words: runs of letters and digits, inner apostrophes and hyphens allowed; list markers,
    bullets and punctuation are not words."""
    return len(_WORDS.findall(_without_markers(plain(answer))))


def count_sentences(answer: str) -> int:
    """Sentences: pieces ending at ``.``, ``!`` or ``?`` before a space, or at a line break,
    that hold a letter or digit. An abbreviation such as "e.g." ends one too."""
    pieces = _SENTENCE_END.split(_without_markers(plain(answer)).strip())
    return sum(1 for piece in pieces if re.search(r"[^\W_]", piece))


def count_items(answer: str) -> int:
    """List items: lines starting with ``-``, ``*``, ``•``, ``+``, ``1.`` or ``1)`` and a space;
    only the least-indented ones, so sub-points are not counted."""
    indents = [len(m[1].expandtabs(4)) for m in _ITEM.finditer(plain(answer))]
    return sum(1 for indent in indents if indent == min(indents)) if indents else 0
