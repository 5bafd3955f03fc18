"""Generate data/quality/checks_v1.jsonl: 144 short questions whose answers can be checked.

Each item is a hand-written question from the tables below, a rule that accepts any correct
phrasing of the answer (``servegate.quality.rules``) and a reference answer. Only the order
and the optional system prompt are drawn, with the standard library's ``random.Random(seed)``:
no network, no model. The same seed gives the same bytes.

Usage (from the repository root)::

    python data/quality/make_checks.py            # write the set, then load it to validate it
    python data/quality/make_checks.py --check    # exit 1 if the committed file differs
    python data/quality/make_checks.py --stats    # print the README's table

Generating in memory, ``--check`` and ``--stats`` need only the standard library; writing
loads the result with ``servegate.quality.checks.load_checks``, which checks every reference
answer against its own rule.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "checks_v1.jsonl"
DEFAULT_SEED = 20260314
ID_PREFIX = "qc1"
KINDS = ("contains", "regex", "number", "json", "choice")

Row = dict[str, Any]
# (the user's question, the check, a reference answer a good model would give)
Item = tuple[str, Row, str]

SYSTEMS = (
    None,
    "You are a helpful assistant. Answer briefly.",
    "You are a concise, accurate assistant.",
)

# --------------------------------------------------------------------------- check builders


def contains(*any_: str, all_: Sequence[str] = (), none: Sequence[str] = (), **opts: Any) -> Row:
    """A ``contains`` check: any of ``any_``, all of ``all_``, none of ``none``, plus options
    (``case_sensitive`` and the shape limits) as given."""
    row: Row = {"kind": "contains"}
    if any_:
        row["any"] = list(any_)
    if all_:
        row["all"] = list(all_)
    if none:
        row["none"] = list(none)
    return {**row, **opts}


def regex(pattern: str, **opts: Any) -> Row:
    """A ``regex`` check (``ignore_case`` defaults to true)."""
    return {"kind": "regex", "pattern": pattern, **opts}


def number(value: float, tolerance: float = 0) -> Row:
    """A ``number`` check; the tolerance is written only when there is one."""
    return {"kind": "number", "value": value, **({"tolerance": tolerance} if tolerance else {})}


def json_object(*keys: str, **values: Any) -> Row:
    """A ``json`` check: the keys required, and the expected value of some of them."""
    return {"kind": "json", "required_keys": list(keys), **({"values": values} if values else {})}


def choice(question: str, options: Sequence[str], answer: str) -> tuple[str, Row]:
    """A multiple-choice question lettered A, B, ... and its ``choice`` check."""
    letters = [chr(ord("A") + i) for i in range(len(options))]
    lines = [f"{letter}) {text}" for letter, text in zip(letters, options, strict=True)]
    prompt = "\n".join([question, *lines, "Answer with just the letter."])
    return prompt, {"kind": "choice", "answer": answer, "choices": letters}


def yes_no(question: str, yes: bool) -> tuple[str, Row]:
    """A yes-or-no question; the answer must start with the right word."""
    return f"{question} Answer yes or no.", regex(r"^\s*yes\b" if yes else r"^\s*no\b")


# --------------------------------------------------------------------------- factual

FACTUAL: list[Item] = [
    (
        "What is the capital of Australia?",
        contains("Canberra"),
        "The capital of Australia is Canberra.",
    ),
    ("What is the capital of Canada?", contains("Ottawa"), "Ottawa is the capital of Canada."),
    ("What is the capital of Kenya?", contains("Nairobi"), "Nairobi."),
    (
        "What is the capital of Brazil?",
        contains("Brasília", "Brasilia"),
        "The capital of Brazil is Brasília.",
    ),
    ("Which city is the capital of Egypt?", contains("Cairo"), "Cairo."),
    (
        "What is the chemical symbol for gold?",
        contains("Au", case_sensitive=True),
        "The chemical symbol for gold is Au.",
    ),
    (
        "What is the chemical symbol for sodium?",
        contains("Na", case_sensitive=True),
        "Na, from its Latin name natrium.",
    ),
    ("What is the chemical symbol for iron?", contains("Fe", case_sensitive=True), "Fe."),
    ("Which chemical element has atomic number 1?", contains("hydrogen"), "Hydrogen."),
    (
        'Who wrote the novel "Pride and Prejudice"?',
        contains("Austen"),
        "Jane Austen wrote Pride and Prejudice.",
    ),
    ('Who wrote the novel "Nineteen Eighty-Four"?', contains("Orwell"), "George Orwell."),
    (
        'Who wrote "One Hundred Years of Solitude"?',
        contains("Márquez", "Marquez"),
        "Gabriel García Márquez.",
    ),
    (
        "Who painted the Mona Lisa?",
        contains("Leonardo", "da Vinci"),
        "Leonardo da Vinci painted the Mona Lisa.",
    ),
    (
        "What is the largest planet in our solar system?",
        contains("Jupiter"),
        "Jupiter is the largest planet in our solar system.",
    ),
    ("Which planet is known as the Red Planet?", contains("Mars"), "Mars."),
    (
        "Which planet is closest to the Sun?",
        contains("Mercury"),
        "Mercury is the closest planet to the Sun.",
    ),
    (
        "What is the hardest naturally occurring mineral?",
        contains("diamond", "diamonds"),
        "Diamond.",
    ),
    (
        "Which gas do plants take in from the air for photosynthesis?",
        contains("carbon dioxide", "CO2"),
        "Plants take in carbon dioxide (CO₂).",
    ),
    ("What is the largest ocean on Earth?", contains("Pacific"), "The Pacific Ocean."),
    (
        "What is the longest bone in the human body?",
        contains("femur", "thigh bone", "thighbone"),
        "The femur, or thigh bone.",
    ),
    (
        "How many chambers does the human heart have?",
        contains("four", "4"),
        "The human heart has four chambers: two atria and two ventricles.",
    ),
    ("Who developed the theory of general relativity?", contains("Einstein"), "Albert Einstein."),
    (
        "In what year did humans first land on the Moon?",
        contains("1969"),
        "In 1969, during the Apollo 11 mission.",
    ),
    ("What is the currency of Japan?", contains("yen"), "The Japanese yen."),
    (
        "Who was the first person to walk on the Moon?",
        contains("Armstrong"),
        "Neil Armstrong, in July 1969.",
    ),
    (
        "Which organelle is known as the powerhouse of the cell?",
        contains("mitochondria", "mitochondrion"),
        "The mitochondrion (plural: mitochondria).",
    ),
]

# --------------------------------------------------------------------------- arithmetic

JUST = "Reply with just the number."
WORKED = "Show your working in a line or two, then give the result on its own line as 'Answer: N'."

ARITHMETIC: list[Item] = [
    (f"What is 17 × 23? {JUST}", number(391), "391"),
    (f"What is 144 divided by 12? {JUST}", number(12), "12"),
    (f"What is 15% of 80? {JUST}", number(12), "12"),
    (f"How many minutes are in 3 hours? {JUST}", number(180), "180"),
    (f"How many minutes are in 2.5 hours? {JUST}", number(150), "150"),
    (f"How many seconds are in one day? {JUST}", number(86400), "86,400"),
    (
        f"Convert 5 miles to kilometres, rounded to two decimal places. {JUST}",
        number(8.05, 0.05),
        "8.05",
    ),
    (
        f"Convert 10 kilograms to pounds, rounded to one decimal place. {JUST}",
        number(22.046, 0.06),
        "22.0",
    ),
    (
        f"Convert 100 degrees Fahrenheit to Celsius, rounded to one decimal place. {JUST}",
        number(37.78, 0.1),
        "37.8",
    ),
    (f"Convert 25 degrees Celsius to Fahrenheit. {JUST}", number(77), "77"),
    (f"Convert -40 degrees Celsius to Fahrenheit. {JUST}", number(-40), "-40"),
    (f"How many centimetres are in 2 feet? {JUST}", number(60.96, 0.05), "60.96"),
    (f"What is 2 to the power of 10? {JUST}", number(1024), "1024"),
    (f"What is the square root of 144? {JUST}", number(12), "12"),
    (f"What is 1,250 + 3,875? {JUST}", number(5125), "5,125"),
    (f"What is 1,000 − 387? {JUST}", number(613), "613"),
    (
        f"A jacket costs $40 and is discounted by 25%. What is the sale price in dollars? {WORKED}",
        number(30),
        "25% of $40 is $10, and $40 − $10 = $30.\nAnswer: 30",
    ),
    (f"What is the average of 4, 8 and 15? {JUST}", number(9), "9"),
    (
        f"A train travels at 60 km/h for 2.5 hours. How many kilometres does it travel? {WORKED}",
        number(150),
        "Distance = speed × time = 60 × 2.5 = 150 km.\nAnswer: 150",
    ),
    (f"Write 3/4 as a decimal. {JUST}", number(0.75), "0.75"),
    (
        f"A price rises from $50 to $65. By what percentage did it increase? {WORKED}",
        number(30),
        "The increase is $15, and 15 / 50 = 0.30.\nAnswer: 30%",
    ),
    (
        f"How many litres are in 2.5 US gallons, rounded to two decimal places? {JUST}",
        number(9.46, 0.05),
        "9.46",
    ),
    (
        f"A marathon is 42.195 km. How many miles is that, rounded to one decimal place? {JUST}",
        number(26.2, 0.05),
        "26.2",
    ),
    (f"What is 9 + 10 × 2? {JUST}", number(29), "29"),
    (
        f"If 3 notebooks cost $4.50 in total, how much does one notebook cost in dollars? {WORKED}",
        number(1.5),
        "$4.50 / 3 = $1.50.\nAnswer: 1.50",
    ),
    (f"What is 6 factorial (6!)? {JUST}", number(720), "720"),
]

# --------------------------------------------------------------------------- instruction

FRUITS = (
    "apple", "apples", "banana", "bananas", "orange", "oranges", "mango", "mangoes", "mangos",
    "grape", "grapes", "strawberry", "strawberries", "pear", "pears", "pineapple", "pineapples",
    "cherry", "cherries", "peach", "peaches", "kiwi", "kiwis", "lemon", "lemons", "watermelon",
    "blueberry", "blueberries", "plum", "plums", "lime", "papaya", "raspberry", "raspberries",
)  # fmt: skip
PLANETS = ("Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune")
LANGUAGES = (
    "Python", "Java", "JavaScript", "TypeScript", "C", "C++", "C#", "Go", "Rust", "Ruby",
    "Kotlin", "Swift", "PHP", "Scala", "Haskell", "Perl", "R", "SQL",
)  # fmt: skip
SCATTER = ("scatter", "scatters", "scattered", "scattering", "Rayleigh")
TRANSLATE = (
    "translate", "translates", "translating", "convert", "converts", "converting",
    "transform", "transforms", "turns", "compiles", "machine code",
)  # fmt: skip

INSTRUCTION: list[Item] = [
    (
        "In one sentence, explain why the sky looks blue.",
        contains(*SCATTER, max_sentences=1),
        "Sunlight is scattered by the molecules in the air, and blue light is scattered much "
        "more than red, so the sky looks blue.",
    ),
    (
        'In at most 15 words, explain why backups matter. Use the word "reliable".',
        contains(all_=["reliable"], max_words=15),
        "Reliable backups let you recover your data after hardware failures, mistakes or attacks.",
    ),
    (
        "List the three primary colours of light as bullet points, with nothing else.",
        contains(all_=["red", "green", "blue"], n_items=3),
        "- Red\n- Green\n- Blue",
    ),
    (
        "Name exactly four planets of our solar system as a numbered list, with no other text.",
        contains(*PLANETS, n_items=4),
        "1. Mercury\n2. Venus\n3. Earth\n4. Mars",
    ),
    (
        'Write one sentence about a reusable water bottle that includes the word "planet".',
        contains(all_=["planet"], max_sentences=1),
        "A reusable water bottle keeps you hydrated while sparing the planet from piles of "
        "plastic waste.",
    ),
    (
        "What is the capital of France? Answer in all lowercase letters.",
        contains("paris", all_lowercase=True),
        "paris",
    ),
    (
        'Give two synonyms for "happy", separated by a comma, and nothing else.',
        regex(r"[a-z'-]+\s*,\s*[a-z'-]+", fullmatch=True),
        "joyful, cheerful",
    ),
    (
        'Write exactly two sentences about exercise, and use the word "energy".',
        contains(all_=["energy"], min_sentences=2, max_sentences=2),
        "Regular exercise strengthens your heart and muscles. It also gives you more energy "
        "during the day.",
    ),
    (
        "What colour do you get by mixing blue and yellow paint? Reply with one word.",
        contains("green", max_words=1),
        "Green.",
    ),
    (
        'Summarize in at most 10 words: "The team meeting has been moved from Monday to '
        'Wednesday because the conference room is booked on Monday."',
        contains("Wednesday", max_words=10),
        "Team meeting moved to Wednesday; the room is booked Monday.",
    ),
    (
        "List exactly five fruits as bullet points, one per line, with no other text.",
        contains(*FRUITS, n_items=5),
        "- Apple\n- Banana\n- Orange\n- Mango\n- Grapes",
    ),
    (
        "Describe the ocean in exactly three words.",
        regex(r"\w", min_words=3, max_words=3),
        "Vast, deep, mysterious.",
    ),
    (
        'Start your reply with the word "Certainly", then tell me the capital of Italy.',
        regex(r"(?s)^\s*certainly\b.*\brome\b"),
        "Certainly! The capital of Italy is Rome.",
    ),
    (
        'Name the largest planet in our solar system, and end your reply with the word "Done".',
        regex(r"(?s)\bjupiter\b.*\bdone\W*$"),
        "The largest planet in our solar system is Jupiter. Done",
    ),
    (
        "In one sentence without any commas, explain what a compiler does.",
        contains(*TRANSLATE, none=[","], max_sentences=1),
        "A compiler translates source code written in a programming language into machine code "
        "that a computer can run.",
    ),
    (
        "Spell out the number 42 in English words, in lowercase.",
        contains("forty-two", "forty two", all_lowercase=True),
        "forty-two",
    ),
    (
        "Name three programming languages as a numbered list, with no other text.",
        contains(*LANGUAGES, n_items=3),
        "1. Python\n2. Java\n3. Rust",
    ),
    (
        "In at most 8 words, what is the main ingredient of guacamole?",
        contains("avocado", "avocados", max_words=8),
        "Avocado.",
    ),
    (
        "List the first five prime numbers as bullet points, with nothing else.",
        contains(all_=["2", "3", "5", "7", "11"], n_items=5),
        "- 2\n- 3\n- 5\n- 7\n- 11",
    ),
    (
        "Explain what a CPU is in no more than 20 words.",
        contains(
            "processor",
            "processing",
            "instructions",
            "computer",
            "computations",
            "calculations",
            max_words=20,
        ),
        "A CPU is the central processing unit, the part of a computer that executes program "
        "instructions.",
    ),
    (
        "Name the four seasons of the year as a bulleted list, with nothing else.",
        contains("autumn", "fall", all_=["spring", "summer", "winter"], n_items=4),
        "- Spring\n- Summer\n- Autumn\n- Winter",
    ),
    (
        'Write one sentence that uses both the words "river" and "bridge".',
        contains(all_=["river", "bridge"], max_sentences=1),
        "We walked across the old stone bridge over the river at sunset.",
    ),
    (
        "Name the three classic states of matter as a numbered list, with nothing else.",
        contains("gas", "gases", "gaseous", all_=["solid", "liquid"], n_items=3),
        "1. Solid\n2. Liquid\n3. Gas",
    ),
    (
        "Write the numbers one to five as words, in lowercase, separated by commas.",
        contains(all_=["one", "two", "three", "four", "five"], all_lowercase=True),
        "one, two, three, four, five",
    ),
    (
        "Reply in all lowercase: which is the largest planet in our solar system?",
        contains("jupiter", all_lowercase=True),
        "jupiter is the largest planet in our solar system.",
    ),
]

# --------------------------------------------------------------------------- format

_CHOICES = [
    choice("Which planet is the largest?", ["Mars", "Jupiter", "Venus", "Earth"], "B"),
    choice("What is the chemical symbol for silver?", ["Si", "Sv", "Ag", "Au"], "C"),
    choice("Which of these numbers is prime?", ["21", "27", "33", "29"], "D"),
    choice(
        'Who wrote "Hamlet"?',
        ["William Shakespeare", "Charles Dickens", "Mark Twain", "Jane Austen"],
        "A",
    ),
    choice("What is 9 × 7?", ["56", "63", "72", "81"], "B"),
    choice(
        "Which gas makes up most of Earth's atmosphere?",
        ["Oxygen", "Carbon dioxide", "Nitrogen", "Argon"],
        "C",
    ),
    choice("Which of these animals is a mammal?", ["Shark", "Trout", "Octopus", "Dolphin"], "D"),
    choice(
        "At sea level, what is the freezing point of water in degrees Celsius?",
        ["0", "32", "100", "-10"],
        "A",
    ),
    choice("Which of these is the smallest unit of mass?", ["gram", "milligram", "kilogram"], "B"),
]
_YES_NO = [
    (yes_no("Is the Pacific Ocean larger than the Atlantic Ocean?", True), "Yes."),
    (yes_no("Is 51 a prime number?", False), "No. 51 = 3 × 17."),
    (yes_no("Is the Sun a star?", True), "Yes."),
    (yes_no("Do spiders have six legs?", False), "No, spiders have eight legs."),
    (yes_no("Is Sydney the capital of Australia?", False), "No."),
    (yes_no("Is water made of hydrogen and oxygen?", True), "Yes."),
]

FORMAT: list[Item] = [
    (
        'Reply with only a JSON object with keys "name" and "email" for this contact: Ana Lima, '
        "ana.lima@example.com",
        json_object("name", "email", name="Ana Lima", email="ana.lima@example.com"),
        '{"name": "Ana Lima", "email": "ana.lima@example.com"}',
    ),
    (
        'Reply with only a JSON object with keys "city" and "country" saying where the Eiffel '
        "Tower is.",
        json_object("city", "country", city="Paris", country="France"),
        '{"city": "Paris", "country": "France"}',
    ),
    (
        'Reply with only a JSON object with keys "planet" and "moons" (a number) for the planet '
        "Mars.",
        json_object("planet", "moons", planet="Mars", moons=2),
        '{"planet": "Mars", "moons": 2}',
    ),
    (
        'Reply with only a JSON object with keys "celsius" and "fahrenheit" (numbers) giving the '
        "boiling point of water at sea level.",
        json_object("celsius", "fahrenheit", celsius=100, fahrenheit=212),
        '{"celsius": 100, "fahrenheit": 212}',
    ),
    (
        'Reply with only a JSON object with keys "width", "height" and "area" (numbers) for a '
        "rectangle 3 units wide and 4 units high.",
        json_object("width", "height", "area", width=3, height=4, area=12),
        '{"width": 3, "height": 4, "area": 12}',
    ),
    (
        'Reply with only a JSON object with keys "number" and "is_prime" (a boolean) for the '
        "number 97.",
        json_object("number", "is_prime", number=97, is_prime=True),
        '{"number": 97, "is_prime": true}',
    ),
    (
        'Reply with only a JSON object with keys "sum" and "product" for the numbers 6 and 7.',
        json_object("sum", "product", sum=13, product=42),
        '{"sum": 13, "product": 42}',
    ),
    (
        'Reply with only a JSON object with keys "first_name", "last_name" and "age" (a number) '
        'for this sentence: "Maria Rossi is 34 years old."',
        json_object(
            "first_name", "last_name", "age", first_name="Maria", last_name="Rossi", age=34
        ),
        '{"first_name": "Maria", "last_name": "Rossi", "age": 34}',
    ),
    (
        'Reply with only a JSON object with the key "colors" holding a list of the three primary '
        "colours of light.",
        json_object("colors"),
        '{"colors": ["red", "green", "blue"]}',
    ),
    (
        'Reply with only a JSON object with keys "country" and "capital" for Japan.',
        json_object("country", "capital", country="Japan", capital="Tokyo"),
        '```json\n{"country": "Japan", "capital": "Tokyo"}\n```',
    ),
    *[
        (prompt, check, answer)
        for (prompt, check), answer in zip(_CHOICES, "BCDABCDAB", strict=True)
    ],
    *[(prompt, check, answer) for (prompt, check), answer in _YES_NO],
    (
        "Write the date 4 July 2021 in ISO 8601 format (YYYY-MM-DD), with nothing else.",
        regex(r"2021-07-04", fullmatch=True),
        "2021-07-04",
    ),
    (
        "Write the number 1234567 with commas as thousands separators, and nothing else.",
        regex(r"1,234,567", fullmatch=True),
        "1,234,567",
    ),
]

# --------------------------------------------------------------------------- extraction

EXTRACTION: list[Item] = [
    (
        'Extract the email address from this message and reply with only the address.\n\n"Hi, '
        "this is Dana Whitfield from the events team. Please send the signed contract to "
        'dana.whitfield@example.com before Friday. Thanks!"',
        contains(all_=["dana.whitfield@example.com"]),
        "dana.whitfield@example.com",
    ),
    (
        'On what date is the kickoff meeting? Reply in YYYY-MM-DD format.\n\n"The project '
        "kickoff meeting is scheduled for 14 March 2025 at 10:00 in Room 4B. Please bring your "
        'laptop."',
        contains(all_=["2025-03-14"]),
        "2025-03-14",
    ),
    (
        f'How many people registered for the workshop? {JUST}\n\n"Registration closed on Tuesday: '
        '248 people registered for the data workshop, and 31 of them later cancelled."',
        number(248),
        "248",
    ),
    (
        'Who signed this letter? Reply with the full name only.\n\n"Dear Ms. Okafor,\nThank you '
        "for your application. We will be in touch next week.\nBest regards,\nTomas "
        'Lindqvist\nHiring Manager, Northwind"',
        contains(all_=["Tomas Lindqvist"]),
        "Tomas Lindqvist",
    ),
    (
        'What phone number should customers call for billing questions?\n\n"For billing '
        'questions, call our support line at +1 555 0142 between 9 am and 5 pm."',
        regex(r"555[\s.-]?0142"),
        "+1 555 0142",
    ),
    (
        'What is the order number in this message? Reply with the order number only.\n\n"Your '
        'order ORD-48213 has shipped and should arrive within three business days."',
        contains(all_=["ORD-48213"]),
        "ORD-48213",
    ),
    (
        f'What is the total amount due, in dollars? {JUST}\n\n"Invoice 2291: 3 licenses at '
        '$120.00 each. Total due: $360.00, payable within 30 days."',
        number(360),
        "360",
    ),
    (
        "In which city will the conference take place?\n\n\"This year's Open Data Summit will be "
        'held in Lisbon from 9 to 11 October, after two years in Berlin."',
        contains("Lisbon"),
        "Lisbon.",
    ),
    (
        'Extract the person\'s name and company from this text as a JSON object with keys "name" '
        'and "company", and nothing else.\n\n"I met Priya Natarajan at the fair; she works at '
        'Globex as a product designer."',
        json_object("name", "company", name="Priya Natarajan", company="Globex"),
        '{"name": "Priya Natarajan", "company": "Globex"}',
    ),
    (
        'At what time does the webinar start?\n\n"The webinar starts at 4:30 pm Central European '
        'Time and runs for 45 minutes."',
        regex(r"\b4:30\s*(?:pm|p\.m\.)|\b16:30\b"),
        "It starts at 4:30 pm Central European Time.",
    ),
    (
        f'By what percentage did sales grow? {JUST}\n\n"Quarterly sales grew by 12.5% compared '
        'with last year, reaching $4.2 million."',
        number(12.5),
        "12.5",
    ),
    (
        'Which product is the customer complaining about?\n\n"Hello, the SoundWave X2 headphones '
        'I bought last month stopped charging. My other devices work fine."',
        contains("SoundWave X2"),
        "The SoundWave X2 headphones.",
    ),
    (
        'On which day is the report due?\n\n"Reminder: the quarterly report is due on Thursday, '
        'not Friday as stated earlier."',
        contains("Thursday"),
        "Thursday.",
    ),
    (
        "Which email address belongs to the sales team? Reply with the address "
        'only.\n\n"Support: help@example.org. Sales: sales.team@example.org. Press: '
        'press@example.org."',
        contains(all_=["sales.team@example.org"]),
        "sales.team@example.org",
    ),
    (
        f'How many rooms did the guest book? {JUST}\n\n"Booking confirmed for Mr. Kenji Tanaka: 2 '
        'rooms for 3 nights, from 5 to 8 June."',
        number(2),
        "2",
    ),
    (
        "What is Fatima Haddad's new job title?\n\n\"Fatima Haddad has joined the team as our "
        'new Head of Data Engineering, starting on 1 May."',
        contains("Head of Data Engineering"),
        "Head of Data Engineering.",
    ),
    (
        'On what date does Jonas Weber start?\n\n"Jonas Weber has accepted our offer and starts '
        'on 1 May as a backend engineer in the Warsaw office."',
        regex(r"\b1(?:st)?\s+(?:of\s+)?May\b|\bMay\s+1(?:st)?\b|-05-01\b"),
        "He starts on 1 May.",
    ),
    (
        'What is the flight number?\n\n"Your flight AC 857 to London departs from gate D14 at '
        '18:40."',
        regex(r"\bAC\s?857\b"),
        "AC 857",
    ),
    (
        f'How much will be refunded, in euros? {JUST}\n\n"We are sorry for the delay. A refund of '
        '€45.90 will reach your card within five working days."',
        number(45.9),
        "45.90",
    ),
    (
        'Return a JSON object with keys "city" and "date" (YYYY-MM-DD) for this event, and '
        'nothing else.\n\n"Join us for the Kraków meetup on 2025-11-20 at the Old Town library."',
        json_object("city", "date", city="Kraków", date="2025-11-20"),
        '{"city": "Kraków", "date": "2025-11-20"}',
    ),
]

# --------------------------------------------------------------------------- multilingual

ONLY = "Reply with the translation only."

MULTILINGUAL: list[Item] = [
    (f'Translate "thank you" into French. {ONLY}', contains("merci"), "Merci"),
    (
        f'Translate "good morning" into Spanish. {ONLY}',
        contains("buenos días", "buenos dias"),
        "Buenos días",
    ),
    (f'Translate "cat" into German. {ONLY}', contains("Katze", "Kater"), "die Katze"),
    (f'Translate "water" into Spanish. {ONLY}', contains("agua"), "agua"),
    (f'Translate "house" into French. {ONLY}', contains("maison"), "la maison"),
    (f'Translate "book" into German. {ONLY}', contains("Buch"), "das Buch"),
    (f'Translate "apple" into French. {ONLY}', contains("pomme"), "une pomme"),
    (f'Translate "friend" into Spanish. {ONLY}', contains("amigo", "amiga"), "amigo"),
    (
        f'Translate "thank you very much" into German. {ONLY}',
        contains(
            "vielen Dank",
            "danke schön",
            "dankeschön",
            "danke sehr",
            "herzlichen Dank",
            "tausend Dank",
            "danke vielmals",
        ),
        "Vielen Dank!",
    ),
    (
        f'Translate into Spanish: "Where is the train station?" {ONLY}',
        contains("estación", "estacion"),
        "¿Dónde está la estación de tren?",
    ),
    (
        f'Translate "library" into French. {ONLY}',
        contains("bibliothèque", "bibliotheque"),
        "la bibliothèque",
    ),
    (f'Translate "good night" into German. {ONLY}', contains("gute Nacht"), "Gute Nacht"),
    (
        "¿Cuál es la capital de Italia? Responde en español.",
        contains("Roma"),
        "La capital de Italia es Roma.",
    ),
    (
        "Quelle est la couleur du ciel par temps clair ? Réponds en une phrase.",
        contains("bleu"),
        "Par temps clair, le ciel est bleu.",
    ),
    (
        "Wie viele Tage hat eine Woche? Antworte kurz auf Deutsch.",
        contains("sieben", "7"),
        "Eine Woche hat sieben Tage.",
    ),
    (
        "¿Cuántas patas tiene un perro? Responde en español.",
        contains("cuatro", "4"),
        "Un perro tiene cuatro patas.",
    ),
    (
        "Quel est le plus grand océan du monde ? Réponds en français.",
        contains("Pacifique"),
        "Le plus grand océan du monde est l'océan Pacifique.",
    ),
    (
        "Was ist die Hauptstadt von Frankreich? Antworte auf Deutsch.",
        contains("Paris"),
        "Die Hauptstadt von Frankreich ist Paris.",
    ),
    (
        "¿De qué color es un plátano maduro? Responde en español.",
        contains("amarillo"),
        "Un plátano maduro es amarillo.",
    ),
    (
        "Welcher Planet ist der Sonne am nächsten? Antworte auf Deutsch.",
        contains("Merkur"),
        "Der Merkur ist der Sonne am nächsten.",
    ),
]

CATEGORIES: dict[str, list[Item]] = {
    "factual": FACTUAL,
    "arithmetic": ARITHMETIC,
    "instruction": INSTRUCTION,
    "format": FORMAT,
    "extraction": EXTRACTION,
    "multilingual": MULTILINGUAL,
}

# --------------------------------------------------------------------------- the set


def generate(seed: int = DEFAULT_SEED) -> list[Row]:
    """Build the check set for ``seed``: every table item once, categories interleaved.

    The order comes from ``random.Random(seed)``; each category keeps its table order and
    draws its system prompts from its own ``random.Random(f"{seed}:{category}")``, so editing
    one table leaves the other categories' system prompts unchanged.
    """
    order = [c for c, items in CATEGORIES.items() for _ in items]
    random.Random(seed).shuffle(order)
    rngs = {c: random.Random(f"{seed}:{c}") for c in CATEGORIES}
    queues = {c: list(items) for c, items in CATEGORIES.items()}
    rows: list[Row] = []
    for number_, category in enumerate(order, start=1):
        question, check, answer = queues[category].pop(0)
        system = rngs[category].choice(SYSTEMS)
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": question})
        rows.append(
            {
                "id": f"{ID_PREFIX}-{number_:04d}",
                "category": category,
                "messages": messages,
                "check": check,
                "answer": answer,
            }
        )
    return rows


def render(rows: Sequence[Row]) -> bytes:
    """The JSONL bytes: one row per line in field order, UTF-8, ``\\n`` line endings."""
    lines = [json.dumps(row, ensure_ascii=False, separators=(", ", ": ")) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def stats_table(rows: Sequence[Row]) -> str:
    """The README's markdown table: items per category and per check kind."""
    header = (
        "| category | items | "
        + " | ".join(f"`{k}`" for k in KINDS)
        + " | with a system prompt |\n"
        "|---|---:|" + "---:|" * len(KINDS) + "---:|"
    )
    lines = [header]
    for group in [*CATEGORIES, "all"]:
        picked = [r for r in rows if group in ("all", r["category"])]
        kinds = [sum(1 for r in picked if r["check"]["kind"] == k) for k in KINDS]
        system = sum(1 for r in picked if r["messages"][0]["role"] == "system")
        name = f"**{group}**" if group == "all" else f"`{group}`"
        cells = [str(len(picked)), *map(str, kinds), str(system)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the set (default), compare it (``--check``) or describe it (``--stats``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSONL file")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if --out differs")
    mode.add_argument("--stats", action="store_true", help="print the README table for --out")
    args = parser.parse_args(argv)

    if args.stats:
        rows = [json.loads(line) for line in args.out.read_text("utf-8").splitlines() if line]
        print(stats_table(rows))
        return 0

    rows = generate(args.seed)
    data = render(rows)
    if args.check:
        if not args.out.is_file() or args.out.read_bytes() != data:
            print(
                f"{args.out} differs from what seed {args.seed} generates; rerun "
                "python data/quality/make_checks.py and commit the result",
                file=sys.stderr,
            )
            return 1
        print(f"{args.out} is up to date ({len(rows)} items)")
        return 0

    from servegate.core.errors import QualityFileError  # the library: only writing needs it
    from servegate.core.fsutil import atomic_path
    from servegate.quality.checks import load_checks

    try:
        with atomic_path(args.out) as tmp:
            tmp.write_bytes(data)
            # Validated before the rename: a reference answer that fails its own check leaves
            # the committed file as it was.
            loaded = load_checks(tmp)
    except QualityFileError as exc:
        print(f"not written: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(loaded)} items to {args.out}, sha256 {loaded.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
