"""Layer 2, measure: the prompt set, the load generator and its SSE reader; what turns prompts
into ``RequestRecord``s against any OpenAI-compatible endpoint.

May import: ``servegate.core``, ``servegate.records``.
"""
