"""Figure plumbing: a figure embedded as a PNG data URI, and the package never importing pyplot."""

from __future__ import annotations

import base64
import struct
import subprocess
import sys

from servegate import plots


def test_figure_to_data_uri_is_a_png_about_900_px_wide(requests) -> None:
    fig = plots.errors_breakdown(requests)
    uri = plots.figure_to_data_uri(fig)
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    png = base64.b64decode(uri[len(prefix) :], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, _height = struct.unpack(">II", png[16:24])
    assert 850 <= width <= 950


def test_the_module_never_imports_pyplot() -> None:
    code = "import sys, servegate.plots; sys.exit('matplotlib.pyplot' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
