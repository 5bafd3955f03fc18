"""Layer 9, jobs: the workflows a user starts. A benchmark run (``bench``), the papermill
pipeline behind ``make report`` (``pipeline``) and the harness self-test (``selftest``).

May import: every layer below it; only ``servegate.cli`` imports jobs.
"""
