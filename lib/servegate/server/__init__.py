"""Layer 2, server: the local vLLM server: launch settings, process lifecycle, start-up and
run-time failures, the HTTP endpoint and its /metrics, and the model artifact it serves.

May import: ``servegate.core``, ``servegate.records``. Never ``measure`` (a sibling layer).
"""
