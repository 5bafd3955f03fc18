"""Layer 4, runs: a run folder on disk. The writer (requests.csv appended, run.json replaced
atomically), the validating reader, other tools' results imported as run folders, what makes
two runs comparable, and re-checking a run's manifest.

May import: ``core``, ``records``, ``measure``, ``server``.
"""
