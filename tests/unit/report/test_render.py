"""The report renderer: an executed notebook to offline HTML without code, then PDF and PNG."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from servegate.core.errors import RenderError
from servegate.report import browser, render

BROWSER = render.find_browser()
needs_browser = pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium on PATH (install it with `sudo apt-get install chromium` or `make system`)",
)

PLOT_CALL = "ax.plot([1, 2, 3], [3, 1, 2])"


def _report_notebook() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        new_markdown_cell("# Decision: PAUSE\n\nSee the [gate docs](https://example.com/gates)."),
        new_code_cell("slo_ms = 1000  # ms", metadata={"tags": ["parameters"]}),
        new_code_cell(
            # %matplotlib inline: an MPLBACKEND=Agg in the environment would otherwise reach the
            # kernel and leave the figure out of the notebook.
            "%matplotlib inline\n"
            "import matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots(figsize=(12, 3))\n"
            f"{PLOT_CALL}\n"
            "plt.show()\n"
            "print(f\"{'gate':<10}{'verdict':>8}\")\n"
            "print(f\"{'e2e_p95':<10}{'FAIL':>8}\")"
        ),
        new_code_cell("print('REMOVED_CELL_TEXT')", metadata={"tags": ["remove-cell"]}),
        new_code_cell("print('REMOVED_OUTPUT_TEXT')", metadata={"tags": ["remove-output"]}),
        new_code_cell(
            "import sys, warnings\n"
            "warnings.warn('WARNING_TEXT')\n"
            "print('STDERR_TEXT', file=sys.stderr)\n"
            "print('stdout stays')"
        ),
    ]
    return nb


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report notebook, executed by papermill with this test run's own Python."""
    root = tmp_path_factory.mktemp("render")
    # A kernel spec named python3 that runs sys.executable, first on JUPYTER_PATH: the test
    # then needs no `ipykernel install` on a fresh machine, and a user-level python3 spec that
    # points at another interpreter (without matplotlib) cannot be picked instead.
    spec_dir = root / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (servegate tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    source, out = root / "report.ipynb", root / "report.executed.ipynb"
    nbformat.write(_report_notebook(), source)
    with pytest.MonkeyPatch.context() as mp:
        path = os.pathsep.join(
            filter(None, [str(root / "jupyter"), os.environ.get("JUPYTER_PATH")])
        )
        mp.setenv("JUPYTER_PATH", path)
        mp.delenv("MPLBACKEND", raising=False)
        papermill.execute_notebook(
            source, out, kernel_name="python3", progress_bar=False, cwd=str(root)
        )
    return out


@pytest.fixture(scope="module")
def html_path(executed: Path) -> Path:
    return render.render_html(executed, executed.parent / "out" / "report.html")


@pytest.fixture(scope="module")
def html(html_path: Path) -> str:
    return html_path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pdf(html_path: Path) -> Path:
    if BROWSER is None:
        pytest.skip("no Chromium on PATH (`sudo apt-get install chromium` or `make system`)")
    result = render.html_to_pdf(html_path, html_path.with_suffix(".pdf"))
    assert result.skipped_reason is None
    assert result.path is not None
    return result.path


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


@needs_browser
def test_html_to_pdf_prints_the_report(pdf: Path, html_path: Path) -> None:
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert re.search(rb"/Type\s*/Page\b", data), "no page object in the PDF"
    text = render.pdf_text(pdf)
    assert "Decision: PAUSE" in text
    assert "e2e_p95" in text
    assert PLOT_CALL not in text and "STDERR_TEXT" not in text
    assert not list(pdf.parent.glob(".*.tmp"))


@needs_browser
def test_screenshot_writes_a_png(html_path: Path, tmp_path: Path) -> None:
    png = render.screenshot(html_path, tmp_path / "shots" / "report.png", width=800, height=1000)
    assert png == tmp_path / "shots" / "report.png"
    header = png.read_bytes()[:24]
    assert header.startswith(b"\x89PNG\r\n\x1a\n")
    assert (int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")) == (
        800,
        1000,
    )


def test_no_browser_skips_with_install_hint(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text("<p>hi</p>")
    result = render.html_to_pdf(page, tmp_path / "p.pdf", chromium="/nonexistent/chromium")
    assert result.path is None
    assert result.skipped_reason is not None
    assert "'/nonexistent/chromium'" in result.skipped_reason
    assert "sudo apt-get install chromium" in result.skipped_reason
    assert "make system" in result.skipped_reason
    assert not (tmp_path / "p.pdf").exists()
    assert render.screenshot(page, tmp_path / "p.png", chromium="/nonexistent/chromium") is None


def test_no_browser_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    page = tmp_path / "p.html"
    page.write_text("<p>hi</p>")
    result = render.html_to_pdf(page, tmp_path / "p.pdf")
    assert result == render.PdfResult(path=None, skipped_reason=result.skipped_reason)
    assert "chromium, chromium-browser, google-chrome" in (result.skipped_reason or "")


def _fake_browser(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-chromium"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_browser_failure_raises_with_stderr_tail(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text("<p>hi</p>")
    fake = _fake_browser(
        tmp_path,
        "echo '[1:1:ERROR:dbus/bus.cc(405)] Failed to connect to the bus' >&2\n"
        "echo 'Trace/breakpoint trap: renderer crashed' >&2\nexit 3",
    )
    with pytest.raises(RenderError, match="exit code 3") as e:
        render.html_to_pdf(page, tmp_path / "p.pdf", chromium=fake)
    assert e.value.tool == "chromium"
    assert e.value.stderr_tail == "Trace/breakpoint trap: renderer crashed"
    assert not (tmp_path / "p.pdf").exists()


def test_browser_timeout_is_killed(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text("<p>hi</p>")
    fake = _fake_browser(tmp_path, "echo loading >&2\nsleep 60 & wait")
    started = time.monotonic()
    with pytest.raises(RenderError, match=r"did not finish the PDF .* within 0.5 s"):
        render.html_to_pdf(page, tmp_path / "p.pdf", chromium=fake, timeout_s=0.5)
    assert time.monotonic() - started < 10
    assert not (tmp_path / "p.pdf").exists()


def test_pdf_to_missing_html_and_missing_poppler(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _fake_browser(tmp_path, "exit 0")
    with pytest.raises(RenderError, match="not found; write it with render_html first"):
        render.html_to_pdf(tmp_path / "none.html", tmp_path / "p.pdf", chromium=fake)
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    with pytest.raises(RenderError, match="apt-get install poppler-utils") as e:
        render.pdf_text(tmp_path / "p.pdf")
    assert e.value.tool == "pdftotext"
