"""Layer 6, history: the aggregate history CSV rebuilt idempotently from the run folders,
its column format, and the proof-of-concept summaries of record.

May import: ``core``, ``records``, ``runs``, ``analysis``.
"""
