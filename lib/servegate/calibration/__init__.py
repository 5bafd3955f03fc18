"""Layer 3, calibration: an OpenAI-compatible test server with scripted latencies and faults,
used to measure the harness itself (never a stand-in for a product backend).

May import: ``servegate.core``, ``servegate.records``, ``servegate.server``.
"""
