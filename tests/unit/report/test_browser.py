"""Headless Chromium and poppler: the report printed to PDF and PNG, every failure named."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from servegate.core.errors import RenderError
from servegate.report import browser, render
from tests.helpers import PLOT_CALL

BROWSER = render.find_browser()
needs_browser = pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium on PATH (install it with `sudo apt-get install chromium` or `make system`)",
)


@pytest.fixture(scope="module")
def pdf(html_path: Path) -> Path:
    if BROWSER is None:
        pytest.skip("no Chromium on PATH (`sudo apt-get install chromium` or `make system`)")
    result = render.html_to_pdf(html_path, html_path.with_suffix(".pdf"))
    assert result.skipped_reason is None
    assert result.path is not None
    return result.path


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
