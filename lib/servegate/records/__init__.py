"""Layer 1, records: the typed records that cross layer boundaries (one measured request,
one load level's summary) and the one builder of a level summary.

May import: ``servegate.core``.
"""
