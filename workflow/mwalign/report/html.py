"""summary.md as a self-contained HTML page, for a browser and ``snakemake --report``.

Snakemake's report shows HTML and images inline but offers Markdown only as a
download, so the report stage also writes the summary as HTML: rendered by
markdown-it-py (CommonMark with its table extension), figures embedded as PNG at a
readable width (the SVG of each lies beside its PNG), every table
sortable by a click on a column header (a few lines of plain JavaScript, no library).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from markdown_it import MarkdownIt

STYLE = """
body{font-family:system-ui,sans-serif;font-size:15px;line-height:1.4;max-width:1300px;
margin:1em auto;padding:0 1.5em;color:#222}
h1{font-size:1.6em}h2{font-size:1.3em;border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px;display:block;overflow-x:auto}
td,th{border:1px solid #ccc;padding:.25em .55em;text-align:right}
th{white-space:nowrap}
td:first-child,th:first-child{text-align:left}
th{background:#f3f3f3;cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
tbody tr:nth-child(even){background:#fafafa}
tbody tr:hover{background:#eef4ff}
p img{display:block;width:100%;max-width:1200px;height:auto;border:1px solid #eee;
margin:.8em 0}
code{background:#f3f3f3;padding:0 .2em}
"""
# Click a header to sort its table by that column (numbers numerically, "–" last).
SORT_SCRIPT = """
document.querySelectorAll("table").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var up = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (o) { o.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var key = function (row) {
        var text = row.cells[column].textContent.trim();
        var number = parseFloat(text.replace(/[\\[\\]%+≤<]/g, "").replace("−", "-"));
        return isNaN(number) ? text : number;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x === typeof y) { return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1); }
        return typeof x === "number" ? -1 : 1;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _own_image(base_dir: Path, src: str) -> Path | None:
    """The PNG file ``src`` names inside ``base_dir`` (or a folder below it); None for any
    other path: absolute, leaving the folder (``..``, a symlink out), a URL, not a PNG."""
    if not src or "://" in src or src.startswith(("/", "\\", "data:")):
        return None
    root = base_dir.resolve()
    path = (root / src).resolve()
    if not path.is_relative_to(root) or path.suffix.lower() != ".png" or not path.is_file():
        return None
    return path


def _embed_images(tokens, base_dir: Path) -> None:
    """Point every image token at its file, embedded as a data URI. Only PNG files inside
    the report's own folder are read; any other path gets a note and no ``src``."""
    for token in tokens:
        for child in token.children or []:
            if child.type == "image":
                src = child.attrGet("src") or ""
                path = _own_image(base_dir, src)
                if path is not None:
                    data = base64.b64encode(path.read_bytes()).decode()
                    child.attrSet("src", f"data:image/png;base64,{data}")
                else:
                    child.attrSet("src", "")
                    child.attrSet("alt", f"missing figure {src}")


def markdown_to_html(text: str, base_dir: str | Path, title: str = "multiway-align results") -> str:
    """HTML page of a summary.md; images are read relative to ``base_dir`` and embedded.

    Raw HTML in the Markdown is shown as text, never passed through (``html: False``), and
    only PNG files inside ``base_dir`` are embedded: a report is opened in browsers and shared.
    """
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(text)
    _embed_images(tokens, Path(base_dir))
    body = parser.renderer.render(tokens, parser.options, {})
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}"
        f"<script>{SORT_SCRIPT}</script>\n</body></html>\n"
    )
