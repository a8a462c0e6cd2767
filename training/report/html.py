"""The self-contained HTML page: figures embedded as base64 PNG, segment cards, tables."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from typing import Any

from matplotlib.colors import to_hex

from shopper_segments.training.report.plotting import RGBA, Figure, Item, Note

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#f6f6f4}
header,section,footer{max-width:1100px;margin:0 auto;padding:12px 24px}
header{padding-top:24px}h1{margin:0 0 4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:32px}
nav a{margin-right:14px}.meta{color:#555}
figure{background:#fff;border:1px solid #e2e2e2;border-radius:6px;margin:16px 0;padding:12px}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{color:#444;font-size:.92em;margin-bottom:10px}
figcaption b{display:block;color:#222;font-size:1.05em}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:8px 12px;margin:12px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:14px}
.card{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:12px 14px}
.card h3{margin:0 0 6px;font-size:1.1em}
.swatch{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:6px}
.card p{margin:4px 0 8px;color:#444}.card p.stands{margin:8px 0 0;font-size:.92em}
.card dl{display:grid;grid-template-columns:1fr auto;gap:2px 12px;margin:0}
.card dt{color:#666}.card dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;background:#fff;margin:10px 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}caption{text-align:left;padding:4px 0}
"""


#: Card entry listing the features whose centroid z-score is largest in absolute value.
STANDS_OUT = "stands out on"


@dataclass
class Section:
    """One part of the page: an id for the anchor, a heading, and its items in order."""

    anchor: str
    title: str
    items: list[Item] = field(default_factory=list)
    #: Extra HTML blocks (cards, tables), already escaped, appended after the items.
    blocks: list[str] = field(default_factory=list)


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def figure_html(fig: Figure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (
        f'<figure id="fig-{esc(fig.file.removesuffix(".png"))}">'
        f"<figcaption><b>{esc(fig.title)}</b>{esc(fig.caption)}</figcaption>"
        f'<img src="data:image/png;base64,{data}" data-file="figures/{esc(fig.file)}" alt="{esc(fig.title)}">'
        "</figure>"
    )


def note_html(note: Note) -> str:
    return f'<div class="note"><strong>{esc(note.title)}</strong>: {esc(note.text)}</div>'


def table_html(header: list[str], rows: list[list[Any]], caption: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    numeric = isinstance(value, int | float) or (isinstance(value, str) and _looks_numeric(value))
    return f'<td class="num">{esc(value)}</td>' if numeric else f"<td>{esc(value)}</td>"


def _looks_numeric(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return text == "–"
    return True


def card_html(card: dict[str, Any], color: RGBA) -> str:
    """One segment card: name, description, key figures, the features it stands out on."""
    items = {k: v for k, v in card["figures"].items() if k != STANDS_OUT}
    figures = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items.items())
    if STANDS_OUT in card["figures"]:
        figures += f'</dl><p class="stands">{esc(STANDS_OUT)}: {esc(card["figures"][STANDS_OUT])}</p><dl>'

    return (
        f'<article class="card" data-segment-id="{esc(card["id"])}">'
        f'<h3><span class="swatch" style="background:{to_hex(color)}"></span>'
        f'{esc(card["id"])} · <span class="name">{esc(card["name"])}</span></h3>'
        f'<p class="description">{esc(card["description"])}</p><dl>{figures}</dl></article>'
    )


def page(title: str, subtitle: str, sections: list[Section], footer: str) -> str:
    nav = "".join(f'<a href="#{esc(s.anchor)}">{esc(s.title)}</a>' for s in sections)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f'<header><h1>{esc(title)}</h1><p class="meta">{esc(subtitle)}</p><nav>{nav}</nav></header>',
    ]
    for section in sections:
        parts.append(f'<section id="{esc(section.anchor)}"><h2>{esc(section.title)}</h2>')
        for item in section.items:
            parts.append(figure_html(item) if isinstance(item, Figure) else note_html(item))
        parts.extend(section.blocks)
        parts.append("</section>")
    parts.append(f'<footer class="meta">{esc(footer)}</footer></body></html>')
    return "\n".join(parts) + "\n"
