"""The report's last mile: an executed notebook to self-contained HTML, then to PDF with Chromium.

The HTML is what leadership opens: no code, no prompts, no warnings, every image embedded, and
nothing fetched from the network (the machines this runs on have none). The PDF is printed from
that same HTML by Debian's headless Chromium, so the two formats cannot disagree. Without a
browser the HTML is still written and :func:`html_to_pdf` returns a :class:`PdfResult` that says
why the PDF was skipped and how to install one.
"""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets.config import Config

from servegate.core.errors import RenderError
from servegate.core.fsutil import atomic_path

# Printing and screenshots live in servegate.report.browser; re-exported: one import for the report.
from servegate.report.browser import (
    BROWSER_NAMES,
    PdfResult,
    find_browser,
    html_to_pdf,
    pdf_text,
    screenshot,
)

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
{%- block data_png scoped -%}
{%- set alt = (output | get_metadata('alt', 'image/png')) or 'Figure' -%}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
 alt="{{ alt | escape_html }}">
</div>
{%- endblock data_png -%}
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


class _DropStderr(Preprocessor):
    """Remove stderr stream outputs (warnings, progress bars): noise in a report for readers."""

    def preprocess_cell(
        self,
        cell: NotebookNode,
        resources: dict[str, Any],  # nbconvert's resources dict
        index: int,
    ) -> tuple[NotebookNode, dict[str, Any]]:  # nbconvert's resources dict
        if cell.get("cell_type") == "code":
            cell.outputs = [
                out
                for out in cell.get("outputs", [])
                if not (out.get("output_type") == "stream" and out.get("name") == "stderr")
            ]
        return cell, resources


class _AltText(Preprocessor):
    """Give each figure a text alternative: the report section it is in (screen readers, and
    what a reader sees where an image cannot load). Figures have no other text of their own."""

    def preprocess(
        self,
        nb: NotebookNode,
        resources: dict[str, Any],  # nbconvert's resources dict
    ) -> tuple[NotebookNode, dict[str, Any]]:  # nbconvert's resources dict
        section, count = "", 0
        for cell in nb.cells:
            if cell.get("cell_type") == "markdown":
                headings = [
                    ln.lstrip("#").strip() for ln in cell.source.splitlines() if ln.startswith("#")
                ]
                if headings:
                    section, count = headings[-1], 0
                continue
            for out in cell.get("outputs", []):
                if "image/png" not in out.get("data", {}):
                    continue
                count += 1
                alt = f"Figure: {section}" if section else "Figure"
                meta = out.setdefault("metadata", {}).setdefault("image/png", {})
                meta["alt"] = alt if count == 1 else f"{alt} ({count})"
        return nb, resources


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
    exporter.register_preprocessor(_AltText(), enabled=True)
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
    nb = _read_notebook(executed_notebook)
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


def _read_notebook(path: Path) -> nbformat.NotebookNode:
    """The executed notebook, or a RenderError saying how to get one."""
    if not path.is_file():
        raise RenderError(
            f"executed notebook {str(path)!r} not found; "
            "run the notebook with papermill first, then render its output"
        )
    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:
        raise RenderError(
            f"{str(path)!r} is not a readable notebook ({exc}); "
            "re-run it with papermill to write it again"
        ) from exc


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
