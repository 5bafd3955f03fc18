"""Other tools' saved results as run folders: one small reader per tool, one shared writer.

``folder`` writes the run folder (``write_import``); ``vllm_bench``, ``guidellm`` and
``aiperf`` each read their tool's per-request file into an ``ImportedTable``.
``servegate.runs.importer`` is the entry point (``servegate import --from TOOL FILE``).
"""
