"""Layer 8, report: the decision report. Build it from saved runs and history (``build``),
show it as tables (``view``, ``view_ops``), render HTML and print the PDF (``render``,
``browser``).

May import: every layer below it (``core`` to ``plots``); never ``jobs`` or ``cli``.
"""
