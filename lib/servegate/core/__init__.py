"""Layer 0, core: the names, errors, file helpers, parameter validation, statistics and
machine description that every other layer uses.

May import: the standard library and third-party packages only; nothing else in servegate.
"""
