"""Layer 7, plots: the decision report's figures, one function each, from saved files to a Figure.

May import: ``core``, ``records``, ``runs``, ``analysis``, ``history``.

Every function takes plain pandas frames (rows of ``requests.csv``, level rows from ``run.json``
via ``levels_frame``, the aggregate history, a cost table) and returns a
``matplotlib.figure.Figure`` built without pyplot; none computes a new statistic (the
analysis does). Empty input (no rows, a skipped run) gives a figure that says so in words, never an
empty axis and never an exception. ``figure_to_data_uri`` embeds a figure in HTML.
"""

from __future__ import annotations

from servegate.plots.common import BACKEND_COLORS, backend_label, figure_to_data_uri
from servegate.plots.latency import latency_distributions, ttft_vs_e2e
from servegate.plots.levels import errors_breakdown, levels_frame, throughput_vs_concurrency
from servegate.plots.quality import quality_by_category
from servegate.plots.search import search_path
from servegate.plots.trend import COST_COLUMN, POC_SOURCE, cost_per_1m_tokens, history_trend

__all__ = [
    "BACKEND_COLORS",
    "COST_COLUMN",
    "POC_SOURCE",
    "backend_label",
    "cost_per_1m_tokens",
    "errors_breakdown",
    "figure_to_data_uri",
    "history_trend",
    "latency_distributions",
    "levels_frame",
    "quality_by_category",
    "search_path",
    "throughput_vs_concurrency",
    "ttft_vs_e2e",
]
