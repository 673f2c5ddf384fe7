"""summary.md as a self-contained HTML page, for ``snakemake --report``.

Snakemake's report shows HTML and images inline but offers Markdown only as a
download, so the report stage also writes the summary as HTML: the same headings,
paragraphs and tables, with the plots embedded. Only the Markdown that
:mod:`mwalign.report.summary` writes is understood (headings, paragraphs, pipe
tables, image lines).
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

STYLE = (
    "body{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}"
    "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
)
IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")


def _table(lines: list[str]) -> str:
    rows = [
        [html.escape(cell.strip()) for cell in line.strip().strip("|").split("|")]
        for line in lines
        if not re.fullmatch(r"\|(\s*-+\s*\|)+", line.strip())
    ]
    head = "".join(f"<th>{cell}</th>" for cell in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(match: re.Match, base_dir: Path) -> str:
    path = base_dir / match["src"]
    if not path.exists():
        return f"<p>[missing figure {html.escape(match['src'])}]</p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<p><img alt="{html.escape(match["alt"])}" src="data:image/png;base64,{data}"></p>'


def _block(block: list[str], base_dir: Path) -> str:
    first = block[0]
    if first.startswith("#"):
        level = len(first) - len(first.lstrip("#"))
        return f"<h{level}>{html.escape(first[level:].strip())}</h{level}>"
    if first.startswith("|"):
        return _table(block)
    if all(IMAGE.match(line) for line in block):
        return "".join(_image(IMAGE.match(line), base_dir) for line in block)
    return f"<p>{html.escape(' '.join(block))}</p>"


def markdown_to_html(text: str, base_dir: str | Path, title: str = "results") -> str:
    """HTML page of a summary.md; images are read relative to ``base_dir`` and embedded."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    body = "\n".join(_block(block, Path(base_dir)) for block in blocks)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )
