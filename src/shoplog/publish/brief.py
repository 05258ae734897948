"""The stakeholder brief: the executive summary as a one- or two-page PDF, with static
figures, for readers who will not open the book.

The words and numbers are the summary page's own (``action.summary`` on the chapters'
glued values), so the brief can never say something the book does not. Figures are drawn
with matplotlib as SVG (fixed ids, no dates) and the page is laid out by WeasyPrint, so
the same run gives the same PDF bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from pathlib import Path
from typing import Any

from shoplog.action import summary
from shoplog.action.campaign import ASSUMPTION_SHORT
from shoplog.config.paths import glued_name
from shoplog.publish.plots import COLORS

BRIEF_NAME = "brief.pdf"
# a fixed creation date: the PDF's bytes must not depend on when it was made
PDF_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

CSS = """
@page { size: A4; margin: 16mm 16mm 18mm 16mm;
        @bottom-right { content: "page " counter(page) " of " counter(pages);
                        font-size: 8pt; color: #555; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 9.5pt; line-height: 1.35;
       color: #222; }
h1 { font-size: 16pt; margin: 0 0 2mm 0; }
h2 { font-size: 11.5pt; margin: 5mm 0 1.5mm 0; break-after: avoid; }
p { margin: 0 0 2mm 0; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 2mm 0; break-inside: avoid; }
th, td { border-bottom: 0.3pt solid #bbb; padding: 1mm 1.5mm; vertical-align: top;
         text-align: left; }
td[style] { white-space: nowrap; }
th { background: #f0f0f0; }
.figures { display: flex; gap: 4mm; break-inside: avoid; }
.figures figure { margin: 0; flex: 1; }
.figures img { width: 100%; }
figcaption { font-size: 8pt; color: #444; }
.note { font-size: 8pt; color: #555; }
"""


class BriefError(RuntimeError):
    """The brief cannot be written (the run recorded no summary)."""


def read_numbers(glued_dir: Path) -> dict[str, Any]:
    """The summary's numbers from the chapters' glued values in ``glued_dir``."""
    chapters = {
        name: _load(glued_dir / glued_name(name))
        for name in summary.SUMMARY_CHAPTERS
        if (glued_dir / glued_name(name)).exists()
    }
    if "06_models" not in chapters:
        raise BriefError(
            f"no model results in {glued_dir} (the models chapter did not run or did not "
            "apply to this log), so there is no summary to brief; run the book first"
        )
    return summary.summary_numbers(chapters)


def _load(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text())


def _svg(fig: Any) -> str:
    """A matplotlib figure as an ``<img>`` of its SVG, with stable ids and no date."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img src="data:image/svg+xml;base64,{data}" alt="">'


def risk_figure(n: dict[str, Any]) -> str | None:
    """Users per band of P(dormant), highest band on top, with the expected churners."""
    bands = n.get("risk_bands")
    if not bands:
        return None
    import matplotlib.pyplot as plt

    names = [b["band"] for b in bands]
    users = [b["users"] for b in bands]
    fig, ax = plt.subplots(figsize=(3.6, 2.4))
    ax.barh(names, users, color=COLORS.highlight)
    for y, (count, band) in enumerate(zip(users, bands, strict=True)):
        ax.text(count, y, f" {count:,} ({band['expected_churners']:,.0f} exp.)",
                va="center", fontsize=7)  # fmt: skip
    ax.set_xlabel("Users", fontsize=8)
    ax.set_title("Users by P(dormant)", fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    ax.set_xlim(0, max(users) * 1.55 or 1)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _svg(fig)


def sensitivity_figure(n: dict[str, Any]) -> str | None:
    """The campaign's profit when one assumption moves down and up (a tornado)."""
    rows = n.get("sensitivity")
    if not rows or not n.get("recommended_k"):
        return None
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: abs(r["profit_high"] - r["profit_low"]))
    base = n["expected_profit"]
    fig, ax = plt.subplots(figsize=(3.6, 2.4))
    for y, r in enumerate(rows):
        low, high = sorted((r["profit_low"], r["profit_high"]))
        ax.barh(y, high - low, left=low, color=COLORS.series)
    ax.axvline(base, color=COLORS.ink, linewidth=0.8, linestyle="--")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([ASSUMPTION_SHORT.get(r["assumption"], r["assumption"]) for r in rows])
    ax.set_xlabel(f"Expected profit ({n['currency']})", fontsize=8)
    ax.set_title("Profit when one assumption moves", fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _svg(fig)


def brief_html(n: dict[str, Any]) -> str:
    """The brief as one HTML page: headline table, recommendation, two figures."""
    import matplotlib
    from markdown_it import MarkdownIt

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "shoplog-brief"
    md = MarkdownIt("commonmark", {"html": True})
    figures = [
        (risk_figure(n), "Scored users by their calibrated probability of going dormant."),
        (
            sensitivity_figure(n),
            "Expected profit with one assumption moved down and up; dashed: as assumed.",
        ),
    ]
    shown = "".join(
        f"<figure>{img}<figcaption>{html.escape(caption)}</figcaption></figure>"
        for img, caption in figures
        if img
    )
    parts = [
        "<h1>Executive brief: churn and whom to contact</h1>",
        md.render(summary.headline(n)),
        "<h2>Recommendation</h2>",
        md.render(summary.recommendation(n)),
    ]
    if shown:
        parts.append(f'<div class="figures">{shown}</div>')
    table = summary.sensitivity_table(n)
    if table:
        parts += ["<h2>How sure is the profit?</h2>", md.render(table)]
    parts.append(
        '<p class="note">Every number is read from what the book\'s chapters recorded for '
        "this log; the book's Executive summary links to the evidence behind each.</p>"
    )
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Executive brief</title><style>{CSS}</style></head><body>{body}</body></html>"
    )


def write_brief(glued_dir: Path, out: Path) -> Path:
    """Write the brief PDF of the run whose glued values are in ``glued_dir`` to ``out``."""
    from weasyprint import HTML

    page = brief_html(read_numbers(glued_dir))
    out.parent.mkdir(parents=True, exist_ok=True)
    document = HTML(string=page, base_url=str(glued_dir)).render()
    pdf = document.write_pdf(
        pdf_identifier=b"shoplog-brief", custom_metadata=False, uncompressed_pdf=False
    )
    out.write_bytes(pdf)
    return out
