"""A Sphinx extension for the book's pages: each script written once, plotly.js loaded only
where a page has a figure, and every figure numbered, with its caption as alt text.

- Sphinx 7.4 writes an inline script that an extension adds after the builder started
  twice (sphinx-doc/sphinx#13402, fixed in Sphinx 8.2, which Jupyter Book 1 cannot use):
  sphinx-thebe's ``const THEBE_JS_URL`` then throws a SyntaxError on every page.
- Jupyter Book loads every ``_static/*.js`` on every page; plotly.js (4.6 MB) is only
  needed where a figure is drawn.
- Chapters caption a figure with a paragraph that starts "*Figure:*" under it. The
  caption becomes "Figure N." (numbered per page, with an anchor ``figure-N`` to link
  to), and an image output above it without alt text takes the caption as its alt text,
  so a screen reader says what the figure shows instead of the file's name.
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes

PLOTLY_JS = "plotly.min.js"
CAPTION = re.compile(r"^(Figures?):\s*")


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any):
    scripts = context.get("script_files")
    if not scripts:
        return
    body = context.get("body", "")
    seen, keep = set(), []
    for js in scripts:
        name = str(js.filename or "")
        if name.endswith(PLOTLY_JS) and "plotly-graph-div" not in body:
            continue
        key = (name, js.priority, tuple(sorted(js.attributes.items())))
        if key not in seen:
            seen.add(key)
            keep.append(js)
    scripts[:] = keep


def _caption_text(paragraph: nodes.paragraph) -> str | None:
    """The caption's words if ``paragraph`` is a figure caption ("*Figure: ...*")."""
    if not paragraph.children or not isinstance(paragraph.children[0], nodes.emphasis):
        return None
    text = paragraph.astext()
    return text if CAPTION.match(text) else None


def _previous_images(paragraph: nodes.paragraph) -> list[nodes.image]:
    """The image outputs just above a caption paragraph: in the block before it, or, for a
    caption a cell printed, in that cell's outputs before it, or the previous cell's when
    it is the cell's only output (none if prose or a heading comes between)."""
    node: nodes.Node = paragraph
    outputs_before = False  # the caption's cell drew something else before it
    while node.parent is not None and not isinstance(node.parent, nodes.section):
        parent = node.parent
        for sibling in reversed(parent.children[: parent.index(node)]):
            images = list(sibling.findall(nodes.image))
            if images:
                return images
            if not isinstance(sibling, nodes.container | nodes.target | nodes.comment):
                return []
            outputs_before = outputs_before or "cell_input" not in sibling.get("classes", [])
        if "cell" in parent.get("classes", []) and outputs_before:
            return []  # it captions its own cell's figure (an interactive one)
        node = parent
    parent = node.parent
    if parent is None:
        return []
    for sibling in reversed(parent.children[: parent.index(node)]):
        if isinstance(sibling, nodes.container):
            return list(sibling.findall(nodes.image))
        if not isinstance(sibling, nodes.target | nodes.comment):
            return []
    return []


def number_figures(app: Any, doctree: nodes.document, docname: str) -> None:
    """Number the page's figure captions and give their images alt text."""
    number = 0
    for paragraph in list(doctree.findall(nodes.paragraph)):
        text = _caption_text(paragraph)
        if text is None:
            continue
        number += 1
        label = "Figures" if text.startswith("Figures") else "Figure"
        emphasis = paragraph.children[0]
        lead = next(emphasis.findall(nodes.Text))  # "Figure: the ..." loses its "Figure: "
        words = CAPTION.sub("", str(lead), count=1)
        lead.parent.replace(lead, nodes.Text(words[:1].upper() + words[1:]))
        paragraph.insert(0, nodes.strong(text=f"{label} {number}. "))
        paragraph["ids"].append(f"figure-{number}")
        paragraph["classes"].append("figure-caption")
        alt = CAPTION.sub("", text, count=1)
        for image in _previous_images(paragraph):
            if not image.get("alt") or image["alt"] == image.get("uri"):
                image["alt"] = alt


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("doctree-resolved", number_figures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
