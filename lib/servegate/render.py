"""The report's last mile: an executed notebook to self-contained HTML, then to PDF with Chromium.

The HTML is what leadership opens: no code, no prompts, no warnings, every image embedded, and
nothing fetched from the network (the machines this runs on have none). The PDF is printed from
that same HTML by Debian's headless Chromium, so the two formats cannot disagree. Without a
browser the HTML is still written and :func:`html_to_pdf` returns a :class:`PdfResult` that says
why the PDF was skipped and how to install one.
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
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets.config import Config

from servegate.errors import RenderError
from servegate.fsutil import atomic_path

__all__ = [
    "BROWSER_NAMES",
    "PdfResult",
    "find_browser",
    "find_external_resources",
    "html_to_pdf",
    "pdf_text",
    "render_html",
    "screenshot",
]

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

# A template that extends nbconvert's "lab" page and empties every block that loads JavaScript
# from a CDN (require.js, MathJax, mermaid, the widget manager), then adds the print CSS last
# so that it wins over the lab theme. Setting ``mathjax_url`` and friends to "" is not enough on
# its own: the template would still emit ``<script src="">`` tags and an inline mermaid loader
# that imports from cdnjs at run time.
_TEMPLATE_NAME = "servegate_report.html.j2"
_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}
<style type="text/css">
{{ resources.servegate_print_css }}
</style>
{%- endblock html_head_css -%}
"""

# Print layout: the page box, figures that shrink to the page width, and no figure or table
# split across two pages. Colours are kept (verdict cells are coloured).
_PRINT_CSS = """\
@page { size: %(page_size)s; margin: 14mm 12mm; }
:root { --jp-cell-prompt-width: 0px; }
img, svg { max-width: 100%% !important; height: auto !important; }
.jp-OutputArea-output pre { white-space: pre-wrap; }
/* Wide tables wrap on paper instead of showing a scroll bar that prints as a stray line. */
.jp-RenderedHTMLCommon, .jp-OutputArea-output { overflow: visible !important; }
.jp-RenderedHTMLCommon table { max-width: 100%%; table-layout: auto; }
@media print {
  html, body { background: #fff !important; }
  body { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  main { padding: 0 !important; }
  .jp-OutputArea-child, .jp-RenderedImage, img, svg, figure, table {
    break-inside: avoid; page-break-inside: avoid;
  }
  h1, h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  a.anchor-link { display: none !important; }
}
"""

# Belt and braces for outputs (plotly, bokeh, a pasted <link>) and for future templates: drop
# every <script> that has a remote src and every <link> with a remote href. Only real tags can
# match: text in outputs is HTML-escaped (``&lt;script``), so printed code is left alone.
_REMOTE = r"""\s*=\s*["']?\s*(?:https?:)?//"""
_REMOTE_SCRIPT = re.compile(
    r"<script\b[^>]*\bsrc" + _REMOTE + r"[^>]*>.*?</script\s*>", re.IGNORECASE | re.DOTALL
)
_REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref" + _REMOTE + r"[^>]*>", re.IGNORECASE)

# CSS references, in order: ``@import "x"`` and ``url(x)`` (which covers ``@import url(x)``).
_CSS_REF = re.compile(
    r"""@import\s+(["'])(?P<imported>.*?)\1|url\(\s*(["']?)(?P<url>.*?)\3\s*\)""",
    re.IGNORECASE | re.DOTALL,
)

# <link rel=...> values that only describe a relation; a browser fetches nothing for them.
_LINK_RELS_NOT_FETCHED = frozenset(
    {"alternate", "author", "bookmark", "canonical", "external", "help", "license", "next"}
    | {"nofollow", "noopener", "noreferrer", "prev", "search", "tag"}
)
# Attributes a browser loads, by tag (<a href> is a link to follow, not a fetch).
_FETCHED_ATTRS: dict[str, tuple[str, ...]] = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "audio": ("src",),
    "video": ("src", "poster"),
    "source": ("src", "srcset"),
    "track": ("src",),
    "input": ("src",),
    "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
    "feimage": ("href", "xlink:href"),
    "body": ("background",),
    "table": ("background",),
    "td": ("background",),
}


@dataclass(frozen=True)
class PdfResult:
    """What :func:`html_to_pdf` did: ``path`` of the PDF, or ``None`` and ``skipped_reason``."""

    path: Path | None
    skipped_reason: str | None = None


