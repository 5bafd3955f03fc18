"""Layer 5, analysis: what the saved runs mean. Gate verdicts on confidence intervals,
goodput, run-to-run comparison, capacity planning, the fallback replay and cost.

May import: ``core``, ``records``, ``runs`` (runs are read, never written here).
"""
