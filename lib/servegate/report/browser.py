"""Headless Chromium and poppler for the report: print HTML to PDF, take screenshots, read PDFs.

Debian's ``chromium`` runs with a throw-away profile and no network traffic of its own; when
no browser is installed, printing is skipped with the command that installs one, never
silently, and the HTML report stands on its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from servegate.core.errors import RenderError
from servegate.core.fsutil import atomic_path

__all__ = ["BROWSER_NAMES", "PdfResult", "find_browser", "html_to_pdf", "pdf_text", "screenshot"]

log = logging.getLogger(__name__)

#: Executables tried, in order, when no browser is named.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")

_INSTALL_BROWSER = (
    "install it with `sudo apt-get install chromium` (Debian/Ubuntu) or `make system`"
)
_INSTALL_POPPLER = (
    "install it with `sudo apt-get install poppler-utils` (Debian/Ubuntu) or `make system`"
)
_STDERR_TAIL_LINES = 20

# Headless printing with nothing shared and nothing fetched: a throw-away profile (added per
# run), no sandbox (containers and root lack the namespaces it needs), no GPU, /tmp instead of
# a small /dev/shm, and no background traffic (component updates, sync, safe-browsing lists).
_BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-pdf-header-footer",
    # The pre-2023 spelling of the flag above; Chromium ignores flags it does not know.
    "--print-to-pdf-no-header",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
)
# Chromium logs every failed D-Bus call when there is no session bus (always, headless); those
# lines would push the real cause out of an error's tail.
_STDERR_NOISE = re.compile(r"ERROR:dbus/|ERROR:.*bus\.cc|Fontconfig error")


@dataclass(frozen=True)
class PdfResult:
    """What :func:`html_to_pdf` did: ``path`` of the PDF, or ``None`` and ``skipped_reason``."""

    path: Path | None
    skipped_reason: str | None = None


def find_browser(chromium: str | None = None) -> str | None:
    """Return the Chromium executable to use, or ``None`` when there is none.

    :param chromium: a path or command name; by default the first of :data:`BROWSER_NAMES`
        found on ``PATH``.
    """
    if chromium is not None:
        return shutil.which(chromium)
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _no_browser_reason(chromium: str | None, what: str) -> str:
    where = (
        f"Chromium not found at {chromium!r}"
        if chromium is not None
        else f"no Chromium browser on PATH (looked for {', '.join(BROWSER_NAMES)})"
    )
    return f"{where}, so the {what} was skipped (the HTML report is complete); {_INSTALL_BROWSER}"


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    lines = [line for line in lines if line.strip() and not _STDERR_NOISE.search(line)]
    return "\n".join(lines[-_STDERR_TAIL_LINES:])


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # Chromium forks a zygote, renderers and a crash handler into our session; take them all.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _run_browser(
    browser: str,
    html: Path,
    *,
    out_flag: str,
    out_suffix: str,
    extra_args: tuple[str, ...] = (),
    timeout_s: float,
    what: str,
) -> bytes:
    """Run headless Chromium on ``html``, writing ``out_flag=<file>``; return that file's bytes.

    The file goes to a private temporary folder first: Chromium picks the screenshot format
    from the file extension, so it cannot write straight to ``atomic_path``'s ``.tmp`` name.
    """
    if not html.is_file():
        raise RenderError(
            f"HTML page {str(html)!r} not found; write it with render_html first", tool="chromium"
        )
    with tempfile.TemporaryDirectory(
        prefix="servegate-chromium-", ignore_cleanup_errors=True
    ) as scratch:
        out_path = Path(scratch) / f"out{out_suffix}"
        stderr_path = Path(scratch) / "stderr.log"
        env = dict(os.environ, XDG_CONFIG_HOME=scratch, XDG_CACHE_HOME=scratch)
        cmd = [
            browser,
            *_BROWSER_FLAGS,
            f"--user-data-dir={Path(scratch) / 'profile'}",
            f"{out_flag}={out_path}",
            *extra_args,
            html.resolve().as_uri(),
        ]
        log.debug("rendering %s: %s", what, " ".join(cmd))
        started = time.monotonic()
        try:
            code = _run_to_exit(cmd, env, stderr_path, timeout_s)
        except subprocess.TimeoutExpired:
            tail = _tail(stderr_path)
            raise RenderError(
                f"{browser} did not finish the {what} of {str(html)!r} within {timeout_s} s; "
                f"its last output:\n{tail}",
                tool="chromium",
                stderr_tail=tail,
            ) from None
        log.info("%s of %s took %.1f s", what, html, time.monotonic() - started)
        data = out_path.read_bytes() if out_path.is_file() else b""
        if code != 0 or not data:
            tail = _tail(stderr_path)
            raise RenderError(
                f"{browser} failed to write the {what} of {str(html)!r} (exit code {code}); "
                f"its last output:\n{tail}",
                tool="chromium",
                stderr_tail=tail,
            )
        return data


def _run_to_exit(cmd: list[str], env: dict[str, str], stderr_path: Path, timeout_s: float) -> int:
    """Run ``cmd`` in a session of its own, its stderr to ``stderr_path``; its exit code.

    Whatever happens, the whole process group is killed afterwards: Chromium's helpers outlive
    the browser process.

    :raises subprocess.TimeoutExpired: when it ran past ``timeout_s`` (it is killed first).
    """
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            start_new_session=True,
        )
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
            raise
        finally:
            _kill_group(proc)


def html_to_pdf(
    html: Path, pdf: Path, *, chromium: str | None = None, timeout_s: float = 120
) -> PdfResult:
    """Print the HTML page to PDF with headless Chromium; the PDF is written atomically.

    :param html: the page written by :func:`render_html`.
    :param pdf: where the PDF goes; parent folders are created.
    :param chromium: the browser executable; by default found on ``PATH`` (see
        :func:`find_browser`).
    :param timeout_s: seconds Chromium may take before it is killed.
    :returns: ``PdfResult(path=pdf)``, or ``PdfResult(None, reason)`` when no browser is
        installed; the reason says how to install one.
    :raises RenderError: Chromium failed, timed out or wrote no PDF (``stderr_tail`` holds its
        last output lines).
    """
    html, pdf = Path(html), Path(pdf)
    browser = find_browser(chromium)
    if browser is None:
        return PdfResult(path=None, skipped_reason=_no_browser_reason(chromium, "PDF"))
    data = _run_browser(
        browser, html, out_flag="--print-to-pdf", out_suffix=".pdf", timeout_s=timeout_s, what="PDF"
    )
    if not data.startswith(b"%PDF-"):
        raise RenderError(
            f"{browser} printed {str(html)!r} but the result is not a PDF (it starts with "
            f"{data[:16]!r}); try by hand: `{browser} --headless --print-to-pdf=out.pdf "
            f"{html.resolve().as_uri()}`",
            tool="chromium",
        )
    with atomic_path(pdf) as tmp:
        tmp.write_bytes(data)
    return PdfResult(path=pdf)


def screenshot(
    html: Path,
    png: Path,
    *,
    width: int = 1200,
    height: int = 2400,
    chromium: str | None = None,
    timeout_s: float = 120,
) -> Path | None:
    """Save a ``width`` x ``height`` pixel PNG of the page's top, to look at the report.

    :returns: ``png``, or ``None`` when no browser is installed.
    :raises RenderError: Chromium failed or timed out.
    """
    html, png = Path(html), Path(png)
    if width <= 0 or height <= 0:
        raise RenderError(f"screenshot size must be positive pixels, got {width}x{height}")
    browser = find_browser(chromium)
    if browser is None:
        log.warning(_no_browser_reason(chromium, "screenshot"))
        return None
    data = _run_browser(
        browser,
        html,
        out_flag="--screenshot",
        out_suffix=".png",
        extra_args=(f"--window-size={width},{height}", "--hide-scrollbars"),
        timeout_s=timeout_s,
        what="screenshot",
    )
    with atomic_path(png) as tmp:
        tmp.write_bytes(data)
    return png


def pdf_text(pdf: Path, *, timeout_s: float = 60) -> str:
    """Return the PDF's text, laid out as on the page (``pdftotext -layout``, from poppler).

    :raises RenderError: pdftotext is not installed (the message says how to install it) or
        cannot read the file.
    """
    pdf = Path(pdf)
    tool = shutil.which("pdftotext")
    if tool is None:
        raise RenderError(
            f"pdftotext (poppler) not found on PATH; {_INSTALL_POPPLER}", tool="pdftotext"
        )
    if not pdf.is_file():
        raise RenderError(f"PDF {str(pdf)!r} not found; write it with html_to_pdf first")
    try:
        done = subprocess.run(
            [tool, "-layout", "-enc", "UTF-8", str(pdf), "-"],
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RenderError(
            f"pdftotext did not read {str(pdf)!r} within {timeout_s} s", tool="pdftotext"
        ) from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.decode("utf-8", "replace").splitlines()[-_STDERR_TAIL_LINES:])
        raise RenderError(
            f"pdftotext could not read {str(pdf)!r} (exit code {done.returncode}): {tail}",
            tool="pdftotext",
            stderr_tail=tail,
        )
    return done.stdout.decode("utf-8", "replace")