class _DropStderr(Preprocessor):
    """Remove stderr stream outputs (warnings, progress bars): noise in a report for readers."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[NotebookNode, dict[str, Any]]:
        if cell.get("cell_type") == "code":
            cell.outputs = [
                out
                for out in cell.get("outputs", [])
                if not (out.get("output_type") == "stream" and out.get("name") == "stderr")
            ]
        return cell, resources


def _exporter() -> HTMLExporter:
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = {"remove-cell"}
    config.TagRemovePreprocessor.remove_all_outputs_tags = {"remove-output"}
    config.TagRemovePreprocessor.remove_input_tags = {"remove-input"}
    exporter = HTMLExporter(
        config=config,
        template_name="lab",
        extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        template_file=_TEMPLATE_NAME,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        mathjax_url="",
        require_js_url="",
        mermaid_js_url="",
        mermaid_layout_elk_js_url="",
        jupyter_widgets_base_url="",
        widget_renderer_url="",
    )
    exporter.register_preprocessor(_DropStderr(), enabled=True)
    return exporter


def render_html(
    executed_notebook: Path,
    out_html: Path,
    *,
    title: str | None = None,
    page_size: Literal["A4", "Letter"] = "A4",
) -> Path:
    """Write the executed notebook as one self-contained HTML page, without code; return its path.

    Code cells show only their outputs (no input, no ``In [ ]``/``Out [ ]`` prompts); cells
    tagged ``remove-cell`` are dropped, as are the outputs of cells tagged ``remove-output``, and
    every stderr stream (warnings, tqdm bars). Images are data URIs (matplotlib's inline PNGs
    already are; local markdown images get embedded), and nothing is loaded from the network:
    the CDN scripts of nbconvert's lab template are left out and any remote ``<script src>`` or
    ``<link href>`` in an output is removed. Print CSS sets the ``page_size`` page with margins,
    shrinks figures to the page width and keeps each figure or table on one page.

    :param executed_notebook: the notebook papermill wrote (with outputs).
    :param out_html: where to write the page; written atomically, parent folders created.
    :param title: the page ``<title>``; by default the notebook metadata's ``title``, else the
        notebook's file name without extension.
    :param page_size: the printed page, ``"A4"`` or ``"Letter"``.
    :raises RenderError: the notebook is missing or unreadable, or the page would still fetch
        something from the network (``urls`` lists what).
    """
    executed_notebook = Path(executed_notebook)
    out_html = Path(out_html)
    if page_size not in ("A4", "Letter"):
        raise RenderError(f"`page_size` must be 'A4' or 'Letter', got {page_size!r}")
    if not executed_notebook.is_file():
        raise RenderError(
            f"executed notebook {str(executed_notebook)!r} not found; "
            "run the notebook with papermill first, then render its output"
        )
    try:
        nb = nbformat.read(executed_notebook, as_version=4)
    except (OSError, ValueError) as exc:
        raise RenderError(
            f"{str(executed_notebook)!r} is not a readable notebook ({exc}); "
            "re-run it with papermill to write it again"
        ) from exc
    if title is not None:
        nb.metadata["title"] = title
    name = str(nb.metadata.get("title") or executed_notebook.stem)
    resources = {
        "metadata": {"name": name, "path": str(executed_notebook.parent.resolve())},
        "servegate_print_css": _PRINT_CSS % {"page_size": page_size},
    }
    body, _ = _exporter().from_notebook_node(nb, resources=resources)
    body = _REMOTE_LINK.sub("", _REMOTE_SCRIPT.sub("", body))
    remote = find_external_resources(body)
    if remote:
        shown = ", ".join(remote[:5]) + (f" and {len(remote) - 5} more" if len(remote) > 5 else "")
        raise RenderError(
            f"the report {str(out_html)!r} would load {len(remote)} resource(s) from the "
            f"network ({shown}); embed them instead (display images as PNG data, e.g. "
            "matplotlib figures, not remote URLs)",
            urls=tuple(remote),
        )
    with atomic_path(out_html) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return out_html


class _ResourceFinder(HTMLParser):
    """Collect the URLs a page loads: fetched tag attributes, and CSS ``url()``/``@import``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key.lower(): value or "" for key, value in attrs}
        if tag == "link":
            rels = set(values.get("rel", "").lower().split())
            if not rels or not rels <= _LINK_RELS_NOT_FETCHED:
                self.urls.append(values.get("href", ""))
        for attr in _FETCHED_ATTRS.get(tag, ()):
            value = values.get(attr, "")
            if attr == "srcset":
                self.urls.extend(part.split()[0] for part in value.split(",") if part.split())
            else:
                self.urls.append(value)
        if "style" in values:
            self._css(values["style"])
        if tag == "style":
            self._in_style = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._css(data)

    def _css(self, text: str) -> None:
        self.urls.extend(m["imported"] or m["url"] or "" for m in _CSS_REF.finditer(text))


def find_external_resources(html: str) -> list[str]:
    """Return every http(s) URL the page would fetch, in page order, each once.

    Counted: ``<script src>``, ``<link href>`` (stylesheets, icons, preloads; not relations
    such as ``canonical``), ``<img src/srcset>``, ``<iframe>``, ``<embed>``, ``<object data>``,
    media sources, SVG ``<image>``/``<use>`` references, and CSS ``url()``/``@import`` in
    ``<style>`` blocks and ``style`` attributes. Protocol-relative ``//host/...`` URLs count
    too. Plain ``<a href>`` links are not fetched and are not counted; nor are URLs that a
    script would build at run time (the report template carries no such scripts).
    """
    finder = _ResourceFinder()
    finder.feed(html)
    finder.close()
    found: list[str] = []
    for url in finder.urls:
        url = url.strip()
        if re.match(r"(?:https?:)?//", url, re.IGNORECASE) and url not in found:
            found.append(url)
    return found


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
                code = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                proc.wait()
                tail = _tail(stderr_path)
                raise RenderError(
                    f"{browser} did not finish the {what} of {str(html)!r} within {timeout_s} s; "
                    f"its last output:\n{tail}",
                    tool="chromium",
                    stderr_tail=tail,
                ) from None
            finally:
                _kill_group(proc)
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
