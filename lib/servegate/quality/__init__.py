"""Layer 3, quality: the answer-quality check set and how an answer is judged against it.

A check set is a JSONL file of questions with a known right answer and a rule that recognises
any correct phrasing (``rules``); ``checks`` loads and validates it, and ``score`` judges one
answer, as pure functions. Nothing here talks to a server.

May import: ``servegate.core``, ``servegate.records``, ``servegate.measure``.
"""
