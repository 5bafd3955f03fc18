"""The report renderer: an executed notebook to offline HTML, without code and fetching nothing."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from servegate.core.errors import RenderError
from servegate.report import render
from tests.helpers import PLOT_CALL


class _CellOfInputArea(HTMLParser):
    """For each element with class jp-InputArea, the classes of the cell that holds it."""

    VOID = frozenset({"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, set[str]]] = []
        self.cells: list[set[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        if "jp-InputArea" in classes:
            owners = [c for _, c in reversed(self.stack) if "jp-Cell" in c]
            self.cells.append(owners[0] if owners else set())
        if tag not in self.VOID:
            self.stack.append((tag, classes))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break


def test_html_shows_outputs_and_no_code(html: str) -> None:
    assert "Decision: PAUSE" in html
    assert "e2e_p95" in html and "FAIL" in html and "stdout stays" in html
    assert re.search(r'<img\b[^>]*\bsrc="data:image/png;base64,', html), "no embedded PNG"
    body = html.split("<body", 1)[1]  # the lab CSS mentions "Out[]" in a comment
    # What a reader sees: tags dropped (Pygments splits source into many <span>s).
    text = unescape(re.sub(r"<[^>]+>", "", body))
    assert PLOT_CALL not in text and "plt.subplots" not in text and "slo_ms" not in text
    assert not re.search(r"(In|Out)\s*\[", text), "an execution prompt is shown"
    assert "jp-InputArea-editor" not in body and "jp-CodeMirrorEditor" not in body
    assert "highlight" not in body  # Pygments-coloured source
    # The lab template draws markdown cells in an "input area" too; no code cell keeps one.
    finder = _CellOfInputArea()
    finder.feed(html)
    assert finder.cells, "expected the markdown cell's area"
    assert all("jp-MarkdownCell" in cell for cell in finder.cells), finder.cells


def test_every_figure_has_the_section_it_is_in_as_its_text_alternative(html: str) -> None:
    alts = re.findall(r'<img\b[^>]*\balt="([^"]*)"', html)
    assert alts == ["Figure: Decision: PAUSE"]  # the heading above it, not nbconvert's filler
    assert "No description has been provided" not in html


def test_html_drops_tagged_cells_and_stderr(html: str) -> None:
    assert "REMOVED_CELL_TEXT" not in html
    assert "REMOVED_OUTPUT_TEXT" not in html
    assert "STDERR_TEXT" not in html and "WARNING_TEXT" not in html


def test_html_is_offline_with_print_css(html: str) -> None:
    assert render.find_external_resources(html) == []
    assert "<script" not in html.lower()
    assert "@page { size: A4;" in html and "break-inside: avoid" in html
    assert "https://example.com/gates" in html  # a link to follow stays; it fetches nothing
    assert "<title>report.executed</title>" in html


def test_title_from_argument_then_metadata(executed: Path, tmp_path: Path) -> None:
    page = render.render_html(executed, tmp_path / "a.html", title="Q3 <decision>")
    assert "<title>Q3 &lt;decision&gt;</title>" in page.read_text(encoding="utf-8")
    nb = nbformat.read(executed, as_version=4)
    nb.metadata["title"] = "From metadata"
    nbformat.write(nb, tmp_path / "titled.ipynb")
    page = render.render_html(tmp_path / "titled.ipynb", tmp_path / "b.html", page_size="Letter")
    text = page.read_text(encoding="utf-8")
    assert "<title>From metadata</title>" in text and "@page { size: Letter;" in text
    assert not list(tmp_path.glob(".*.tmp")), "atomic write left a temporary file"


def test_remote_scripts_in_outputs_are_removed(tmp_path: Path) -> None:
    nb = new_notebook()
    cell = new_code_cell("show()")
    cell.outputs = [
        new_output(
            "display_data",
            data={
                "text/html": '<script src="https://cdn.plot.ly/plotly.min.js"></script>'
                '<link rel="stylesheet" href="//cdn.example.com/x.css">'
                "<div>chart</div>",
                "text/plain": "chart",
            },
        )
    ]
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "plotly.ipynb")
    page = render.render_html(tmp_path / "plotly.ipynb", tmp_path / "plotly.html")
    text = page.read_text(encoding="utf-8")
    assert "<div>chart</div>" in text
    assert render.find_external_resources(text) == []
    assert "cdn.plot.ly" not in text


def test_remote_image_is_refused(tmp_path: Path) -> None:
    nb = new_notebook()
    nb.cells = [new_markdown_cell("![logo](https://example.com/logo.png)")]
    nbformat.write(nb, tmp_path / "remote.ipynb")
    with pytest.raises(RenderError, match=r"network \(https://example.com/logo.png\); embed") as e:
        render.render_html(tmp_path / "remote.ipynb", tmp_path / "remote.html")
    assert e.value.urls == ("https://example.com/logo.png",)
    assert not (tmp_path / "remote.html").exists()


def test_render_html_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="not found; run the notebook with papermill first"):
        render.render_html(tmp_path / "missing.ipynb", tmp_path / "x.html")
    (tmp_path / "torn.ipynb").write_text('{"cells": [')
    with pytest.raises(RenderError, match="not a readable notebook"):
        render.render_html(tmp_path / "torn.ipynb", tmp_path / "x.html")
    (tmp_path / "ok.ipynb").write_text(nbformat.writes(new_notebook()))
    with pytest.raises(RenderError, match="`page_size` must be 'A4' or 'Letter', got 'A5'"):
        render.render_html(tmp_path / "ok.ipynb", tmp_path / "x.html", page_size="A5")  # type: ignore[arg-type]


def test_find_external_resources_counts_fetches_only() -> None:
    page = """<html><head>
    <script src="https://cdn.example.com/require.js"></script>
    <link rel="stylesheet" href="http://cdn.example.com/a.css">
    <link rel="canonical" href="https://example.com/report">
    <style>@import "https://fonts.example.com/f.css";
      body { background: url('//img.example.com/bg.png') }</style>
    </head><body>
    <a href="https://docs.example.com/">docs</a>
    <img src="data:image/png;base64,AAAA"> <img src="local.png">
    <img srcset="https://img.example.com/1x.png 1x, https://img.example.com/2x.png 2x">
    <iframe src="https://embed.example.com/x"></iframe>
    <div style="background-image: url(https://img.example.com/div.png)"></div>
    <script src="https://cdn.example.com/require.js"></script>
    </body></html>"""
    assert render.find_external_resources(page) == [
        "https://cdn.example.com/require.js",
        "http://cdn.example.com/a.css",
        "https://fonts.example.com/f.css",
        "//img.example.com/bg.png",
        "https://img.example.com/1x.png",
        "https://img.example.com/2x.png",
        "https://embed.example.com/x",
        "https://img.example.com/div.png",
    ]
    assert render.find_external_resources("<p>https://example.com in text</p>") == []
